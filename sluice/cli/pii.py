"""`sluice pii …`: leak scan, counts of findings, and what the engine detects."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="PII: leak scan of any dataset and the detection engine in use.", no_args_is_help=True)

PERSON_WARNING = ("[bold yellow]warning:[/] pattern-only detection (no NER model): PERSON from name lists only; "
                  "names outside them, places and organisations are missed. Use --nlp auto with the embedded model "
                  "(bash scripts/setup.sh pii) or --nlp spacy:<model>.")
NLP_HELP = "auto (strongest installed) | blank | spacy:<model or path> | transformers:<id or path>"


def _config(nlp: str, entities: list[str] | None):
    from sluice.curate.pii.engine import EngineConfig

    return EngineConfig(nlp=nlp, **({"entities": tuple(entities)} if entities else {}))


@app.command()
@handle_errors
def scan(
    ref: Annotated[str, typer.Argument(help="dataset version to scan, e.g. curated@latest")],
    max_findings: Annotated[int, typer.Option("--max-findings", help="exit 1 when more findings than this")] = 0,
    min_score: Annotated[float, typer.Option("--min-score", help="count findings scored at least this")] = 0.5,
    nlp: Annotated[str, typer.Option("--nlp", help=NLP_HELP)] = "auto",
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
    nlp: Annotated[str, typer.Option("--nlp", help=NLP_HELP)] = "auto",
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


@app.command("eval")
@handle_errors
def eval_(
    labels: Annotated[str, typer.Argument(help="JSONL: {text, spans: [{entity_type|label, start, end}], lang?, id?} "
                                               "per line (the pii_dev format)")],
    recipe: Annotated[str | None, typer.Option("--recipe", help="take pii_detect/redact_pii settings from this "
                                                                "recipe [default: the stages' defaults]")] = None,
    split: Annotated[str | None, typer.Option("--split", help="tune | holdout: half of the rows by a hash of their "
                                                              "id (tune on one, report the other)")] = None,
    misses: Annotated[int, typer.Option("--misses", help="show this many of the most frequent misses, masked")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Measure redaction on your own labelled text: per language and type, span recall, precision,
    the share of gold values that survive redaction verbatim, and the worst misses (masked)."""
    from sluice.curate.pii.evaluate import evaluate

    stages = None
    if recipe:
        from sluice.recipe import load_recipe

        stages = load_recipe(recipe)[1]
    report = evaluate(labels, stages, split=split, n_misses=misses)
    if as_json:
        emit_json(report)
        return
    from rich.table import Table

    fmt = lambda v: "—" if v is None else f"{v:.1%}"  # noqa: E731
    if report["engine"].get("engine") != "ner":
        console.print(PERSON_WARNING)
    table = Table(title=f"{report['examples']:,} labelled examples ({escape(report['split'])}), engine "
                        f"{escape(report['engine']['nlp'])}", title_justify="left")
    for col in ("language", "gold type", "spans", "recall", "redacted", "surviving", "precision"):
        table.add_column(col, justify="left" if col in ("language", "gold type") else "right")
    groups = report.get("by_language") or {"all": report}
    for lang, r in groups.items():
        model = (report["engine"].get("models") or {}).get(lang) or (
            "no NER" if lang in (report["engine"].get("languages") or {}) else "")
        found = r["by_finding_type"]
        for name, d in r["by_gold_type"].items():
            table.add_row(escape(f"{lang} ({model})" if model else lang), escape(name), f"{d['gold']:,}",
                          fmt(d["recall"]), fmt(d["redacted"]), fmt(d["surviving"]),
                          fmt(found.get(name, {}).get("precision")))
        table.add_row(escape(lang), "[bold]all[/]", f"{r['overall']['gold']:,}", "", "", fmt(r["overall"]["surviving"]),
                      fmt(r["precision"]))
    console.print(table)
    console.print(f"surviving verbatim: pattern types {fmt(report['pattern_types']['surviving'])}, "
                  f"names/addresses/places/organisations/patterns {fmt(report['overall']['surviving'])}; "
                  f"precision {fmt(report['precision'])} ({report['findings_outside_gold']:,} of "
                  f"{report['findings']:,} findings outside any gold span)", highlight=False)
    if report["misses"]:
        console.print("worst misses (masked): " + "; ".join(
            f"{escape(m['entity'])} {escape(m['masked'])} ×{m['times']} (row {escape(m['row'])})"
            for m in report["misses"]), highlight=False)
