"""Near-dup dedup of N generated conversations end to end (ingest excluded): wall time, peak RSS.

    python benchmarks/bench_dedup_scale.py --n 1000000 [--workdir /tmp/dedup-scale]

Generates N conversations with examples/generate_logs.py (which plants exact and near
duplicates), ingests them into a fresh store, then runs the recipe `minhash` → `near_dedup`
with the local runner in this process and reports the wall time per stage and the process's
peak RSS (the whole-dataset stages run in this process). The store is kept for re-runs
(checkpoints are removed first so the stages really run).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workdir", default="/tmp/dedup-scale")
    args = ap.parse_args()
    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.recipe import Recipe
    from sluice.runner import run
    from sluice.stage import stage_class
    from sluice.store import Store

    work = Path(args.workdir) / str(args.n)
    work.mkdir(parents=True, exist_ok=True)
    store = Store(work / "store")
    logs = work / "logs.jsonl"
    if not store.names():
        t = time.perf_counter()
        counts = generate_logs.write(logs, args.n, seed=0, clean=True)
        print(f"generated {args.n:,} in {time.perf_counter() - t:.0f}s "
              f"(planted exact {counts['exact_duplicates']:,}, near {counts['near_duplicates']:,})", flush=True)
        t = time.perf_counter()
        ingest([str(logs)], "raw", store=store, workers=2)
        print(f"ingested in {time.perf_counter() - t:.0f}s", flush=True)
        logs.unlink()
    shutil.rmtree(store.root / ".checkpoints", ignore_errors=True)
    rss0 = rss_gib()
    recipe = Recipe(name="bench", input="raw@latest", output="dedup", stages=[])
    stages = [stage_class("minhash")(), stage_class("near_dedup")()]
    t = time.perf_counter()
    result = run(recipe, stages, store=store)
    wall = time.perf_counter() - t
    acc = result.version.manifest["accounting"]
    print("\n| rows | wall (s) | minhash stage (s) | near_dedup stage (s) | peak RSS (GiB) | near_duplicate rejected |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {acc['rows_in']:,} | {wall:.0f} | {result.stages[0].seconds:.0f} | {result.stages[1].seconds:.0f} | "
          f"{rss_gib():.2f} (before run {rss0:.2f}) | {acc['rejected_total']:,} |")
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
