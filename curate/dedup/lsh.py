"""LSH banding over columnar signatures, polars group-by bucketing, verified pairs, union-find.

No in-memory dict index (datasketch's ``MinHashLSH`` keeps one Python dict entry per band per
document — the known out-of-memory trap at millions of rows). Here each band is one uint64
column of band hashes; a polars group-by over it yields the buckets with ≥ 2 members; each
bucket contributes star edges (every member ↔ the bucket's first member) plus chain edges
(consecutive members), so a bucket of k rows costs O(k) pairs, not O(k²). Every candidate
pair is verified by its estimated Jaccard (fraction of equal signature slots) ≥ threshold,
and clusters are the connected components of the verified edges (union-find semantics:
transitive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .minhash import fmix64, jaccard


def optimal_bands(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows) minimizing weighted false-positive + false-negative probability — the
    rule datasketch's ``MinHashLSH`` uses (``datasketch.lsh._optimal_param``)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, weights[0], weights[1])


def band_keys(sig: np.ndarray, band: int, rows: int) -> np.ndarray:
    """uint64 hash of the signature slots ``[band*rows, (band+1)*rows)`` of every row."""
    h = np.full(len(sig), band + 1, dtype=np.uint64)
    for col in range(band * rows, (band + 1) * rows):
        h = fmix64(h * np.uint64(0x100000001B3) ^ sig[:, col].astype(np.uint64))
    return h


def bucket_pairs(keys: np.ndarray, rows: np.ndarray) -> pl.DataFrame:
    """Candidate edges of one band: rows sharing a bucket key, as star + chain edges (left < right)."""
    buckets = (pl.DataFrame({"key": keys, "row": rows})
               .group_by("key").agg(pl.col("row").sort())
               .filter(pl.col("row").list.len() > 1))
    if not buckets.height:
        return pl.DataFrame(schema={"left": pl.Int64, "right": pl.Int64})
    star = buckets.select(pl.col("row").list.first().alias("left"), pl.col("row").list.slice(1).alias("right"))
    chain = buckets.select(pl.col("row").list.slice(0, pl.col("row").list.len() - 1).alias("left"),
                           pl.col("row").list.slice(1).alias("right"))
    return pl.concat([star.explode("right"), chain.explode("left", "right")]).cast(pl.Int64)


def candidate_pairs(sig: np.ndarray, bands: int, rows: int, valid: np.ndarray | None = None) -> pl.DataFrame:
    """Unique candidate pairs (left < right, row indices) sharing at least one band bucket."""
    index = np.arange(len(sig), dtype=np.int64) if valid is None else np.flatnonzero(valid)
    pairs = [bucket_pairs(band_keys(sig[index], band, rows), index) for band in range(bands)]
    return pl.concat(pairs).unique() if pairs else pl.DataFrame(schema={"left": pl.Int64, "right": pl.Int64})


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label per row (union-find over the edges); singletons get their own."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


@dataclass
class NearDuplicates:
    cluster: np.ndarray      # int64 label per row; -1 for rows without a verified near-duplicate
    max_jaccard: np.ndarray  # float32 best verified estimated Jaccard per row (nan: none)
    candidates: int          # candidate pairs from the buckets
    verified: int            # pairs whose estimated Jaccard reached the threshold


def near_duplicates(sig: np.ndarray, threshold: float, bands: int, rows: int,
                    valid: np.ndarray | None = None) -> NearDuplicates:
    pairs = candidate_pairs(sig, bands, rows, valid)
    return verify(sig, pairs["left"].to_numpy(), pairs["right"].to_numpy(), threshold)


def verify(sig: np.ndarray, left: np.ndarray, right: np.ndarray, threshold: float) -> NearDuplicates:
    """Keep the candidate pairs whose estimated Jaccard reaches ``threshold``; cluster the rows of ``sig``."""
    est = jaccard(sig, left, right)
    keep = est >= threshold
    candidates = len(left)
    left, right, est = left[keep], right[keep], est[keep]
    n = len(sig)
    best = np.full(n, np.nan, dtype=np.float32)
    if len(left):
        both = pl.DataFrame({"row": np.r_[left, right], "j": np.r_[est, est]}).group_by("row").agg(pl.col("j").max())
        best[both["row"].to_numpy()] = both["j"].to_numpy()
    labels = components(n, left, right)
    sizes = np.bincount(labels, minlength=n)
    cluster = np.where(sizes[labels] > 1, labels, -1).astype(np.int64)
    return NearDuplicates(cluster, best, candidates, int(keep.sum()))
