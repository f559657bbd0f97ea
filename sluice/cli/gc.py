"""`sluice gc`: remove stale stage checkpoints (and the raw values they may hold)."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store


@handle_errors
def gc(
    older_than: Annotated[float, typer.Option("--older-than", help="remove checkpoints unused for this many days")] = 7,
    raw: Annotated[bool, typer.Option("--raw", help="also remove every checkpoint holding values from before "
                                                    "PII redaction, whatever its age")] = False,
    everything: Annotated[bool, typer.Option("--all", help="remove every checkpoint no live run is writing")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, remove nothing")] = False,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove stale checkpoints under <root>/.checkpoints (a later run recomputes what it needs) and
    the temporary folders of dataset writers that died (a killed ingest), whatever their age."""
    from sluice.checkpoints import Removed, collect

    s = store(root)
    removed = collect(s.root, older_than_days=older_than, raw=raw, everything=everything, dry_run=dry_run)
    for p in s.stale_temporary(dry_run=True):
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        if not dry_run:
            shutil.rmtree(p, ignore_errors=True)
        removed.append(Removed(p, size, f"unpublished version of {p.parent.name} whose writer is gone"))
    total = sum(r.bytes for r in removed)
    if as_json:
        emit_json({"removed": [{"path": str(r.path), "bytes": r.bytes, "why": r.why} for r in removed],
                   "bytes": total, "dry_run": dry_run})
        return
    verb = "would remove" if dry_run else "removed"
    for r in removed:
        console.print(f"{verb} {escape(r.path.name)} ({r.bytes / 2**20:.1f} MiB): {r.why}", highlight=False)
    console.print(f"{verb} {len(removed)} checkpoint(s), {total / 2**20:.1f} MiB", highlight=False)
