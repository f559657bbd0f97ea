"""MinHash signatures equal datasketch's; LSH parameters follow datasketch's rule; planted-duplicate F1."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash, MinHashLSH

from sluice.curate.dedup.lsh import near_duplicates, optimal_bands
from sluice.curate.dedup.minhash import shingle_hash, shingles, signatures
from sluice.curate.dedup.normalize import NormalizeOptions, normalize_strings
from sluice.curate.dedup.planted import evaluate, plant

ALPACA = "formats/llamafactory/alpaca_en_demo.json"  # real instruction data, vendored (Apache-2.0)

TEXTS = [
    "the quick brown fox jumps over the lazy dog and then runs away into the forest",
    "",
    "two words",
    "héllo wörld — ünïcode ñ 漢字 text with more words than the shingle size",
    "a b c d e",
    "x",
]


def reference(text: str, n: int, unit: str, num_perm: int, seed: int, batch: bool = False) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
    if batch:
        m.update_batch(shingles(text, n, unit))
    else:
        for s in shingles(text, n, unit):
            m.update(s)
    return m.hashvalues


@pytest.mark.parametrize("unit,n,num_perm,seed", [("word", 5, 128, 1), ("word", 1, 64, 7), ("word", 13, 32, 3),
                                                  ("char", 4, 128, 1), ("char", 1, 16, 42)])
def test_signatures_equal_datasketch(unit, n, num_perm, seed):
    texts = normalize_strings(pl.Series(TEXTS), NormalizeOptions())
    sig = signatures(texts, n=n, unit=unit, num_perm=num_perm, seed=seed, threads=2, docs_per_job=2)
    assert sig.shape == (len(TEXTS), num_perm) and sig.dtype == np.uint32
    for i, text in enumerate(texts.to_list()):
        assert np.array_equal(sig[i], reference(text, n, unit, num_perm, seed)), (i, text)
        assert np.array_equal(sig[i], reference(text, n, unit, num_perm, seed, batch=True))
    assert (sig[1] == np.uint32(0xFFFFFFFF)).all()  # empty text: datasketch's initial value


def test_compiled_and_numpy_paths_equal_datasketch(shared_data):
    """The numba kernel (used when numba is installed) and the numpy fallback give datasketch's signatures."""
    pytest.importorskip("numba")
    from sluice.curate.dedup import minhash

    items = json.loads((shared_data / ALPACA).read_text())[:200]
    texts = normalize_strings(pl.Series([r["instruction"] + "\n" + r["output"] for r in items] + TEXTS),
                              NormalizeOptions())
    for unit, n in (("word", 5), ("word", 1), ("char", 4)):
        a, b = minhash.permutations(128, 1)
        compiled = minhash._slice_signatures(texts, n, unit, a, b, 500, compiled=True)
        numpy = minhash._slice_signatures(texts, n, unit, a, b, 500, compiled=False)
        assert np.array_equal(compiled, numpy), unit
        for i in (0, 1, 57, 199, len(texts) - 5, len(texts) - 1):
            assert np.array_equal(compiled[i], reference(texts[i], n, unit, 128, 1)), (unit, i)


def test_signatures_equal_datasketch_on_real_text(shared_data):
    items = json.loads((shared_data / ALPACA).read_text())[:300]
    texts = normalize_strings(pl.Series([r["instruction"] + "\n" + r["output"] for r in items]), NormalizeOptions())
    sig = signatures(texts, n=5, docs_per_job=37, chunk_shingles=500)  # many small chunks on threads
    for i, text in enumerate(texts.to_list()):
        assert np.array_equal(sig[i], reference(text, 5, "word", 128, 1)), i


def test_bands_rows_follow_datasketch_and_lsh_agrees():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=(0.2, 0.8))
        assert optimal_bands(threshold, 128, (0.2, 0.8)) == (lsh.b, lsh.r)
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(500)]
    base = [" ".join(rng.choice(vocab, 60)) for _ in range(40)]
    texts = base + [t.replace(t.split(" ")[10], "zzz", 1) for t in base[:20]]  # one word changed: J ≈ 0.84
    sig = signatures(pl.Series(texts), n=5)
    b, r = optimal_bands(0.8, 128, (0.2, 0.8))
    found = near_duplicates(sig, 0.8, b, r)
    # datasketch's own index over the same signatures finds the same verified pairs
    lsh = MinHashLSH(threshold=0.8, num_perm=128, params=(b, r))
    for i, s in enumerate(sig):
        lsh.insert(i, MinHash(hashvalues=s, scheme="affine32", seed=1))
    for i in range(20):
        q = lsh.query(MinHash(hashvalues=sig[i], scheme="affine32", seed=1))
        verified = {j for j in q if j != i and (sig[i] == sig[j]).mean() >= 0.8}
        assert verified == ({40 + i} if found.cluster[i] == found.cluster[40 + i] >= 0 else set())
    assert (found.cluster[:20] >= 0).sum() >= 14 and (found.cluster[20:40] == -1).all()


def test_planted_duplicates_f1(shared_data):
    items = json.loads((shared_data / ALPACA).read_text())
    raw = pl.Series([" ".join(x for x in (r["instruction"], r["input"], r["output"]) if x) for r in items[:2500]])
    planted = plant(normalize_strings(raw, NormalizeOptions()).to_list(), n=5, threshold=0.8, seed=1)
    assert len(planted.positives) > 200 and set(planted.edit) >= {"typos", "reorder", "insert", "truncate"}
    sig = signatures(pl.Series(planted.texts), n=5)
    b, r = optimal_bands(0.8, 128, (0.2, 0.8))
    found = near_duplicates(sig, 0.8, b, r)
    result = evaluate(planted, [int(c) if c >= 0 else None for c in found.cluster], n=5, threshold=0.8)
    print(result)
    assert result["f1"] >= 0.9, result
    assert result["negatives_merged"] <= 0.02 * result["negatives"], result
