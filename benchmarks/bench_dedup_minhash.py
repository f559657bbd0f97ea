"""MinHash signatures: sluice vs datasketch (per-shingle loop and ``MinHash.bulk``) and rensa, same run.

    python benchmarks/bench_dedup_minhash.py --size quick|full [--threads 2] [--json PATH]

Documents are ~100-word windows of real instruction text (alpaca_random_9k), normalized; 5-word
shingles, num_perm 128, seed 1. quick: 20,000 documents (datasketch on the first 4,000); full:
100,000 (datasketch on the first 20,000) — sluice is timed on the same documents as each baseline.

Same inputs, same thread counts: every baseline gets the shingles already cut (bytes, outside its
timer); sluice's timer starts from the normalized text (it cuts and hashes them itself). With
``--threads T`` sluice runs T threads, rensa T rayon threads (``RAYON_NUM_THREADS``), datasketch T
processes (a pool made before the timer; it is pure Python, so threads would not help it).

* datasketch ``update`` per shingle and ``MinHash.bulk`` (SHA1, its default hash).
* rensa ``RMinHash.digest_matrix_from_token_byte_sets`` on the same shingle bytes (target: sluice ≥ 1.0×),
  and rensa ``digest_matrix_from_flat_token_hashes`` on sluice's own 64-bit shingle hashes (its
  fastest path; its timer then excludes cutting and hashing).

Identity: on a sample, datasketch with ``hashfunc=shingle_hash`` gives exactly sluice's signatures.
Quality: precision/recall/F1 of the same LSH (threshold 0.8, datasketch's band rule) over planted
near duplicates (``sluice.curate.dedup.planted``: found at Jaccard ≥ 0.85, held apart ≤ 0.75) with
sluice's signatures and with rensa's. Rounds are interleaved (sluice, baseline, ...), load per round.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paths import SCRATCH, SHARED  # noqa: E402

DATA = SHARED / "instructions/alpaca_random_9k/random_9k.json"
SIZES = {"quick": {"docs": 20_000, "ds_docs": 4_000, "planted_from": 1_500, "rounds": 3},
         "full": {"docs": 100_000, "ds_docs": 20_000, "planted_from": 5_000, "rounds": 3}}


def documents(n: int, words: int = 100) -> list[str]:
    import numpy as np
    import polars as pl

    from sluice.curate.dedup.normalize import NormalizeOptions, normalize_strings

    items = json.loads(DATA.read_text())
    text = " ".join(" ".join(x for x in (r["instruction"], r["input"], r["output"]) if x) for r in items)
    tokens = normalize_strings(pl.Series([text]), NormalizeOptions())[0].split(" ")
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(tokens) - words, n)
    return [" ".join(tokens[s:s + words]) for s in starts]


def _ds_loop(chunk: list[list[bytes]]) -> int:
    from datasketch import MinHash

    for sh in chunk:
        m = MinHash(num_perm=128, seed=1)
        for s in sh:
            m.update(s)
    return len(chunk)


def _ds_bulk(chunk: list[list[bytes]]) -> int:
    from datasketch import MinHash

    return len(MinHash.bulk(chunk, num_perm=128, seed=1))


def _split(items: list, parts: int) -> list[list]:
    step = -(-len(items) // parts)
    return [items[i:i + step] for i in range(0, len(items), step)]


def planted_f1(sig_fn, planted) -> dict:
    from sluice.curate.dedup.lsh import near_duplicates, optimal_bands
    from sluice.curate.dedup.planted import evaluate

    sig = sig_fn(planted.texts)
    b, r = optimal_bands(0.8, 128, (0.2, 0.8))
    found = near_duplicates(sig, 0.8, b, r)
    res = evaluate(planted, [int(c) if c >= 0 else None for c in found.cluster], n=5, threshold=0.8)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="quick")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--json", default=str(SCRATCH / "minhash.json"))
    args = ap.parse_args()
    size = SIZES[args.size]
    rounds = args.rounds or size["rounds"]
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before rensa starts its pool

    import numpy as np
    import polars as pl
    from datasketch import MinHash
    from rensa import RMinHash

    import results
    from sluice.curate.dedup.minhash import shingle_hash, shingle_hashes, shingles, signatures
    from sluice.curate.dedup.normalize import NormalizeOptions, normalize_strings
    from sluice.curate.dedup.planted import plant

    T = args.threads
    docs = documents(size["docs"])
    series = pl.Series(docs)
    ds_series = series[: size["ds_docs"]]
    shingled = [shingles(d, 5) for d in docs]
    ds_shingled = shingled[: size["ds_docs"]]
    doc, h64 = shingle_hashes(series, 5)
    offsets = np.r_[0, np.cumsum(np.bincount(doc, minlength=len(docs)))].astype(np.uint64)
    sluice = lambda s: signatures(s, 5, num_perm=128, seed=1, threads=T)  # noqa: E731
    sluice(series[:100])  # compile / load once, outside the timers

    pool = ProcessPoolExecutor(T)
    list(pool.map(_ds_bulk, _split(ds_shingled[:T * 10], T)))  # start the workers outside the timers
    baselines = {
        "datasketch update loop": (ds_series, lambda: sum(pool.map(_ds_loop, _split(ds_shingled, T)))),
        "datasketch MinHash.bulk": (ds_series, lambda: sum(pool.map(_ds_bulk, _split(ds_shingled, T)))),
        "rensa token byte sets": (series, lambda: RMinHash.digest_matrix_from_token_byte_sets(shingled, 128, 1)),
        "rensa pre-hashed tokens": (series, lambda: RMinHash.digest_matrix_from_flat_token_hashes(h64, offsets,
                                                                                                   128, 1)),
    }
    rounds_by = {k: [] for k in baselines}
    for _ in range(rounds):
        for name, (inp, fn) in baselines.items():
            s_t, _ = results.timed(sluice, inp)
            b_t, _ = results.timed(fn)
            rounds_by[name].append(results.round_(s_t, b_t))
            print(f"{name}: sluice {s_t:.3f} s, baseline {b_t:.3f} s, load {rounds_by[name][-1]['load1']}",
                  flush=True)
    pool.shutdown()

    sample = docs[:300]
    sig = sluice(pl.Series(sample))
    same = 0
    for i, sh in enumerate(shingled[:300]):
        m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
        m.update_batch(sh)
        same += bool(np.array_equal(m.hashvalues, sig[i]))
    identical = same == len(sample)

    items = json.loads(DATA.read_text())[: size["planted_from"]]
    raw = pl.Series([" ".join(x for x in (r["instruction"], r["input"], r["output"]) if x) for r in items])
    planted = plant(normalize_strings(raw, NormalizeOptions()).to_list(), n=5, threshold=0.8, seed=1)
    f1_sluice = planted_f1(lambda t: sluice(pl.Series(t)), planted)
    f1_rensa = planted_f1(lambda t: np.asarray(RMinHash.digest_matrix_from_token_byte_sets(
        [shingles(x, 5) for x in t], 128, 1).to_rows(), dtype=np.uint32), planted)

    comps = []
    for name, (inp, _) in baselines.items():
        rensa = name.startswith("rensa")
        what = f"MinHash signatures, {len(inp):,} docs of 100 words, 5-word shingles, 128 perms"
        side = f"{T} rayon threads" if rensa else f"{T} processes"
        notes = ("baseline timer excludes cutting the shingles (given as bytes); sluice's includes it"
                 if name != "rensa pre-hashed tokens" else
                 "baseline gets sluice's 64-bit shingle hashes: its timer excludes cutting and hashing; sluice's "
                 "includes both")
        comps.append(results.comparison(
            what, f"sluice.curate.dedup.minhash.signatures ({T} threads)", f"{name} ({side})", rounds_by[name],
            target=1.0 if name == "rensa token byte sets" else None,
            identical=None if rensa else identical,
            quality={"planted_f1_sluice": f1_sluice, "planted_f1_rensa": f1_rensa} if rensa else
            {"identical_to_datasketch_shingle_hash": f"{same}/{len(sample)}"},
            notes=notes + ("; rensa's signatures use its own hash (not datasketch's), compared by F1" if rensa else
                           "; datasketch hashes with SHA1 here; with hashfunc=shingle_hash it gives sluice's "
                           "signatures exactly")))
    path = results.write(args.json, "minhash", args.size,
                         {"docs": size["docs"], "datasketch_docs": size["ds_docs"], "threads": T, "rounds": rounds,
                          "num_perm": 128, "ngram": 5}, comps)
    print(f"\nidentical to datasketch (hashfunc=shingle_hash): {same}/{len(sample)}")
    print(f"planted F1 (LSH 0.8): sluice {f1_sluice['f1']}, rensa {f1_rensa['f1']}")
    print("\n| baseline | docs | ratio (median) | min–max | noisy | target | load per round |")
    print("|---|---:|---:|---|---|---|---|")
    for c in comps:
        s = results.summarise(c)
        print(f"| {c['baseline']} | {c['what'].split(',')[1].strip().split(' ')[0]} | {s['ratio']}× | "
              f"{s['min']}–{s['max']} | {s['noisy']} | {s['meets_target']} | {s['load']} |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
