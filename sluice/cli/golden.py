"""`sluice golden freeze NAME@vN`, `sluice golden list`: golden sets registered in the store.

A frozen golden set is immutable (its content hashes are recorded, append-only, in
``<store>/.registry/golden.jsonl``); training refuses data that holds any of its items, and a
``contamination`` stage with ``golden: true`` removes them from curated data.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="Freeze golden sets: immutable, hashed, kept out of every training set.", no_args_is_help=True)


@app.command("freeze")
@handle_errors
def freeze(
    ref: Annotated[str, typer.Argument(help="conversation dataset version NAME@vN")],
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register NAME@vN as a golden set (content hash recorded; freezing it again is a no-op)."""
    from sluice.train.data import freeze_golden

    entry, created = freeze_golden(store(root), ref)
    if as_json:
        emit_json({**entry, "created": created})
        return
    what = "froze" if created else "already frozen:"
    console.print(f"[bold green]{what}[/] {escape(entry['ref'])}  {entry['rows']} items, content sha256 "
                  f"{entry['content_sha256'][:16]}…", highlight=False)


@app.command("list")
@handle_errors
def list_(root: RootOption = None, as_json: JsonOption = False) -> None:
    """Every frozen golden set, checked against its recorded hash."""
    from sluice.train.data import golden_entries

    entries = golden_entries(store(root))
    if as_json:
        emit_json(entries)
        return
    if not entries:
        console.print("no golden set is frozen: `sluice golden freeze NAME@vN`")
    for e in entries:
        console.print(f"{escape(e['ref'])}  {e['rows']} items  sha256 {e['content_sha256'][:16]}…  "
                      f"frozen {e['frozen_at']}", highlight=False)
