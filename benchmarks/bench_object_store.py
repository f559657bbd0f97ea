"""A local store root against an S3 root (moto's S3 server on 127.0.0.1), side by side.

Interleaved rounds (local, s3, local, s3, ...) of: ingest the bundled sample, then run a 7-stage
recipe (normalize, length, length_filter, exact_hash, exact_dedup, minhash, near_dedup) with the
local executor. Each round starts from an empty root. Prints one JSON record per round (seconds,
load average, S3 requests) and the median s3/local ratio. The server runs in this process (moto's
ThreadedMotoServer), so it competes for the same CPUs: the ratio is an upper bound on what the
store costs against a real object store's latency-bound requests, not a prediction of it.

    python benchmarks/bench_object_store.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = [{"stage": "normalize"}, {"stage": "length"},
          {"stage": "length_filter", "min_chars": {"user": 1, "assistant": 1}},
          {"stage": "exact_hash"}, {"stage": "exact_dedup"}, {"stage": "minhash"}, {"stage": "near_dedup"}]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--input", default=str(REPO / "examples" / "data" / "sample_logs.jsonl"))
    args = ap.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import WSGIRequestHandler

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    boto3.client("s3").create_bucket(Bucket="bench")
    requests = [0]
    WSGIRequestHandler.log_request = lambda self, *a, **k: requests.__setitem__(0, requests[0] + 1)

    from sluice.curate.ingest import ingest
    from sluice.recipe import Recipe
    from sluice.runner import run
    from sluice.store import Store

    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-object-store-") as tmp:
        for r in range(args.rounds):
            for label in ("local", "s3"):
                root = f"s3://bench/r{r}" if label == "s3" else str(Path(tmp) / f"r{r}")
                store, before, load = Store(root), requests[0], round(os.getloadavg()[0], 1)
                t0 = time.perf_counter()
                ingest([args.input], to="raw", store=store, workers=1)
                t1 = time.perf_counter()
                recipe = Recipe(batch_size=100, input="raw", output="curated", stages=RECIPE)
                version = run(recipe, recipe.build(), store=store).version
                t2 = time.perf_counter()
                record = {"round": r, "root": label, "ingest_s": round(t1 - t0, 2), "run_s": round(t2 - t1, 2),
                          "kept": version.num_rows(), "s3_requests": requests[0] - before, "load1": load,
                          "shards": [s["sha256"][:12] for s in version.manifest["parts"]["data"]["shards"]]}
                rounds.append(record)
                print(json.dumps(record), flush=True)
    server.stop()
    by = {label: [x for x in rounds if x["root"] == label] for label in ("local", "s3")}
    for key in ("ingest_s", "run_s"):
        ratios = [s[key] / loc[key] for loc, s in zip(by["local"], by["s3"])]
        print(f"{key}: s3/local median {statistics.median(ratios):.2f}x (rounds {[round(x, 2) for x in ratios]})")
    same = all(s["shards"] == loc["shards"] for loc, s in zip(by["local"], by["s3"]))
    print(f"byte-identical data shards on both roots: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
