"""SemDedup of generated conversations: time split into embed / cluster / dedup.

    python benchmarks/bench_dedup_semdedup.py [--embed 2000] [--rows 100000] [--model static]

Embedding (the project's loader: ``--model static`` by default, or a transformer such as
all-MiniLM-L6-v2; CPU, first user turn, full length) runs on ``--embed`` generated
conversations and is extrapolated to ``--rows`` at the measured rate. k-means (scikit-learn,
k = rows/1000) and the within-cluster dedup run at the full ``--rows`` on those real embeddings
tiled with small noise (so cluster structure and sizes are realistic).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embed", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--model", default="static")
    args = ap.parse_args()
    import generate_logs

    from sluice.curate.dedup.normalize import key_text
    from sluice.curate.dedup.semdedup import kmeans, within_clusters
    from sluice.curate.quality.embed import embed_texts, load_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "logs.jsonl"
        generate_logs.write(path, args.embed, seed=3, clean=True)
        rows = [r for r in pl.read_ndjson(path, infer_schema_length=None).to_dicts()]
    msgs = pl.DataFrame({"messages": [[{"role": m["role"], "content": m.get("content") or ""} for m in r["messages"]]
                                      for r in rows]})
    texts = msgs.select(key_text("first_user")).to_series().to_list()
    model = load_model(args.model)
    t = time.perf_counter()
    emb = embed_texts(model, texts)
    t_embed = time.perf_counter() - t
    rng = np.random.default_rng(0)
    big = np.tile(emb, (args.rows // len(emb) + 1, 1))[: args.rows]
    big = big + rng.normal(scale=0.02, size=big.shape).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    t = time.perf_counter()
    labels, cent = kmeans(big, max(1, args.rows // 1000), 0)
    t_cluster = time.perf_counter() - t
    t = time.perf_counter()
    s = within_clusters(big, labels, cent)
    t_dedup = time.perf_counter() - t
    rate = len(texts) / t_embed
    removed = float(np.nanmean(np.nan_to_num(s["sim"], nan=-1) >= 0.95))
    print(f"{args.model}: embedded {len(texts):,} first user turns at {rate:,.0f} rows/s; k-means k={args.rows // 1000}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n| rows | embed (s) | cluster (s) | dedup (s) | total (s) | removed at eps 0.05 |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.rows:,} | {args.rows / rate:,.0f} (extrapolated from {len(texts):,}) | {t_cluster:.1f} | "
          f"{t_dedup:.1f} | {args.rows / rate + t_cluster + t_dedup:,.0f} | {removed:.1%} (tiled data) |")


if __name__ == "__main__":
    main()
