"""Ingest throughput and memory: `sluice ingest` vs polars' own `read_ndjson` (the ceiling).

Generates clean OpenAI-chat logs with examples/generate_logs.py (cached in --workdir), then,
for each size, runs in fresh subprocesses, interleaved, `--repeat` times each:

* baseline — `polars.read_ndjson(file)`: parse only, no validation, nothing written (the
  ceiling named in the issue);
* reference — `polars.scan_ndjson(file).sink_parquet(...)`: polars' streaming parse-and-write,
  still without validation or quarantine;
* sluice   — `ingest([file], to=...)`: parse, validate, quarantine, write Parquet shards,
  hash them and publish a version.

It reports MB/s and records/s (best of the repeats), their ratio, and the peak RSS of the
main process and of the parser workers. A dirty file (1% malformed lines) is ingested once
per size too, to show the cost of quarantining. Usage::

    python benchmarks/bench_ingest.py                       # 100k and 1M records
    python benchmarks/bench_ingest.py --sizes 20000 --repeat 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paths import SCRATCH

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
mode, path, root = sys.argv[1], sys.argv[2], sys.argv[3]
import polars as pl
from sluice.store import Store
from sluice.curate.ingest import ingest
start = time.perf_counter()  # imports are outside the timed region on both sides
if mode == "polars":
    rows = pl.read_ndjson(path).height
    quarantined = 0
elif mode == "polars-sink":  # streaming parse → Parquet, the closest polars analogue of ingest
    pl.scan_ndjson(path).sink_parquet(root + "/out.parquet")
    rows, quarantined = pl.scan_parquet(root + "/out.parquet").select(pl.len()).collect().item(), 0
else:
    result = ingest([path], to="bench", store=Store(root))
    rows, quarantined = result.rows_in, sum(result.quarantined.values())
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "quarantined": quarantined, "rss_mb": own, "worker_rss_mb": children}))
"""


def generate(workdir: Path, n: int, clean: bool) -> Path:
    path = workdir / f"logs-{n}-{'clean' if clean else 'dirty'}.jsonl"
    if not path.exists():
        sys.path.insert(0, str(REPO / "examples"))
        import generate_logs

        t = time.perf_counter()
        generate_logs.write(str(path), n, seed=0, fmt="chat", malformed_rate=0.01, clean=clean)
        print(f"generated {path.name} ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:,.0f} s",
              file=sys.stderr)
    return path


def measure(mode: str, path: Path) -> dict:
    root = tempfile.mkdtemp(prefix="bench-store-")
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), root], check=True,
                             capture_output=True, text=True, env={**os.environ, "POLARS_MAX_THREADS": "2"})
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated record counts")
    ap.add_argument("--repeat", type=int, default=2, help="runs per side (best is reported)")
    ap.add_argument("--workdir", type=Path, default=SCRATCH / "ingest", help="where generated logs are cached")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        clean = generate(args.workdir, n, clean=True)
        mb = clean.stat().st_size / 1e6
        runs: dict[str, list[dict]] = {"polars": [], "polars-sink": [], "sluice": []}
        for _ in range(args.repeat):
            for mode in runs:  # interleaved: both sides see the same machine noise
                runs[mode].append(measure(mode, clean))
        best = {mode: min(r, key=lambda x: x["seconds"]) for mode, r in runs.items()}
        dirty_path = generate(args.workdir, n, clean=False)
        dirty = measure("sluice", dirty_path)
        row = {
            "records": n, "mb": round(mb, 1),
            "polars_s": round(best["polars"]["seconds"], 2), "sluice_s": round(best["sluice"]["seconds"], 2),
            "polars_mb_s": round(mb / best["polars"]["seconds"], 1), "sluice_mb_s": round(mb / best["sluice"]["seconds"], 1),
            "sluice_rec_s": round(n / best["sluice"]["seconds"]),
            "sink_mb_s": round(mb / best["polars-sink"]["seconds"], 1),
            "sink_rss_mb": round(best["polars-sink"]["rss_mb"]),
            "ratio": round(best["polars"]["seconds"] / best["sluice"]["seconds"], 2),
            "sluice_rss_mb": round(best["sluice"]["rss_mb"]), "sluice_worker_rss_mb": round(best["sluice"]["worker_rss_mb"]),
            "polars_rss_mb": round(best["polars"]["rss_mb"]),
            "dirty_s": round(dirty["seconds"], 2), "dirty_quarantined": dirty["quarantined"],
            "dirty_rec_s": round(dirty["rows"] / dirty["seconds"]),
        }
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    print("| records | MB | polars read_ndjson MB/s | polars scan→sink_parquet MB/s | sluice ingest MB/s "
          "| sluice records/s | ratio sluice / read_ndjson | sluice peak RSS main / worker MB "
          "| read_ndjson / sink peak RSS MB | dirty file: records/s, quarantined |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['records']:,} | {r['mb']:,} | {r['polars_mb_s']} | {r['sink_mb_s']} | {r['sluice_mb_s']} | "
              f"{r['sluice_rec_s']:,} | {r['ratio']} | {r['sluice_rss_mb']} / {r['sluice_worker_rss_mb']} | "
              f"{r['polars_rss_mb']} / {r['sink_rss_mb']} | {r['dirty_rec_s']:,}, {r['dirty_quarantined']:,} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
