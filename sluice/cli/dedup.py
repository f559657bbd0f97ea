"""`sluice dedup report | semantic-curve`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="Duplicate reports and SemDedup threshold curves.", no_args_is_help=True)


@app.command()
@handle_errors
def report(ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@vN (a deduplicated version)")],
           top: Annotated[int, typer.Option(help="largest clusters to show per stage")] = 5,
           root: RootOption = None, as_json: JsonOption = False) -> None:
    """Cluster-size histogram, largest clusters (with redacted example text) and counts per stage."""
    from rich.table import Table

    from sluice.curate.dedup.report import duplicate_report

    s = store(root)
    r = duplicate_report(s.resolve(ref), s, top=top)
    if as_json:
        emit_json(r)
        return
    console.print(f"[bold]{escape(r['ref'])}[/]: {r['rows_in']:,} in, {r['kept']:,} kept", highlight=False)
    for stage, reasons in r["rejected"].items():
        console.print(escape(f"  {stage}: " + ", ".join(f"{k} {v:,}" for k, v in reasons.items())), highlight=False)
    if not r["redacted"]:
        console.print("[dim]example text withheld: no PII redaction in this version's lineage[/]")
    for stage, st in r["stages"].items():
        hist = "  ".join(f"{h['size']}: {h['clusters']:,}" for h in st["histogram"])
        console.print(f"\n[bold]{escape(stage)}[/] ({st['reason']}): {st['clusters']:,} clusters, "
                      f"{st['removed']:,} removed   sizes → {hist}", highlight=False)
        table = Table(title_justify="left")
        for col in ("size", "kept id", "example"):
            table.add_column(col, justify="right" if col == "size" else "left")
        for c in st["largest"]:
            table.add_row(str(c["size"]), escape(c["duplicate_of"]), escape((c.get("example") or "—").replace("\n", " ")))
        console.print(table)


@app.command("semantic-curve")
@handle_errors
def semantic_curve(
    ref: Annotated[str, typer.Argument(help="NAME@vN; uses its dup_sem_sim column, else runs SemDedup scoring")],
    eps: Annotated[str, typer.Option(help="comma-separated eps values")] = "0.01,0.02,0.03,0.05,0.075,0.1,0.15,0.2",
    key: Annotated[str, typer.Option(help="text embedded when scoring is needed")] = "conversation",
    cluster_size: Annotated[int, typer.Option(help="target rows per k-means cluster when scoring")] = 1000,
    root: RootOption = None, as_json: JsonOption = False,
) -> None:
    """Removed fraction for several eps (rows with cosine ≥ 1 − eps to an earlier-ranked row), as in the
    paper, over the semantic_dedup stage's input (kept rows and the rows it and later stages rejected)."""
    import polars as pl
    from rich.table import Table

    from sluice.curate.dedup.semdedup import DEFAULT_EPS, SemDedupScorer, semantic_curve as curve, stage_input_sims
    from sluice.errors import InputError

    try:
        values = [float(e) for e in eps.split(",") if e.strip()]
    except ValueError:
        raise InputError(f"--eps {eps!r} is not a comma-separated list of numbers", hint="e.g. --eps 0.01,0.05,0.1") from None
    v = store(root).resolve(ref)
    found = stage_input_sims(v)
    if found is not None:
        sims, rows_in = found
        source = f"semantic_dedup's input: {rows_in:,} rows"
    else:
        scorer = SemDedupScorer(key=key, cluster_size=cluster_size)
        console.print(escape(f"{v.ref} has no dup_sem_sim column: embedding and clustering {v.num_rows():,} rows…"))
        sims = scorer.score(pl.from_arrow(v.read()))
        source = "computed"
    blocked = sims["dup_sem_blocked"] if "dup_sem_blocked" in sims.columns else None
    rows = curve(sims["dup_sem_sim"], values, blocked)
    if as_json:
        emit_json({"ref": v.ref, "source": source, "default_eps": DEFAULT_EPS, "curve": rows})
        return
    table = Table(title=f"{v.ref}: SemDedup removed fraction by eps ({source})", title_justify="left")
    cols = ("eps", "cosine ≥", "removed", "fraction") + (("kept by facts guard",) if blocked is not None else ())
    for col in cols:
        table.add_column(col, justify="right")
    for r in rows:
        mark = " (default)" if abs(r["eps"] - DEFAULT_EPS) < 1e-9 else ""
        table.add_row(f"{r['eps']:g}{mark}", f"{1 - r['eps']:.3f}", f"{r['removed']:,}", f"{r['fraction']:.1%}",
                      *([f"{r['guard_kept']:,}"] if blocked is not None else []))
    console.print(table)
