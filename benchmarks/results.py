"""The one shape every speed benchmark writes, so `benchmarks/run.py` can gather, judge and tabulate.

A script that compares sluice against a baseline times both sides in *interleaved rounds* (sluice,
baseline, sluice, baseline, ...) on the same input, records the load average with every round, and
writes one JSON file with :func:`write`::

    {"benchmark": "minhash", "size": "quick", "date": "...", "host": {...}, "params": {...},
     "comparisons": [
        {"what": "MinHash signatures, 20,000 docs, 128 perms",
         "sluice": "sluice.dedup.minhash (2 threads)", "baseline": "rensa RMinHash (2 threads)",
         "rounds": [{"sluice_s": 1.2, "baseline_s": 1.5, "load1": 8.2}, ...],
         "target": 1.0,            # required baseline_s / sluice_s, or None
         "identical": true,        # decisions/outputs identical to the baseline's (None: not comparable)
         "quality": {...},         # optional: F1, precision/recall, ... per side
         "notes": "..."}]}

``ratio`` is always ``baseline_s / sluice_s`` (above 1: sluice is faster). :func:`summarise` gives
the median ratio over rounds and flags the comparison ``noisy`` when its rounds disagree by more
than 2x, so a table never quotes a best round.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def load1() -> float:
    """The one-minute load average now (the machine is shared: every round records it)."""
    return round(os.getloadavg()[0], 2)


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, result)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def round_(sluice_s: float, baseline_s: float, **extra: Any) -> dict:
    """One interleaved round: both sides' seconds and the load average when it ended."""
    return {"sluice_s": round(sluice_s, 4), "baseline_s": round(baseline_s, 4), "load1": load1(), **extra}


def comparison(what: str, sluice: str, baseline: str, rounds: list[dict], *, target: float | None = None,
               identical: bool | None = None, quality: dict | None = None, notes: str = "") -> dict:
    return {"what": what, "sluice": sluice, "baseline": baseline, "rounds": rounds, "target": target,
            "identical": identical, "quality": quality or {}, "notes": notes}


def summarise(comp: dict) -> dict:
    """Median ratio (baseline_s / sluice_s), spread, noisy flag, and whether the target holds."""
    ratios = [r["baseline_s"] / r["sluice_s"] for r in comp["rounds"] if r["sluice_s"] > 0]
    if not ratios:
        return {"ratio": None, "min": None, "max": None, "noisy": True, "meets_target": False, "load": None}
    lo, hi = min(ratios), max(ratios)
    ratio = statistics.median(ratios)
    target = comp.get("target")
    return {
        "ratio": round(ratio, 3), "min": round(lo, 3), "max": round(hi, 3),
        "noisy": hi / lo > 2.0,
        "meets_target": None if target is None else bool(ratio >= target and comp.get("identical") is not False),
        "load": [r.get("load1") for r in comp["rounds"]],
    }


def write(path: Path | str, benchmark: str, size: str, params: dict, comparisons: list[dict]) -> Path:
    """Write one benchmark's results (see the module docstring for the shape)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": benchmark, "size": size,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
        "params": params, "comparisons": comparisons,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def read(path: Path | str) -> dict:
    return json.loads(Path(path).read_text())
