"""`sluice run` and `sluice stages`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import (JsonOption, RootOption, already_said, console, emit_json, escape, handle_errors, rate_column,
                     run_log, store)


class _RichProgress:
    """Runner progress → one rich bar per stage with rows/s and ETA."""

    def __init__(self, bar):
        self.bar = bar
        self.tasks: dict[int, int] = {}

    def stage_started(self, index: int, name: str, total: int) -> None:
        self.tasks[index] = self.bar.add_task(f"{index + 1}. {name}", total=total or 1)

    def advanced(self, index: int, rows: int) -> None:
        self.bar.update(self.tasks[index], completed=rows)

    def stage_finished(self, index: int, stats) -> None:
        note = " (checkpoint)" if stats.cached else ""
        self.bar.update(self.tasks[index], completed=stats.rows_in or 1,
                        description=f"{index + 1}. {stats.name}{note}")


@handle_errors
def run(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML")],
    input_ref: Annotated[str | None, typer.Option("--input", help="dataset to read [default: the recipe's input]")] = None,
    output: Annotated[str | None, typer.Option("--output", help="dataset to publish [default: the recipe's output]")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="processes for batch stages")] = None,
    executor: Annotated[str | None, typer.Option("--executor", help="local | ray [default: the recipe's executor]")] = None,
    keep_raw_checkpoints: Annotated[bool, typer.Option(
        "--keep-raw-checkpoints", help="keep the checkpoints of stages before PII redaction (they hold raw "
                                       "values; `sluice gc` removes them later)")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="write the HTML/PNG run report")] = True,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a recipe's stages over a dataset version and publish the result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from sluice.outcomes import heavy_stages
    from sluice.recipe import load_recipe
    from sluice.runner import run as run_recipe

    spec, stages = load_recipe(recipe)
    if workers:
        spec.workers = workers
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), rate_column(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=as_json) as bar:
        result = run_recipe(spec, stages, store=store(root), input_ref=input_ref, output=output,
                            progress=_RichProgress(bar), executor=executor,
                            keep_raw_checkpoints=keep_raw_checkpoints)
    page = None
    if report:
        from sluice.report import write_report

        page = write_report(result.version)
    if as_json:
        emit_json({"version": result.version.ref, "input": result.input.ref, "reused": result.reused,
                   "seconds": round(result.seconds, 2), "stages": [s.as_dict() for s in result.stages],
                   "warnings": heavy_stages([s.as_dict() for s in result.stages]),
                   "report": str(page) if page else None, "datacard": str(result.version.path / "DATACARD.md")})
        return
    _funnel(result)
    if page:
        console.print(f"report:    {escape(str(page))}", highlight=False)
    console.print(f"data card: {escape(str(result.version.path / 'DATACARD.md'))}", highlight=False)
    if run_log() is not None:
        console.print(f"log:       {escape(str(run_log()))}  (third-party warnings and details)", highlight=False)


def _stage_lines(s) -> list[tuple[str, str]]:
    """A stage's fallback (a weaker engine than asked for: loud) and notes, each said once, without
    repeating the stage's name when the text already starts with it."""
    info = s.info if isinstance(s.info, dict) else {}
    lines, seen = [], set()
    items = ([("warning", str(info["fallback"]))] if info.get("fallback") else []) + \
        [("note", str(n)) for n in info.get("notes") or ()]
    for kind, text in items:
        text = text.removeprefix(f"{s.name}: ")
        if text not in seen and not already_said(f"{s.name}: {text}"):  # printed as it happened
            seen.add(text)
            lines.append((kind, f"{s.name}: {text}"))
    return lines


@handle_errors
def report(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@vN")],
    out: Annotated[Path | None, typer.Option("--out", help="folder [default: <root>/<name>/reports/v<N>/]")] = None,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """(Re)generate the HTML/PNG report of any version."""
    from sluice.report import write_report

    version = store(root).resolve(ref)
    page = write_report(version, out)
    if as_json:
        emit_json({"ref": version.ref, "report": str(page)})
    else:
        console.print(f"report of {escape(version.ref)}: {escape(str(page))}", highlight=False)


def _funnel(result) -> None:
    from rich.table import Table

    table = Table(title=f"{result.input.ref} → {result.version.ref}", title_justify="left")
    for col in ("stage", "rows in", "kept", "dropped (reason)", "quarantined", "rows/s"):
        table.add_column(col, justify="left" if col in ("stage", "dropped (reason)") else "right")
    for s in result.stages:
        reasons = ", ".join(f"{r} {n:,}" for r, n in s.rejected.most_common()) or "—"
        rate = "checkpoint" if s.cached else (f"{s.rows_in / s.seconds:,.0f}" if s.seconds else "—")
        table.add_row(escape(s.name), f"{s.rows_in:,}", f"{s.kept:,}", escape(reasons), f"{sum(s.quarantined.values()):,}", rate)
    console.print(table)
    for s in result.stages:  # what a stage wants said about its outcome (e.g. select's order and lift)
        for kind, line in _stage_lines(s):
            style = "bold yellow" if kind == "warning" else "yellow"
            console.print(f"[{style}]{kind}:[/] {escape(line)}", highlight=False, soft_wrap=True)
    from sluice.outcomes import heavy_stages

    for line in heavy_stages([s.as_dict() for s in result.stages]):
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)
    for s in result.stages:
        ref = (s.info or {}).get("reference") or {}
        if ref.get("too_short_items"):
            console.print(f"[yellow]note:[/] {escape(s.name)}: {ref['too_short_items']:,} of {ref['items']:,} "
                          f"reference items are shorter than {ref['min_words']} words and cannot be detected",
                          highlight=False)
    if result.reused:
        console.print(f"nothing to do: {result.version.ref} already holds this result", highlight=False)
    else:
        console.print(f"[green]published[/] {result.version.ref} → {escape(str(result.version.path))}", highlight=False)


@handle_errors
def stages(as_json: JsonOption = False) -> None:
    """List the stages recipes can use, with what they read, add and drop."""
    from rich.table import Table

    from sluice.stage import STAGES, Filter, Scorer, stage_class

    info = []
    for name in sorted(STAGES):
        cls = stage_class(name)
        role = "score" if issubclass(cls, Scorer) else "decide" if issubclass(cls, Filter) else "transform"
        fields = {k: (f.description or "") for k, f in cls.Config.model_fields.items()}
        info.append({"name": name, "role": role, "reads": list(cls.reads), "adds": list(cls.adds),
                     "reasons": getattr(cls, "reasons", {}), "config": fields,
                     "requires": [r.module for r in cls.requires], "doc": (cls.__module__)})
    if as_json:
        emit_json(info)
        return
    table = Table()
    for col in ("stage", "role", "reads", "adds / reasons", "config"):
        table.add_column(col)
    for s in info:
        out = ", ".join(s["adds"]) or ", ".join(s["reasons"])
        table.add_row(*(escape(x) for x in (s["name"], s["role"], ", ".join(s["reads"]), out, ", ".join(s["config"]))))
    console.print(table)


@handle_errors
def doctor(as_json: JsonOption = False) -> None:
    """Which optional parts and models are available, and which fallbacks will run, and why."""
    from rich.table import Table

    from sluice.doctor import as_dicts, run_checks

    checks = run_checks()
    if as_json:
        emit_json(as_dicts(checks))
        return
    style = {"ok": "green", "fallback": "yellow", "warning": "yellow", "missing": "red"}
    table = Table()
    for col in ("part", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(escape(c.part), f"[{style[c.status]}]{c.status}[/]", escape(c.detail), escape(c.fix))
    console.print(table)
