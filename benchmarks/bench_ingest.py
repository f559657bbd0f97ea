"""Ingest throughput: `sluice ingest` vs polars' own `read_ndjson` (the ceiling), in results.py's shape.

Generates clean OpenAI-chat logs with examples/generate_logs.py (cached in --workdir, outside the
repository), then, for each size, times in fresh subprocesses (imports outside the timer), in
interleaved rounds (polars, sink, sluice, polars, ...), with the load average per round:

* baseline  — `polars.read_ndjson(file)` with 2 threads: parse only, no validation, nothing written;
* reference — `polars.scan_ndjson(file).sink_parquet(...)`: polars' streaming parse-and-write, still
  without validation or quarantine;
* sluice    — `ingest([file], to=...)` with its defaults (2 parser processes for a file of more than
  `run.PARALLEL_MIN_CHUNKS` chunks, in-process below): parse, validate, quarantine, write Parquet
  shards, hash them and publish a version.

"identical" means sluice published exactly the rows polars parsed and quarantined none of the clean
file. A dirty file (1% malformed lines of every kind) is ingested once per size; its quarantine
count must equal the number of malformed lines generated (in the comparison's quality). Sizes:
``--size quick``: 20,000 records (about 24 MB); ``--size full``: 100,000 and 1,000,000 records, the
sizes BENCHMARKS.md documents (targets: ≥ 1.0× read_ndjson at 100k and at quick size, ≥ 2× at 1M).

    python benchmarks/bench_ingest.py --size quick --json /tmp/ingest.json
    python benchmarks/bench_ingest.py --sizes 100000 --rounds 3   # any sizes
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

from paths import REPO, SCRATCH
from results import comparison, round_, write

SIZES = {"quick": [20_000], "full": [100_000, 1_000_000]}
TARGETS = {1_000_000: 2.0}  # ≥ 1.0× read_ndjson at every other size

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


def generate(workdir: Path, n: int, clean: bool) -> tuple[Path, dict]:
    """The cached generated file and generate_logs' counts (malformed lines per kind)."""
    path = workdir / f"logs-{n}-{'clean' if clean else 'dirty'}.jsonl"
    counts_path = path.with_suffix(".counts.json")
    if not (path.exists() and counts_path.exists()):
        sys.path.insert(0, str(REPO / "examples"))
        import generate_logs

        t = time.perf_counter()
        counts = generate_logs.write(str(path), n, seed=0, fmt="chat", malformed_rate=0.01, clean=clean)
        counts_path.write_text(json.dumps(counts))
        print(f"generated {path.name} ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:,.0f} s",
              file=sys.stderr)
    return path, json.loads(counts_path.read_text())


def measure(mode: str, path: Path) -> dict:
    root = tempfile.mkdtemp(prefix="bench-store-")
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), root], capture_output=True, text=True,
                             cwd=root, env={**os.environ, "POLARS_MAX_THREADS": "2"})
        if out.returncode:
            raise SystemExit(f"bench_ingest: the {mode} run failed on {path.name}:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _parsers(path: Path) -> str:
    """How ingest's defaults parse this file (the rule in sluice.curate.ingest.run)."""
    from sluice.curate.ingest import readers, run

    if path.stat().st_size > run.PARALLEL_MIN_CHUNKS * readers.CHUNK_BYTES:
        return "2 parser processes"
    return f"parsed in-process: {run.PARALLEL_MIN_CHUNKS} chunks or fewer"


def bench_size(workdir: Path, n: int, rounds: int) -> list[dict]:
    clean, _ = generate(workdir, n, clean=True)
    mb = clean.stat().st_size / 1e6
    runs: dict[str, list[dict]] = {"polars": [], "polars-sink": [], "sluice": []}
    main_rounds, sink_rounds = [], []
    for r in range(rounds):
        for mode in runs:  # interleaved: every side sees the same stretch of machine noise
            runs[mode].append(measure(mode, clean))
        p, k, s = runs["polars"][-1], runs["polars-sink"][-1], runs["sluice"][-1]
        main_rounds.append(round_(s["seconds"], p["seconds"], sluice_mb_s=round(mb / s["seconds"], 1),
                                  baseline_mb_s=round(mb / p["seconds"], 1), sluice_rss_mb=round(s["rss_mb"]),
                                  sluice_worker_rss_mb=round(s["worker_rss_mb"]), baseline_rss_mb=round(p["rss_mb"])))
        sink_rounds.append({**round_(s["seconds"], k["seconds"]), "load1": main_rounds[-1]["load1"],
                            "baseline_rss_mb": round(k["rss_mb"])})
        print(f"{n:,} round {r}: read_ndjson {p['seconds']:.2f} s, sink {k['seconds']:.2f} s, sluice "
              f"{s['seconds']:.2f} s, load {main_rounds[-1]['load1']}", file=sys.stderr, flush=True)
    identical = all(x["rows"] == runs["polars"][0]["rows"] == n and x["quarantined"] == 0
                    for x in runs["sluice"] + runs["polars-sink"])
    dirty_path, counts = generate(workdir, n, clean=False)
    dirty = measure("sluice", dirty_path)
    expected = sum(counts["malformed"].values())
    quality = {"records": n, "mb": round(mb, 1),
               "dirty_file": {"quarantined": dirty["quarantined"], "malformed_generated": expected,
                              "exact": dirty["quarantined"] == expected,
                              "rows_per_s": round(dirty["rows"] / dirty["seconds"])}}
    what = f"ingest {n:,} clean chat records ({mb:,.0f} MB) to Parquet"
    return [
        comparison(what, f"sluice ingest ({_parsers(clean)}; validate, quarantine, write, hash, publish)",
                   "polars read_ndjson (2 threads; parse only, nothing written)", main_rounds,
                   target=TARGETS.get(n, 1.0), identical=identical and quality["dirty_file"]["exact"],
                   quality=quality, notes="identical: same row count as polars, nothing quarantined from the clean "
                                          "file, and the dirty file's quarantine equals the malformed lines generated"),
        comparison(what, "sluice ingest", "polars scan_ndjson.sink_parquet (2 threads, streaming, no validation)",
                   sink_rounds, target=None, identical=identical, notes="reference, not a target"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="quick")
    ap.add_argument("--sizes", help="comma-separated record counts (overrides --size)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per side")
    ap.add_argument("--workdir", type=Path, default=SCRATCH / "ingest", help="where generated logs are cached")
    ap.add_argument("--json", type=Path, help="write results.py's JSON here")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SIZES[args.size]
    comps = [c for n in sizes for c in bench_size(args.workdir, n, args.rounds)]
    for c in comps:
        ratios = sorted(r["baseline_s"] / r["sluice_s"] for r in c["rounds"])
        print(f"{c['what']}: sluice vs {c['baseline'].split(' (')[0]}: median "
              f"{ratios[len(ratios) // 2]:.2f}x (rounds {', '.join(f'{x:.2f}' for x in ratios)}), identical "
              f"{c['identical']}, loads {[r['load1'] for r in c['rounds']]}")
    if args.json:
        write(args.json, "ingest", args.size if not args.sizes else f"sizes {args.sizes}",
              {"sizes": sizes, "rounds": args.rounds, "polars_threads": 2}, comps)


if __name__ == "__main__":
    main()
