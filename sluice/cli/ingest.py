"""`sluice ingest` and `sluice formats`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, rate_column, store


@handle_errors
def ingest(
    paths: Annotated[list[str], typer.Argument(help="files, globs or directories of logs (.jsonl/.json/.parquet/.csv, .gz/.zst)")],
    to: Annotated[str, typer.Option("--to", help="dataset name to publish a new version of")],
    fmt: Annotated[str | None, typer.Option("--format", help="input format (default: detected per file; see `sluice formats`)")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="YAML of field: source_column, for Parquet/CSV or renamed keys")] = None,
    source: Annotated[str | None, typer.Option("--source", help="source name recorded on every row [default: file name]")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="fail (publishing nothing) if any record is quarantined")] = False,
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="publish the lines read from a truncated or "
                                                "corrupt compressed file (the damage is quarantined) instead of failing")] = False,
    max_record_bytes: Annotated[int, typer.Option("--max-record-bytes", help="records larger than this are quarantined")] = 2 << 20,
    max_expansion: Annotated[float, typer.Option("--max-expansion", help="refuse a compressed file that decodes to "
                                                 "more than this many times its size (past 64 MiB)")] = 500,
    max_file_bytes: Annotated[int, typer.Option("--max-file-bytes", help="refuse a compressed file that decodes to "
                                                "more bytes than this")] = 256 << 30,
    workers: Annotated[int | None, typer.Option("--workers", help="parser processes [default: up to 2]")] = None,
    force: Annotated[bool, typer.Option("--force", help="publish a new version even when the rows are identical "
                                        "to the latest one")] = False,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest production logs (or preference / KTO data) into a new dataset version."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from sluice.curate.ingest import ingest as run_ingest
    from sluice.curate.ingest import readers
    from sluice.errors import InputError
    from sluice.yamlfile import read_yaml

    columns = None
    if mapping is not None:
        if not mapping.is_file():
            raise InputError(f"no mapping file at {mapping}", hint="pass a YAML file of field: source_column")
        loaded = read_yaml(mapping, what="mapping file").data or {}
        columns = loaded.get("columns", loaded)
        fmt = fmt or loaded.get("format")
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise InputError(f"{mapping}: expected 'columns:' mapping field names to source column names")
    total = sum(p.stat().st_size for p in readers.expand(paths))
    started = time.perf_counter()
    with Progress(TextColumn("ingest"), BarColumn(), TransferSpeedColumn(), TextColumn("{task.fields[rows]:,} rows"),
                  rate_column(), TimeRemainingColumn(), console=console, transient=True,
                  disable=as_json or not console.is_terminal) as bar:  # no stray blank line in logs
        task = bar.add_task("ingest", total=total, rows=0, rows_per_s=0)

        def advance(done: int, rows: int) -> None:
            bar.update(task, completed=done, rows=rows, rows_per_s=rows / max(time.perf_counter() - started, 1e-9))

        result = run_ingest(paths, to, store=store(root), fmt=fmt, source=source, mapping=columns,
                            max_record_bytes=max_record_bytes, strict=strict, workers=workers, progress=advance,
                            allow_partial=allow_partial, max_expansion=max_expansion,
                            max_file_bytes=max_file_bytes, force=force)
    summary = {"version": result.version.ref, "reused": result.reused, "path": str(result.version.path), "rows_in": result.rows_in,
               "kept": result.kept, "rejected": dict(result.rejected), "quarantined": dict(result.quarantined),
               "id_collisions": result.id_collisions,
               "seconds": round(result.seconds, 2),
               "files": [f.as_dict() for f in result.files], "skipped": [s.as_dict() for s in result.skipped],
               "warnings": result.version.manifest.get("ingest", {}).get("warnings") or {}}
    if as_json:
        emit_json(summary)
        return
    _print_summary(result)


def _print_summary(result) -> None:
    from rich.table import Table

    files = Table(title="ingest", title_justify="left")
    for col in ("file", "format", "rows in", "kept", "quarantined"):
        files.add_column(col, justify="right" if col not in ("file", "format") else "left")
    for f in result.files:
        files.add_row(escape(f.path), escape(f.format), f"{f.rows_in:,}", f"{f.kept:,}", f"{sum(f.quarantined.values()):,}")
    console.print(files)
    if result.quarantined:
        errors = Table(title="quarantined by error kind", title_justify="left")
        errors.add_column("error kind")
        errors.add_column("rows", justify="right")
        for kind, n in result.quarantined.most_common():
            errors.add_row(escape(kind), f"{n:,}")
        console.print(errors)
        for e in result.examples[:3]:
            where = f"{e['source_file']}:{e['line']}" if e["line"] is not None else f"{e['source_file']} row {e['row']}"
            console.print(f"  [dim]{escape(where)}[/] "
                          + escape(f"{e['error_kind']}{' at ' + e['field'] if e['field'] else ''}: {e['error']}"),
                          highlight=False)
    if result.id_collisions:
        console.print(f"[yellow]id collisions:[/] {result.id_collisions:,} record(s) reuse a source id that another, "
                      "different record has; each got the id of its content (manifest: ingest.id_collisions)",
                      highlight=False, soft_wrap=True)
    for f in result.damaged:
        console.print(f"[bold yellow]partial:[/] {escape(f.path)}: {escape(f.damage)} (--allow-partial)",
                      highlight=False, soft_wrap=True)
    if result.skipped:
        console.print(f"[yellow]not read[/] ({len(result.skipped)} file(s) in the folders given; "
                      "also in the manifest's 'skipped'):", highlight=False)
        for s in result.skipped:
            console.print(f"  {escape(s.path)}: {escape(s.reason)}", highlight=False, soft_wrap=True)
    warnings = result.version.manifest.get("ingest", {}).get("warnings") or {}
    if warnings:  # rows kept, but worth a look (curate/ingest/checks.py); per-row flags in ingest_flags
        console.print("[yellow]warnings:[/] " + escape(", ".join(f"{k} {n:,}" for k, n in warnings.items())),
                      highlight=False)
    if result.reused:
        console.print(f"nothing to publish: {result.version.ref} already holds exactly these rows "
                      f"({result.kept:,} kept of {result.rows_in:,}); --force publishes a new version anyway",
                      highlight=False, soft_wrap=True)
        return
    rate = result.rows_in / result.seconds if result.seconds else 0
    rejected = "".join(f"{n:,} rejected ({reason}), " for reason, n in result.rejected.items())
    console.print(f"[green]published[/] {result.version.ref}: {result.kept:,} kept, {rejected}"
                  f"{sum(result.quarantined.values()):,} quarantined of {result.rows_in:,} "
                  f"({rate:,.0f} rows/s) → {escape(str(result.version.path))}", highlight=False)


@handle_errors
def formats(as_json: JsonOption = False) -> None:
    """List the input formats `sluice ingest` reads (and detects)."""
    from rich.table import Table

    from sluice.curate.ingest import FORMATS

    if as_json:
        emit_json([{"name": f.name, "kind": f.kind, "description": f.description} for f in FORMATS.values()])
        return
    table = Table()
    for col in ("format", "record kind", "description"):
        table.add_column(col)
    for f in FORMATS.values():
        table.add_row(escape(f.name), escape(f.kind), escape(f.description))
    console.print(table)
