"""`sluice datasets list | show | export`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="List, inspect and export dataset versions.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Every dataset with its versions."""
    from rich.table import Table

    s = store(root)
    rows = []
    for name in s.names():
        for v in s.versions(name):
            m = v.manifest
            rows.append({"ref": v.ref, "kind": m["kind"], "rows": m["rows"], "created_at": m["created_at"],
                         "parents": m.get("parents", []), "path": str(v.path)})
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print(f"no datasets under {escape(str(s.root))} yet — start with `sluice ingest FILES --to raw`",
                      highlight=False)
        return
    table = Table(title=escape(str(s.root)), title_justify="left")
    for col in ("version", "kind", "rows", "created", "parents"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for r in rows:
        table.add_row(r["ref"], r["kind"], f"{r['rows']:,}", r["created_at"], escape(", ".join(r["parents"])))
    console.print(table)


@app.command()
@handle_errors
def show(ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@vN")], root: RootOption = None,
         as_json: JsonOption = False) -> None:
    """Schema, counts, accounting and lineage of one version."""
    from sluice.fs import read_schema
    from rich.table import Table

    s = store(root)
    v = s.resolve(ref)
    m = v.manifest
    files = v.files()
    schema = read_schema(files[0]) if files else None
    columns = [{"name": f.name, "type": str(f.type)} for f in schema] if schema is not None else []
    lineage = _lineage(s, v)
    if as_json:
        emit_json({**m, "ref": v.ref, "path": str(v.path), "columns": columns, "lineage": lineage})
        return
    acc = m["accounting"]
    console.print(f"[bold]{v.ref}[/]  {m['kind']} v{m['schema_version']}  {m['rows']:,} rows  "
                  f"created {m['created_at']}  sluice {m['tool']['version']}", highlight=False)
    console.print(f"path: {escape(str(v.path))}", highlight=False)
    console.print(escape(f"lineage: {' ← '.join(lineage)}" + (f"  (recipe {m['recipe']['name']})" if m.get("recipe") else "")),
                  highlight=False)
    console.print(f"accounting: rows in {acc['rows_in']:,} = kept {acc['kept']:,} + rejected "
                  f"{acc['rejected_total']:,} + quarantined {acc['quarantined_total']:,}", highlight=False)
    funnel = Table(title="rejected / quarantined", title_justify="left")
    for col in ("stage", "reason", "rows"):
        funnel.add_column(col, justify="right" if col == "rows" else "left")
    for stage, reasons in acc["rejected"].items():
        for reason, n in reasons.items():
            funnel.add_row(escape(stage), escape(reason), f"{n:,}")
    for stage, kinds in acc["quarantined"].items():
        for kind, n in kinds.items():
            funnel.add_row(escape(stage), escape(f"quarantined: {kind}"), f"{n:,}")
    if funnel.row_count:
        console.print(funnel)
    cols = Table(title="columns", title_justify="left")
    cols.add_column("name")
    cols.add_column("type")
    for c in columns:
        cols.add_row(escape(c["name"]), escape(c["type"] if len(c["type"]) < 90 else c["type"][:87] + "..."))
    console.print(cols)


def _lineage(s, v) -> list[str]:
    chain, seen = [v.ref], {v.ref}
    parents = v.manifest.get("parents") or []
    while parents:
        try:
            parent = s.resolve(parents[0])
        except Exception:  # a parent deleted by hand: show its name, stop walking
            chain.append(parents[0] + " (missing)")
            break
        if parent.ref in seen:
            break
        chain.append(parent.ref)
        seen.add(parent.ref)
        parents = parent.manifest.get("parents") or []
    return chain


@app.command()
@handle_errors
def export(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@vN")],
    out: Annotated[str, typer.Option("--out", help="output file (.jsonl, .jsonl.gz or .jsonl.zst); - for standard "
                                                   "output")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl (sluice's own) | openai | sharegpt | responses | trl")] = "jsonl",
    part: Annotated[str, typer.Option("--part", help="data | rejected | quarantine")] = "data",
    plain: Annotated[bool, typer.Option("--plain", help="leave out sluice lineage and message extras")] = False,
    force: Annotated[bool, typer.Option("--force", help="write into an existing device, FIFO or socket, or through "
                                                        "a symlink (the link is kept)")] = False,
    allow_unredacted: Annotated[bool, typer.Option(
        "--allow-unredacted", help="export data whose privacy certificate is not strong (none or weak; reported)")] = False,
    split: Annotated[list[str] | None, typer.Option(
        "--split", help="train | validation | test: only rows of this split (repeatable) [default: all, "
                        "each row's split kept as a field]")] = None,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a version to JSONL (round-trips through `sluice ingest`). Only strongly redacted data
    leaves without --allow-unredacted (see `sluice datasets show`, section Personal data)."""
    from sluice.errors import SluiceError
    from sluice.export import certify_export, uncarried_reasoning
    from sluice.export import export as run_export

    if out == "-" and as_json:
        raise SluiceError("--json and --out - both write to standard output", hint="drop one of them")
    st = store(root)
    v = st.resolve(ref)
    privacy = certify_export(v, st, part=part, override=allow_unredacted)
    n = run_export(v, fmt, out, part=part, plain=plain, force=force, splits=split)
    which = f"{part}, {'+'.join(dict.fromkeys(split))}" if split else part
    lost = uncarried_reasoning(v, fmt, plain) if part == "data" else 0
    reasoning = (f"{lost:,} messages have reasoning, which {fmt} messages have no field for"
                 + (" (left out: --plain)" if plain else " (kept for the round trip, where trainers do not read it)")
                 + "; --format trl, responses or jsonl carry it") if lost else None
    if as_json:
        emit_json({"ref": v.ref, "rows": n, "out": str(out), "format": fmt, "part": part, "splits": split or None,
                   "privacy": privacy, "reasoning_not_carried": lost})
    else:
        if privacy.get("warning"):
            console.print(f"[bold yellow]warning:[/] {escape(privacy['warning'])}", highlight=False)
        if reasoning:
            console.print(f"[bold yellow]warning:[/] {escape(reasoning)}", highlight=False)
        where = "standard output" if out == "-" else out
        console.print(escape(f"wrote {n:,} rows of {v.ref} ({which}) as {fmt} → {where}"), highlight=False)
