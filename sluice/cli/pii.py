"""`sluice pii …`: leak scan, counts of findings, and what the engine detects."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="PII: leak scan of any dataset and the detection engine in use.", no_args_is_help=True)

PERSON_WARNING = ("[bold yellow]warning:[/] PERSON detection is list-based only (no NER model): names outside "
                  "Faker's name lists, unusual spellings and names that are common words are missed. "
                  "Use --nlp spacy:en_core_web_lg (python -m spacy download en_core_web_lg) for better recall.")


def _config(nlp: str, entities: list[str] | None):
    from sluice.curate.pii.engine import EngineConfig

    return EngineConfig(nlp=nlp, **({"entities": tuple(entities)} if entities else {}))


@app.command()
@handle_errors
def scan(
    ref: Annotated[str, typer.Argument(help="dataset version to scan, e.g. curated@latest")],
    max_findings: Annotated[int, typer.Option("--max-findings", help="exit 1 when more findings than this")] = 0,
    min_score: Annotated[float, typer.Option("--min-score", help="count findings scored at least this")] = 0.5,
    nlp: Annotated[str, typer.Option("--nlp", help="blank | spacy:<model> | transformers:<id or path>")] = "blank",
    entity: Annotated[list[str] | None, typer.Option("--entity", help="entity types to look for (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="scan at most this many rows")] = None,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-analyze REF and report residual findings per type: a leak check for any output."""
    from sluice.curate.pii.scan import scan as run_scan

    report = run_scan(store(root), ref, _config(nlp, entity), min_score=min_score, limit=limit)
    report["threshold"] = max_findings
    report["passed"] = report["findings"] <= max_findings
    if as_json:
        emit_json(report)
    else:
        if report["engine"]["person_detection"] != "ner":
            console.print(PERSON_WARNING)
        from rich.table import Table

        table = Table(title=f"residual PII in {escape(report['ref'])}: {report['rows']:,} rows, "
                            f"{report['texts']:,} texts", title_justify="left")
        table.add_column("entity")
        table.add_column("findings", justify="right")
        for name, n in report["by_entity"].items():
            table.add_row(escape(name), f"{n:,}")
        console.print(table)
        verdict = "[green]pass[/]" if report["passed"] else "[bold red]FAIL[/]"
        console.print(f"{verdict}: {report['findings']:,} findings (threshold {max_findings:,})", highlight=False)
    if not report["passed"]:
        raise typer.Exit(1)


@app.command()
@handle_errors
def entities(
    nlp: Annotated[str, typer.Option("--nlp", help="blank | spacy:<model> | transformers:<id or path>")] = "blank",
    as_json: JsonOption = False,
) -> None:
    """Show the engine, recognizers and entity types detection uses."""
    from sluice.curate.pii.engine import build_analyzer

    _, info = build_analyzer(_config(nlp, None))
    if as_json:
        emit_json(info.as_dict())
        return
    if info.person_list_only:
        console.print(PERSON_WARNING)
    console.print(f"engine: {escape(info.nlp)} (NER: {'yes' if info.ner else 'no'})", highlight=False)
    console.print("entities: " + escape(", ".join(info.entities)), highlight=False)
    console.print("recognizers: " + escape(", ".join(info.recognizers)), highlight=False)
