"""Ingest time vs records with 1 parser (in-process) and 2 parser processes, beside polars read_ndjson.

The curve behind ``PARALLEL_MIN_CHUNKS`` (sluice/curate/ingest/run.py): the size below which a second
process cannot pay for its start-up. Clean chat logs from examples/generate_logs.py (the largest size
generated once and cached by bench_ingest.py under SCRATCH, outside the repository; smaller sizes are
its first N lines). Every run is a fresh subprocess (imports outside the timer, as bench_ingest.py),
interleaved by size and mode, with the one-minute load average; ``w2`` forces the pool at every size
(the threshold off, at least 3 chunks), ``w1`` parses in-process. Prints one line per run and the
medians; also the process CPU (the caller's and its workers').

    python benchmarks/ingest_workers_curve.py --sizes 10000,20000,40000,100000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench_ingest import generate
from paths import SCRATCH

CHILD = r"""
import json, os, resource, sys, time
mode, path, root = sys.argv[1], sys.argv[2], sys.argv[3]
import polars as pl
from sluice.store import Store
from sluice.curate.ingest import ingest, readers, run
start = time.perf_counter()
if mode == "polars":
    rows = pl.read_ndjson(path).height
else:
    workers, kw = int(mode[1:]), {}
    if workers > 1:  # the pool whatever the size: the threshold off, at least 3 chunks
        run.PARALLEL_MIN_CHUNKS = 0
        kw["chunk_bytes"] = min(readers.CHUNK_BYTES, os.path.getsize(path) // 3 + 1)
    rows = ingest([path], to="bench", store=Store(root), workers=workers, **kw).rows_in
seconds = time.perf_counter() - start
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "rows": rows, "cpu": own.ru_utime + own.ru_stime,
                  "worker_cpu": kids.ru_utime + kids.ru_stime}))
"""


def inputs(sizes: list[int]) -> dict[int, str]:
    workdir = SCRATCH / "ingest"
    workdir.mkdir(parents=True, exist_ok=True)
    full, _ = generate(workdir, max(sizes), clean=True)
    out = {}
    for n in sizes:
        path = workdir / f"head-{n}-of-{full.name}"
        if not path.exists():
            with full.open("rb") as src, path.open("wb") as dst:
                for i, line in enumerate(src):
                    if i == n:
                        break
                    dst.write(line)
        out[n] = str(path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,20000,40000,100000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default="polars,w1,w2")
    args = ap.parse_args()
    sizes, modes = [int(s) for s in args.sizes.split(",")], args.modes.split(",")
    paths, res = inputs(sizes), {}
    for r in range(args.rounds):
        for n in sizes:
            for mode in modes:
                root = tempfile.mkdtemp(prefix="sluice-curve-")
                try:
                    out = subprocess.run([sys.executable, "-c", CHILD, mode, paths[n], root], capture_output=True,
                                         text=True, cwd=root, env={**os.environ, "POLARS_MAX_THREADS": "2"})
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                if out.returncode:
                    raise SystemExit(f"{mode} at {n:,} records failed:\n{out.stderr[-2000:]}")
                d = json.loads(out.stdout.strip().splitlines()[-1])
                assert d["rows"] == n, d
                d["load1"] = round(os.getloadavg()[0], 2)
                res.setdefault((n, mode), []).append(d)
                print(f"round {r} {n:,} {mode}: {d['seconds']:.2f} s (CPU {d['cpu']:.2f} s, workers' "
                      f"{d['worker_cpu']:.2f} s), load {d['load1']}", flush=True)
    print("records | " + " | ".join(f"{m} s (median)" for m in modes) + " | load per round")
    for n in sizes:
        print(f"{n:,} | " + " | ".join(f"{statistics.median(d['seconds'] for d in res[(n, m)]):.2f}" for m in modes)
              + f" | {[d['load1'] for d in res[(n, modes[0])]]}")


if __name__ == "__main__":
    main()
