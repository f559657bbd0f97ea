"""`sluice drift` benchmarks on real data (Alpaca random 9k, GSM8K; the shared data, benchmarks/paths.py SHARED).

    # false alarms: 20 windows of held-out Alpaca rows against 6,000 trained-on rows, and the coverage curve
    python benchmarks/bench_drift.py alarms --windows 20 --size 1000
    # scale: N new vs N training rows resampled (with repeats) from the real rows; time and peak RSS
    python benchmarks/bench_drift.py scale --rows 100000
    # the same, each step in its own process (for /usr/bin/time -v): write, first run, cached run
    python benchmarks/bench_drift.py scale --rows 1000000 --phase make
    python benchmarks/bench_drift.py scale --rows 1000000 --phase run --workers 2

Output (stores, reports) under /tmp/bench_drift; results as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from paths import SCRATCH, SHARED

DATA = SHARED
OUT = SCRATCH / "drift"


def alpaca() -> list[dict]:
    rows = json.loads((DATA / "instructions" / "alpaca_random_9k" / "random_9k.json").read_text())
    return [{"messages": [{"role": "user", "content": (r["instruction"] + "\n" + r["input"]).strip()},
                          {"role": "assistant", "content": r["output"]}]} for r in rows]


def gsm8k() -> list[dict]:
    rows = [json.loads(x) for x in (DATA / "evalsets" / "gsm8k" / "test.jsonl").read_text().splitlines()]
    return [{"messages": [{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}]}
            for r in rows]


def base(name: str, rows: list[dict]):
    """The real rows ingested once (cached under /tmp/bench_drift/base): an Arrow table."""
    from sluice.curate.ingest import ingest
    from sluice.store import Store

    store = Store(OUT / "base")
    if not store.versions(name):
        (OUT / "base").mkdir(parents=True, exist_ok=True)
        p = OUT / "base" / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        ingest([str(p)], to=name, store=store, workers=1)
    return store.resolve(name).read()


def put(store, name: str, table, index) -> str:
    """Rows ``index`` of ``table`` (repeats allowed) as ``name@v1``, ids made unique per draw."""
    import pyarrow as pa

    t = table.take(pa.array(index))
    t = t.set_column(t.schema.get_field_index("id"), "id", pa.array([f"{i}-{k}" for k, i in
                                                                     enumerate(t.column("id").to_pylist())]))
    n = t.num_rows
    with store.create(name, "conversation") as w:
        for start in range(0, n, 100_000):
            w.write(t.slice(start, 100_000))
        w.publish({"rows_in": n, "kept": n, "rejected_total": 0, "quarantined_total": 0})
    return f"{name}@v1"


def alarms(windows: int, size: int, train_rows: int) -> dict:
    import shutil

    from sluice.curate.drift import DriftPolicy, drift
    from sluice.store import Store

    folder = OUT / "alarms"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store = Store(folder / "store")
    table = base("alpaca", alpaca())
    order = np.random.default_rng(0).permutation(table.num_rows)
    train, held = order[:train_rows], order[train_rows:]
    put(store, "train", table, train)
    policies = {a: DriftPolicy.model_validate({"coverage": {"neighbour_alpha": a}}) for a in (0.001, 0.01)}
    out, curves = {a: [] for a in policies}, []
    for w in range(windows):
        pick = np.random.default_rng(100 + w).choice(len(held), size, replace=False)
        ref = put(store, f"w{w}", table, held[pick])
        for a, pol in policies.items():
            r = drift(ref, "train@v1", store, pol, save=False)
            r.pop("_members")
            out[a].append({"window": ref, "crossed": r["crossed"], "uncovered_share": r["coverage"]["share"],
                           "beyond_radius_share": r["coverage"]["beyond_radius_share"],
                           "effects": {s["feature"]: round(s["value"], 4) for s in r["shifts"] if "value" in s}})
        curves.append(r["coverage"]["curve"]["new_share_beyond"])
    import pyarrow as pa

    gsm = base("gsm8k", gsm8k()).slice(400)  # rows 400+: none of them is in the tests' vendored slice
    both = pa.concat_tables([table, gsm])
    planted = {a: {} for a in policies}
    for share in (0.02, 0.05, 0.1):
        k = int(size * share)
        pick = np.random.default_rng(7).choice(len(held), size - k, replace=False)
        ref = put(store, f"planted{int(share * 100)}", both, np.r_[held[pick], table.num_rows + np.arange(k)])
        for a, pol in policies.items():
            r = drift(ref, "train@v1", store, pol, save=False)
            ids, _, group = r.pop("_members")
            flagged = set(np.asarray(ids.to_list())[group != -1].tolist())
            planted_ids = set(store.resolve(ref).read(columns=["id"]).column("id").to_pylist()[size - k:])
            planted[a][share] = {"crossed": r["crossed"], "uncovered_share": round(r["coverage"]["share"], 4),
                                 "gsm8k_recall": round(len(flagged & planted_ids) / k, 3),
                                 "held_out_flagged": round(len(flagged - planted_ids) / (size - k), 4),
                                 "clusters": [(c["name"], c["rows"]) for c in r["coverage"]["clusters"]]}
    q = r["coverage"]["curve"]["quantile"]
    return {"train_rows": train_rows, "window_rows": size, "windows": windows,
            "false_alarm_rate": {a: sum(bool(x["crossed"]) for x in o) / windows for a, o in out.items()},
            "crossed_features": {a: sorted({f for x in o for f in x["crossed"]}) for a, o in out.items()},
            "uncovered_share_mean": {a: round(float(np.mean([x["uncovered_share"] for x in o])), 4) for a, o in out.items()},
            "curve": {"quantile": q, "expected": [round(1 - x, 4) for x in q],
                      "held_out_mean": [round(float(np.mean([c[i] for c in curves])), 4) for i in range(len(q))],
                      "held_out_max": [round(float(np.max([c[i] for c in curves])), 4) for i in range(len(q))]},
            "planted_gsm8k": planted, "windows_detail": out}


def scale(n: int) -> dict:
    import shutil

    from sluice.curate.drift import drift
    from sluice.store import Store

    folder = OUT / f"scale{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store = Store(folder / "store")
    t = time.perf_counter()
    make(store, n)
    ingest_s = time.perf_counter() - t
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731  user + system seconds
    t, c = time.perf_counter(), cpu()
    r = drift("new@v1", "train@v1", store)
    first, first_cpu = time.perf_counter() - t, cpu() - c
    t, c = time.perf_counter(), cpu()
    r2 = drift("new@v1", "train@v1", store)
    again, again_cpu = time.perf_counter() - t, cpu() - c
    return {"rows": n, "write_s": round(ingest_s, 1), "drift_s": round(first, 1), "drift_cpu_s": round(first_cpu, 1),
            "drift_cached_index_s": round(again, 1), "drift_cached_index_cpu_s": round(again_cpu, 1),
            "uncovered_share": r["coverage"]["share"], "crossed": r["crossed"],
            "stages_s": r["seconds"], "stages_cached_s": r2["seconds"],
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def make(store, n: int) -> None:
    """``train@v1`` and ``new@v1``: ``n`` rows each, resampled with repeats from the real Alpaca rows."""
    table = base("alpaca", alpaca())
    rng = np.random.default_rng(0)
    put(store, "train", table, rng.integers(0, table.num_rows, n))
    put(store, "new", table, rng.integers(0, table.num_rows, n))


def phase(n: int, what: str, executor: str, workers: int) -> dict:
    """One step of the scale run in its own process, so that each has its own time and peak RSS:
    ``make`` writes the two windows, ``run`` compares them once (the first run builds the index)."""
    import logging
    import os

    from sluice.store import Store

    folder = OUT / f"scale{n}"
    if what == "make":
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        t = time.perf_counter()
        make(Store(folder / "store"), n)
        return {"rows": n, "write_s": round(time.perf_counter() - t, 1)}
    from sluice.curate.drift import drift

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731  user + system seconds
    t, c = time.perf_counter(), cpu()
    r = drift("new@v1", "train@v1", Store(folder / "store"), executor=executor, workers=workers)
    return {"rows": n, "index_cached": r["index"]["cached"], "drift_s": round(time.perf_counter() - t, 1),
            "drift_cpu_s": round(cpu() - c, 1), "stages_s": r["seconds"], "uncovered_share": r["coverage"]["share"],
            "crossed": r["crossed"], "load": os.getloadavg(),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["alarms", "scale"])
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--train-rows", type=int, default=6000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--phase", choices=["make", "run"], help="scale: one step in its own process")
    ap.add_argument("--executor", default="local", help="scale --phase run: where drift's per-row work runs")
    ap.add_argument("--workers", type=int, default=1, help="scale --phase run: processes for the per-row work")
    a = ap.parse_args()
    if a.what == "alarms":
        res = alarms(a.windows, a.size, a.train_rows)
    else:
        res = phase(a.rows, a.phase, a.executor, a.workers) if a.phase else scale(a.rows)
    print(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
