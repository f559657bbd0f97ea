"""`sluice synth RECIPE --from REF --to NAME --llm LLM.yaml` — synthetic data and preference pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

# One command, no subcommands: options may follow the RECIPE argument.
app = typer.Typer(context_settings={"allow_interspersed_args": True}, help="Synthetic SFT data and preference pairs with distilabel "
                       "(responses, evol_instruct, self_instruct, ultrafeedback, critique_revise).")


def _settings(values: list[str]) -> dict:
    import yaml

    from sluice.errors import RecipeError

    out = {}
    for v in values:
        key, sep, raw = v.partition("=")
        if not sep or not key:
            raise RecipeError(f"--set {v!r}: expected KEY=VALUE", hint="e.g. --set n=4 --set min_margin=1.5")
        out[key.strip()] = yaml.safe_load(raw)
    return out


@app.callback(invoke_without_command=True)
@handle_errors
def synth(
    recipe: Annotated[str, typer.Argument(help="responses | evol_instruct | self_instruct | ultrafeedback | "
                                               "critique_revise")],
    source: Annotated[str, typer.Option("--from", help="dataset to read prompts from (NAME@vN), or a seed file")],
    to: Annotated[str, typer.Option("--to", help="dataset to publish (critique_revise also publishes NAME-sft)")],
    llm: Annotated[Path, typer.Option("--llm", help="LLM YAML: llm, judge, generators, recipes")],
    settings: Annotated[list[str] | None, typer.Option("--set", help="recipe setting KEY=VALUE (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="use only the first N source rows")] = None,
    allow_unredacted: Annotated[bool, typer.Option(
        "--allow-unredacted", help="send data with no PII redaction in its lineage to a remote endpoint "
                                   "(recorded loudly in the output manifest)")] = False,
    allow_empty: Annotated[bool, typer.Option(
        "--allow-empty", help="publish even when no row is kept (otherwise the run fails, naming why)")] = False,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate with a distilabel recipe over a dataset and publish versioned outputs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sluice.synth.runner import load_llm_file, synthesize

    spec = load_llm_file(llm)
    with Progress(TextColumn(f"synth {escape(recipe)}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=as_json) as bar:
        task = bar.add_task("items", total=None)
        result = synthesize(recipe, source=source, to=to, llm=spec, store=store(root),
                            allow_unredacted=allow_unredacted, settings=_settings(settings or []), limit=limit,
                            allow_empty=allow_empty,
                            on_item=lambda done, total: bar.update(task, completed=done, total=total))
    privacy = result.versions[0].manifest.get("synth", {}).get("privacy", {})
    if as_json:
        emit_json({"versions": [v.ref for v in result.versions], "reused": result.reused, "calls": result.calls,
                   "resumed_items": result.resumed, "failed": dict(result.failures),
                   "accounting": {v.ref: v.manifest["accounting"] for v in result.versions}, "privacy": privacy})
        return
    if privacy.get("override"):
        console.print("[bold red]WARNING:[/] data with no PII redaction in its lineage was sent to "
                      f"{escape(', '.join(privacy.get('remote_endpoints', [])))} (--allow-unredacted); "
                      "this is recorded in the manifest", highlight=False)
    if result.reused:
        console.print(f"nothing to do: {result.versions[0].ref} already holds this result", highlight=False)
        return
    for v in result.versions:
        acc = v.manifest["accounting"]
        reasons = ", ".join(f"{r} {n}" for per in acc["rejected"].values() for r, n in per.items()) or "none"
        console.print(f"[green]published[/] {v.ref}: {acc['kept']:,} kept of {acc['rows_in']:,} "
                      f"(dropped: {escape(reasons)})", highlight=False)
    note = f", {result.resumed} item(s) resumed from an interrupted run" if result.resumed else ""
    console.print(f"{result.calls:,} model calls in {result.seconds:.1f}s{note}", highlight=False)
