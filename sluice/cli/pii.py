"""`sluice pii …`: leak scan (a second opinion), the engine in use, evaluation, the review loop."""

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
    detector: Annotated[str, typer.Option(
        "--detector", help="second (a detector that shares no model with the redactor) | redactor (the "
                           "redaction engine again) | both")] = "second",
    min_score: Annotated[float, typer.Option("--min-score", help="redactor: count findings scored at least this")] = 0.5,
    nlp: Annotated[str, typer.Option("--nlp", help=f"redactor: {NLP_HELP}")] = "auto",
    entity: Annotated[list[str] | None, typer.Option("--entity", help="redactor: entity types (repeatable)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="scan at most this many rows")] = None,
    show: Annotated[int, typer.Option("--show", help="findings listed (row id, field, offsets, masked shape)")] = 20,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Look for PII left in REF with a second opinion: every field redaction covers (keys and source
    too); each finding with its row id, field and offsets, the value masked. A leak check for any output."""
    from sluice.curate.pii.scan import DETECTORS
    from sluice.curate.pii.scan import scan as run_scan
    from sluice.errors import InputError

    if detector not in DETECTORS:
        raise InputError(f"--detector {detector!r} is not one of {', '.join(DETECTORS)}")
    report = run_scan(store(root), ref, _config(nlp, entity), min_score=min_score, limit=limit, detector=detector)
    report["threshold"] = max_findings
    report["passed"] = report["findings"] <= max_findings
    if as_json:
        emit_json(report)
    else:
        red = report["engines"].get("redactor")
        if red and red["person_detection"] != "ner":
            console.print(PERSON_WARNING)
        from rich.table import Table

        table = Table(title=f"residual PII in {escape(report['ref'])} ({escape(detector)} opinion): "
                            f"{report['rows']:,} rows, {report['texts']:,} texts", title_justify="left")
        for col in ("entity", "findings", "rule", "findings ", "field group", "findings  "):
            table.add_column(col, justify="right" if col.startswith("findings") else "left")
        cols = [list(report[k].items()) for k in ("by_entity", "by_rule", "by_field")]
        for i in range(max(map(len, cols), default=0)):
            cells = []
            for c in cols:
                cells += [escape(str(c[i][0])), f"{c[i][1]:,}"] if i < len(c) else ["", ""]
            table.add_row(*cells)
        console.print(table)
        for f in report["listed"][:show]:
            console.print(f"  row {escape(str(f['row']))}  field {escape(f['field'])}  [{f['start']}:{f['end']}]  "
                          f"{f['entity']} ({f['rule']})  {escape(f['shape'])}", highlight=False)
        if report["findings"] > min(show, len(report["listed"])):
            console.print(f"  … {report['findings'] - min(show, len(report['listed'])):,} more (--show N, --json)",
                          highlight=False)
        verdict = "[green]pass[/]" if report["passed"] else "[bold red]FAIL[/]"
        console.print(f"{verdict}: {report['findings']:,} findings in {report['rows_with_findings']:,} rows "
                      f"(threshold {max_findings:,})", highlight=False)
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


review = typer.Typer(help="A human loop for missed PII: an Argilla 'PII review' dataset and the labelled set "
                          "it gives back.", no_args_is_help=True)
app.add_typer(review, name="review")


@review.command("push")
@handle_errors
def review_push(
    ref: Annotated[str, typer.Argument(help="redacted dataset version, e.g. curated@latest")],
    dataset: Annotated[str, typer.Option("--dataset", help="Argilla dataset name")],
    n: Annotated[int | None, typer.Option("--n", help="rows to sample (all their texts are sent)")] = 50,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    strategy: Annotated[str, typer.Option("--strategy", help="scan (rows the second opinion flags first) | "
                                                             "random")] = "scan",
    workspace: Annotated[str | None, typer.Option("--workspace")] = None,
    allow_unredacted: Annotated[bool, typer.Option(
        "--allow-unredacted", help="push data whose privacy certificate is not strong (recorded)")] = False,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send redacted texts to Argilla for annotators to mark what redaction missed."""
    from dataclasses import asdict

    from sluice.labeling.pii_review import push_review

    res = push_review(ref, dataset, store=store(root), n=n, seed=seed, strategy=strategy, workspace=workspace,
                      allow_unredacted=allow_unredacted)
    if as_json:
        emit_json(asdict(res))
        return
    if res.privacy.get("warning"):
        console.print(f"[bold yellow]warning:[/] {escape(res.privacy['warning'])}", highlight=False)
    console.print(escape(f"pushed {res.records:,} texts of {res.rows:,} rows of {res.ref} to {res.dataset!r} "
                         f"({res.suggested:,} with pre-filled spans from the second opinion)"), highlight=False)


@review.command("pull")
@handle_errors
def review_pull(
    dataset: Annotated[str, typer.Argument(help="the Argilla PII review dataset")],
    out: Annotated[str, typer.Option("--out", help="labelled JSONL for `sluice pii eval` (pii_dev format)")],
    recipe: Annotated[str | None, typer.Option("--recipe", help="add the missed values to this recipe's "
                                                                "pii_detect deny-lists …")] = None,
    recipe_out: Annotated[str | None, typer.Option("--recipe-out", help="… written here (the original is kept)")] = None,
    workspace: Annotated[str | None, typer.Option("--workspace")] = None,
    as_json: JsonOption = False,
) -> None:
    """Read the annotators' spans into a labelled set (and, optionally, recipe deny-lists)."""
    from dataclasses import asdict

    from sluice.errors import InputError
    from sluice.labeling.pii_review import deny_list_recipe, pull_review

    if (recipe is None) != (recipe_out is None):
        raise InputError("--recipe and --recipe-out go together", hint="--recipe pii.yaml --recipe-out pii-reviewed.yaml")
    res = pull_review(dataset, out, workspace=workspace)
    report = asdict(res)
    if recipe:
        report["deny_list"] = deny_list_recipe(out, recipe, recipe_out)
    if as_json:
        emit_json(report)
        return
    console.print(escape(f"{res.written:,} labelled texts of {res.records:,} records → {res.out}; spans "
                         f"{res.spans or 'none'}; {res.counts}"), highlight=False)
    console.print("[yellow]the labelled file holds the missed values themselves: keep it on this machine[/]")
    if recipe:
        console.print(escape(f"deny-lists added to {recipe_out}: {report['deny_list']['added']}"), highlight=False)
