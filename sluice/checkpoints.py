"""Stage checkpoints on disk, and their lifetime.

``<root>/.checkpoints/<fingerprint>/`` is a finished stage (kept, rejected and quarantined
rows per batch, ``stats.json``); ``.partial-<fingerprint>/`` is a stage being written, whose
finished batches survive a kill so the next run redoes only the batches in flight. A
checkpoint of a stage that ran before PII redaction holds raw values and carries a ``RAW``
marker: the runner removes it once the run publishes (unless asked to keep it), and
:func:`collect` (``sluice gc``) removes what is left.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sluice import fs
from sluice.errors import RecipeError

RAW = "RAW"  # marker file: this checkpoint holds values from before PII redaction


class Checkpoint:
    def __init__(self, root: Path, fingerprint: str):
        self.path = root / ".checkpoints" / fingerprint
        self.fingerprint = fingerprint
        self.partial = root / ".checkpoints" / f".partial-{fingerprint}"

    def done(self) -> bool:
        return (self.path / "stats.json").is_file()

    def stats(self) -> dict:
        stats = self.path / "stats.json"
        if not fs.is_remote(stats):
            os.utime(stats)  # last use: `sluice gc --older-than` keeps what runs still use
        return json.loads(stats.read_text())

    def files(self, part: str) -> list[Path]:
        return sorted((self.path / part).glob("part-*.parquet"), key=lambda p: p.name)

    def claim(self, raw: bool) -> None:
        """Own the partial folder: a live run of the same stage elsewhere is an error."""
        pid = _owner(self.partial)
        if pid and pid != os.getpid() and _alive(pid):
            raise RecipeError(f"another run (process {pid}) is computing the same stage right now",
                              hint="wait for it to finish; this run will then reuse its checkpoint")
        fs.mkdir(self.partial)
        (self.partial / "owner").write_text(str(os.getpid()))
        if raw:
            (self.partial / RAW).write_text("")

    def keep_if_planned(self, plan: str) -> None:
        """Finished batches count only for the same plan of batches (a changed ``batch_size``
        numbers them differently): otherwise the partial folder starts over."""
        marker = self.partial / "plan"
        if marker.is_file() and marker.read_text() != plan:
            for child in self.partial.iterdir():
                if child.name not in ("owner", RAW):
                    fs.rmtree(child) if child.is_dir() else child.unlink()
        marker.write_text(plan)

    def finished(self) -> dict[int, dict]:
        """Stats of the batches a previous (killed) attempt finished."""
        return {int(p.stem): json.loads(p.read_text()) for p in (self.partial / "batches").glob("*.json")
                if not fs.is_remote(p) or ".tmp-" not in p.name}

    def publish(self) -> None:
        """The partial folder becomes the checkpoint (one rename)."""
        try:
            fs.rmtree(self.path)
            for scratch in ("owner", "plan", "answer.parquet"):
                (self.partial / scratch).unlink(missing_ok=True)
            fs.move_tree(self.partial, self.path, last="stats.json")  # on an object store: stats.json last
        except OSError:
            if not self.done():  # a concurrent run of the same stage may have published it first
                raise

    def remove(self) -> None:
        fs.rmtree(self.path)


def _owner(folder: Path) -> int:
    try:
        return int((folder / "owner").read_text() or 0)
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid)


def clean_stale(root: Path) -> None:
    """Remove temp folders of runs whose process is gone (killed, crashed machine)."""
    if fs.is_remote(root):
        return  # no process ids across machines
    for p in (root / ".checkpoints").glob(".tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)


@dataclass
class Removed:
    path: Path
    bytes: int
    why: str


def collect(root: Path, *, older_than_days: float = 7.0, raw: bool = False, everything: bool = False,
            dry_run: bool = False) -> list[Removed]:
    """Remove stale checkpoints: unused for ``older_than_days``, every raw one with ``raw``,
    all with ``everything``. A folder a live run is writing is never touched."""
    folder = root / ".checkpoints"
    removed = []
    cutoff = time.time() - older_than_days * 86400
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not p.is_dir():
            continue
        if p.name.startswith((".partial-", ".tmp-")):
            pid = _owner(p) if p.name.startswith(".partial-") else int(p.name.rsplit("-", 1)[-1] or 0)
            if pid and _alive(pid) and pid != os.getpid():
                continue
        marks = (p / "stats.json", p / "owner") + ((p,) if not fs.is_remote(p) else ())  # a prefix has no time
        used = max((f.stat().st_mtime for f in marks if f.exists()), default=0)
        why = ("all" if everything else "raw values (before PII redaction)" if raw and (p / RAW).exists()
               else f"unused for {older_than_days:g} days" if used < cutoff else None)
        if why is None:
            continue
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        if not dry_run:
            fs.rmtree(p)
        removed.append(Removed(p, size, why))
    return removed
