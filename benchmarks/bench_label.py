"""Push and pull throughput (records/s) against a local argilla-server.

    python benchmarks/bench_label.py --n 10000 --repeats 2

Starts a real server (scripts/argilla-server.sh; SQL search engine, SQLite, redis), ingests
N generated chats, marks them redacted (test-only stand-in stage), then interleaves per repeat:
  push   sluice label push (sampling, settings check, record building, bulk upsert)
  log    baseline: the argilla client's own records.log of the same prebuilt records
  pull   sluice label pull (REST pages of 1000 with responses, aggregation, conversion, publish)
  list   baseline: the argilla client's plain record iteration (no responses, no conversion)
Two annotators answer the first 200 records so pull does real aggregation work. The machine
is shared: expect noise; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "examples")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import argilla as rg
    import argilla_harness as harness
    import generate_logs
    from test_label_loop import redacted

    from sluice.curate.ingest import ingest
    from sluice.labeling.client import quiet
    from sluice.labeling.pull import pull
    from sluice.labeling.push import push
    from sluice.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="bench-label-"))
    t = time.perf_counter()
    server = harness.start(tmp / "argilla")
    print(f"server up in {time.perf_counter() - t:.1f}s at {server.url}", file=sys.stderr)
    os.environ["ARGILLA_API_URL"], os.environ["ARGILLA_API_KEY"] = server.url, server.owner_key
    try:
        store = Store(tmp / "store")
        generate_logs.write(tmp / "logs.jsonl", args.n, seed=0, clean=True)
        ingest([str(tmp / "logs.jsonl")], to="raw", store=store)
        clean = redacted(store)  # language → pii_detect → redaction that records its coverage
        n = clean.num_rows()
        client = rg.Argilla(api_url=server.url, api_key=server.owner_key)
        results: dict[str, list[float]] = {"push": [], "log": [], "pull": [], "list": []}
        for rep in range(args.repeats):
            name = f"bench-{rep}"
            t = time.perf_counter()
            pushed = push(clean.ref, name, store=store).pushed
            results["push"].append(pushed / (time.perf_counter() - t))
            if rep == 0:
                ds, ids = harness.records_by_external_id(server, name)
                annotators = [harness.Annotator(server, f"bench-ann-{i}") for i in range(2)]
                for a in annotators:
                    a.join(ds["workspace_id"])
                for k, uuid in enumerate(list(ids.values())[:200]):
                    for a in annotators:
                        a.respond(uuid, {"quality": 1 + (k + len(a.id)) % 5, "verdict": "good" if k % 3 else "bad"})
            base = client.datasets(name=name)
            records = [rg.Record(id=f"b{rep}-{i}", fields=r.fields) for i, r in enumerate(base.records(batch_size=1000))]
            copy = rg.Dataset(name=f"{name}-log", workspace=base.workspace, settings=base.settings, client=client)
            copy.create()
            t = time.perf_counter()
            with quiet():
                copy.records.log(records, batch_size=500)
            results["log"].append(len(records) / (time.perf_counter() - t))
            t = time.perf_counter()
            res = pull(name, f"{name}-fb", store=store)
            results["pull"].append(res.records / (time.perf_counter() - t))
            t = time.perf_counter()
            listed = sum(1 for _ in client.datasets(name=name).records(batch_size=1000))
            results["list"].append(listed / (time.perf_counter() - t))
        best = {k: max(v) for k, v in results.items()}
        print(f"\n{n:,} records, best of {args.repeats} (records/s)\n")
        print("| operation | sluice (rec/s) | argilla client baseline (rec/s) | ratio |")
        print("|---|---:|---:|---:|")
        print(f"| push (sample + settings + upsert) | {best['push']:,.0f} | {best['log']:,.0f} (records.log) "
              f"| {best['push'] / best['log']:.2f} |")
        print(f"| pull (responses + aggregate + publish) | {best['pull']:,.0f} | {best['list']:,.0f} "
              f"(records iteration) | {best['pull'] / best['list']:.2f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
