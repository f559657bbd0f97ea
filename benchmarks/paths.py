"""Where benchmarks read real data and write scratch output: one rule for every script.

* ``SHARED``: the shared real data, ``$SLUICE_SHARED_DATA`` or ``../shared/data`` beside the
  checkout (the layout CI and the developers' machines use), or ``../../shared/data`` for a git
  worktree kept one folder deeper.
* ``SCRATCH``: generated inputs, stores and results, ``$SLUICE_BENCH_OUT`` or
  ``/tmp/sluice-bench`` — never inside the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SLUICE_SHARED_DATA") or next(
    (p for p in (REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data") if p.is_dir()),
    REPO.parent / "shared" / "data"))
SCRATCH = Path(os.environ.get("SLUICE_BENCH_OUT") or Path(tempfile.gettempdir()) / "sluice-bench")
