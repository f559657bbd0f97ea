"""minhash → near_dedup at scale: peak memory, local vs Ray, and the cost of a kill mid-stage.

    python benchmarks/bench_scale.py --n 100000 --executor local          # one clean run
    python benchmarks/bench_scale.py --n 1000000 --executor ray           # the same on Ray (local cluster)
    python benchmarks/bench_scale.py --n 300000 --kill 0.5                # clean, killed at 50% of minhash, resumed

Generates N conversations with examples/generate_logs.py (planted exact and near duplicates)
once per N under --workdir, ingests them, then runs the recipe `minhash` → `near_dedup` in a
child process (checkpoints removed first, so the stages really run) and samples the RSS of
that process and all its descendants (pool workers, Ray's raylet and actors) every 0.2 s.
Reported: wall time per stage, the driver's peak RSS and the peak of the whole process tree.
With --kill F the run is SIGKILLed once F of the minhash stage's batches are done, resumed,
and the resume overhead is (killed part + resumed run − clean run) / clean run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import resource

REPO = Path(__file__).resolve().parents[1]
RUN = """
import json, sys, time
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.stage import stage_class
from sluice.store import Store
store = Store(sys.argv[1])
if sys.argv[5] == "one-table":  # the baseline: every row's projected columns in one table, as before
    for name in ("minhash", "near_dedup"):
        stage_class(name).bounded = False
recipe = Recipe(name="bench", input="raw@latest", output="dedup", batch_size=int(sys.argv[3]), workers=int(sys.argv[4]))
t = time.perf_counter()
result = run(recipe, [stage_class("minhash")(), stage_class("near_dedup")()], store=store, executor=sys.argv[2])
acc = result.version.manifest["accounting"]
print(json.dumps({"wall": time.perf_counter() - t, "stages": [s.seconds for s in result.stages],
                  "rows": acc["rows_in"], "rejected": acc["rejected_total"], "cached": [s.cached for s in result.stages]}))
"""


def prepare(n: int, workdir: Path) -> Path:
    sys.path.insert(0, str(REPO / "examples"))
    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    work = workdir / str(n)
    work.mkdir(parents=True, exist_ok=True)
    store = Store(work / "store")
    if not store.names():
        logs = work / "logs.jsonl"
        t = time.perf_counter()
        generate_logs.write(logs, n, seed=0, clean=True)
        ingest([str(logs)], "raw", store=store, workers=2)
        logs.unlink()
        print(f"generated and ingested {n:,} in {time.perf_counter() - t:.0f}s", flush=True)
    return store.root


class Sampler(threading.Thread):
    """Peak RSS of a process and of its whole tree, sampled."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.driver = self.tree = 0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            try:
                mine = self.proc.memory_info().rss
                kids = sum(_rss(c) for c in self.proc.children(recursive=True))
            except psutil.NoSuchProcess:
                return
            self.driver, self.tree = max(self.driver, mine), max(self.tree, mine + kids)
            time.sleep(0.2)


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def once(root: Path, executor: str, batch: int, workers: int, kill: float | None = None, form: str = "bounded") -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    t = time.perf_counter()
    cpu0 = _children_cpu()
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(root), executor, str(batch), str(workers), form], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    if kill is not None:
        total = None
        while proc.poll() is None:
            done = list(root.glob(".checkpoints/.partial-*/spill/batches/*.json"))
            if total is None:
                from sluice.store import Store

                rows = Store(root).resolve("raw@latest").num_rows()
                total = -(-rows // batch)
            if len(done) >= kill * total:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.1)
        proc.wait()
        sampler.stop = True
        return {"wall": time.perf_counter() - t, "killed": True, "cpu": _children_cpu() - cpu0}
    out, _ = proc.communicate()
    sampler.stop = True
    result = json.loads(out.strip().splitlines()[-1])
    result.update(driver_gib=sampler.driver / 2**30, tree_gib=sampler.tree / 2**30, outer=time.perf_counter() - t,
                  cpu=_children_cpu() - cpu0)
    return result


def _children_cpu() -> float:
    """CPU seconds of finished child processes (and the descendants they waited for): the
    machine is shared and noisy, so the resume overhead is measured in CPU time as well."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--executor", default="local", choices=["local", "ray"])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--kill", type=float, default=None, help="fraction of minhash batches done at the kill")
    ap.add_argument("--workdir", default="/tmp/sluice-scale")
    ap.add_argument("--baseline", action="store_true", help="also run the one-table form (interleaved) to compare")
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args()
    root = prepare(args.n, Path(args.workdir))
    if args.prepare_only:
        return

    def fresh() -> None:
        shutil.rmtree(root / ".checkpoints", ignore_errors=True)
        shutil.rmtree(root / "dedup", ignore_errors=True)

    for form in (["one-table", "bounded"] if args.baseline else ["bounded"]):
        fresh()
        clean = once(root, args.executor, args.batch_size, args.workers, form=form)
        print(json.dumps({"n": args.n, "executor": args.executor, "workers": args.workers, "form": form, **clean}),
              flush=True)
        print(f"| {clean['rows']:,} | {form} | {args.executor} ({args.workers}) | {clean['wall']:.0f} s "
              f"| {clean['stages'][0]:.0f} s | {clean['stages'][1]:.0f} s | {clean['driver_gib']:.2f} GiB "
              f"| {clean['tree_gib']:.2f} GiB | {clean['rejected']:,} |", flush=True)
    if args.kill is not None:  # clean, killed + resumed, clean again (interleaved: the machine is noisy)
        fresh()
        killed = once(root, args.executor, args.batch_size, args.workers, kill=args.kill)
        resumed = once(root, args.executor, args.batch_size, args.workers)
        fresh()
        again = once(root, args.executor, args.batch_size, args.workers)
        base = {k: (clean[k] + again[k]) / 2 for k in ("outer", "cpu")}
        wall = (killed["wall"] + resumed["outer"] - base["outer"]) / base["outer"]
        cpu = (killed["cpu"] + resumed["cpu"] - base["cpu"]) / base["cpu"]
        print(json.dumps({"killed": killed, "resumed": resumed, "again": again, "wall": wall, "cpu": cpu}), flush=True)
        print(f"| {clean['rows']:,} | {args.executor} | clean {clean['outer']:.0f} / {again['outer']:.0f} s, "
              f"{base['cpu']:.0f} CPU s | killed after {killed['wall']:.0f} s ({args.kill:.0%} of minhash batches) "
              f"| resumed {resumed['outer']:.0f} s | overhead {cpu:+.1%} CPU, {wall:+.1%} wall |")
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
