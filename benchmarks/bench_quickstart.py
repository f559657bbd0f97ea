"""The quickstart recipe end to end at scale: wall time per stage, rows/s, peak RSS, and the
overhead of resuming after a kill midway.

1. Generate N production chats (examples/generate_logs.py, 1% malformed) and ingest them.
2. Run examples/quickstart.yaml uninterrupted in a fresh process (store A): per-stage seconds,
   total wall, rows/s, peak RSS of the runner and of its workers.
3. In store B, run it again, SIGKILL it at half the uninterrupted wall time, then run it to the
   end. The overhead is (time before the kill + time to finish) − uninterrupted time. The two
   published versions must have identical shard hashes.

    python benchmarks/bench_quickstart.py --n 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from paths import SCRATCH

REPO = Path(__file__).resolve().parents[1]
RUN = r"""
import json, resource, sys, time
from sluice.recipe import load_recipe
from sluice.runner import run
from sluice.store import Store
spec, stages = load_recipe(sys.argv[2])
spec.workers = int(sys.argv[3])
t = time.perf_counter()
result = run(spec, stages, store=Store(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - t, "ref": result.version.ref,
    "stages": [(s.name, round(s.seconds, 1), s.rows_in, s.kept, s.cached) for s in result.stages],
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}


def run_recipe(root: Path, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", RUN, str(root), str(REPO / "examples/quickstart.yaml"), str(workers)],
                         capture_output=True, text=True, env=_env(), cwd=REPO)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def hashes(root: Path) -> list:
    from sluice.store import Store

    m = Store(root).resolve("curated").manifest
    return [(p, [s["sha256"] for s in m["parts"][p]["shards"]]) for p in ("data", "rejected", "quarantine")]


def print_stages(run: dict) -> None:
    print("| stage | seconds | rows in | kept |")
    print("|---|---:|---:|---:|")
    for name, seconds, rows_in, kept, _cached in run["stages"]:
        print(f"| {name} | {seconds} | {rows_in:,} | {kept:,} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-resume", action="store_true", help="skip the kill-and-resume run (per-stage times only)")
    ap.add_argument("--workdir", type=Path, default=SCRATCH / "quickstart")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "examples"))
    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    logs = args.workdir / f"logs-{args.n}.jsonl"
    generate_logs.write(str(logs), args.n, seed=7, malformed_rate=0.01)
    roots = {name: args.workdir / name for name in (("a",) if args.no_resume else ("a", "b"))}
    for root in roots.values():
        ingest([str(logs)], to="raw", store=Store(root))
    rows = Store(roots["a"]).resolve("raw").num_rows()

    full = run_recipe(roots["a"], args.workers)
    print(f"uninterrupted: {full['seconds']:.0f} s for {rows:,} rows ({rows / full['seconds']:,.0f} rows/s), "
          f"peak RSS {full['rss_mb']:,.0f} MB + workers {full['worker_rss_mb']:,.0f} MB", file=sys.stderr)

    if args.no_resume:
        embed_s = sum(st[1] for st in full["stages"] if st[0] in ("embed", "semdedup"))
        print_stages(full)
        print(f"\nwall {full['seconds']:.0f} s for {rows:,} rows; embed + semdedup {embed_s:.0f} s "
              f"({embed_s / full['seconds']:.1%} of the run)")
        return
    cmd = [sys.executable, "-c", RUN, str(roots["b"]), str(REPO / "examples/quickstart.yaml"), str(args.workers)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(full["seconds"] / 2)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, as a crash would
    proc.wait()
    before_kill = time.perf_counter() - t
    resumed = run_recipe(roots["b"], args.workers)
    identical = hashes(roots["a"]) == hashes(roots["b"])
    overhead = before_kill + resumed["seconds"] - full["seconds"]

    print_stages(full)
    print()
    print("| rows | workers | wall | rows/s | peak RSS main / workers | killed at | resumed run | "
          "resume overhead | identical shards |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {rows:,} | {args.workers} | {full['seconds']:.0f} s | {rows / full['seconds']:,.0f} | "
          f"{full['rss_mb']:,.0f} / {full['worker_rss_mb']:,.0f} MB | {before_kill:.0f} s | {resumed['seconds']:.0f} s "
          f"({sum(1 for s in resumed['stages'] if s[4])} stages from checkpoints) | {overhead:+.0f} s "
          f"({overhead / full['seconds']:+.0%}) | {identical} |")


if __name__ == "__main__":
    main()
