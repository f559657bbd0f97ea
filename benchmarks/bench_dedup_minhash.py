"""MinHash signatures: sluice (vectorized across documents, 2 threads) vs datasketch, same run.

    python benchmarks/bench_dedup_minhash.py [--docs 100000] [--sample 1000] [--rounds 2]

Documents are ~100-word windows of real instruction text (alpaca_random_9k), normalized,
5-word shingles, num_perm=128, seed=1. Baselines: datasketch ``MinHash.update`` once per
shingle, and ``MinHash.update_batch`` once per document, both with datasketch's default SHA1
hash (its fastest built-in); they run on a ``--sample`` subsample and their docs/s is
extrapolated (the per-shingle loop takes minutes at 100k). Rounds are interleaved. Identity:
on the subsample, datasketch with ``hashfunc=shingle_hash`` gives exactly sluice's signatures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl
from datasketch import MinHash

from sluice.curate.dedup.minhash import shingle_hash, shingles, signatures
from sluice.curate.dedup.normalize import NormalizeOptions, normalize_strings

DATA = Path(__file__).resolve().parents[2] / "shared/data/instructions/alpaca_random_9k/random_9k.json"


def documents(n: int, words: int = 100) -> list[str]:
    items = json.loads(DATA.read_text())
    text = " ".join(" ".join(x for x in (r["instruction"], r["input"], r["output"]) if x) for r in items)
    tokens = normalize_strings(pl.Series([text]), NormalizeOptions())[0].split(" ")
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(tokens) - words, n)
    return [" ".join(tokens[s:s + words]) for s in starts]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    docs = documents(args.docs)
    series = pl.Series(docs)
    sample = docs[: args.sample]
    shingled = [shingles(d, 5) for d in sample]
    rates: dict[str, list[float]] = {"sluice": [], "update loop": [], "update_batch": []}
    for _ in range(args.rounds):
        t = time.perf_counter()
        sig = signatures(series, 5, num_perm=128, seed=1, threads=2)
        rates["sluice"].append(args.docs / (time.perf_counter() - t))
        t = time.perf_counter()
        for sh in shingled:
            m = MinHash(num_perm=128, seed=1)
            for s in sh:
                m.update(s)
        rates["update loop"].append(len(sample) / (time.perf_counter() - t))
        t = time.perf_counter()
        for sh in shingled:
            m = MinHash(num_perm=128, seed=1)
            m.update_batch(sh)
        rates["update_batch"].append(len(sample) / (time.perf_counter() - t))
    same = 0
    for i, sh in enumerate(shingled):
        m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
        m.update_batch(sh)
        same += bool(np.array_equal(m.hashvalues, sig[i]))
    best = {k: max(v) for k, v in rates.items()}
    print(f"{args.docs:,} docs of 100 words ({sum(map(len, shingled)) / len(shingled):.0f} shingles each), "
          f"num_perm 128; baselines on {len(sample):,} docs; identical signatures {same}/{len(sample)}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n| method | docs/s (best of rounds) | all rounds | sluice speed-up |")
    print("|---|---:|---:|---:|")
    for k, v in rates.items():
        print(f"| {k} | {best[k]:,.0f} | {', '.join(f'{x:,.0f}' for x in v)} | {best['sluice'] / best[k]:.1f}× |")


if __name__ == "__main__":
    main()
