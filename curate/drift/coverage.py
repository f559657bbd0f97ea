"""Coverage in embedding space: which new conversations have no near neighbour in the training data.

The training version's vectors go into a usearch HNSW index (cosine), built once per training
version and embedder and cached in the store beside the versions
(``<root>/<name>/drift-index/v<N>-<embedder>/``, like reports: derived, immutable, rebuildable).

*Calibration from the training set itself*: ``calibration_rows`` training rows are held out one
at a time (leave-one-out: the nearest *other* training row), which gives the distribution of
nearest-neighbour distances of rows drawn from the training distribution. A new row is
*uncovered* when its nearest training row is farther than the policy's quantile of that
distribution (default 0.99): a window drawn from the training distribution has about 1% of its
rows uncovered, whatever the embedder or data — the rate the binomial test compares against.

A row can also sit within the radius and still be a topic the training data barely holds: in
the static embedding, GSM8K word problems lie as close to Alpaca rows as Alpaca rows lie to each
other (BENCHMARKS.md, #33), but they crowd together. So each new row's ``neighbours`` nearest
rows are looked up in a pool of the training sample and a sample of the new window: when both
are one distribution, the count of new rows among them is Binomial(k, share of new rows in the
pool); a row whose count is improbable under that (p under ``neighbour_alpha``) sits in a
neighbourhood of new traffic the training data does not match. Uncovered rows are the rows
beyond the radius and these; they are grouped (average-linkage clustering on cosine distance)
and each group is named by its top terms (c-TF-IDF: frequent in the group, rare in the training
rows) and its commonest language.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from sluice.store import Version

INDEX_FORMAT = 1
EXACT_BELOW = 20_000  # rows under which a search is exact (brute force), not HNSW (usearch, cosine)
_TERM = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+|[^\W\d_]{2,}")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def terms(text: str, lowercase_only: bool = False) -> set[str]:
    """Words of a text (CJK runs as character bigrams); with ``lowercase_only`` capitalized words and
    words with digits are left out (names, codes: possible personal data in unredacted text)."""
    out = set()
    for m in _TERM.finditer(text or ""):
        w = m.group(0)
        if _CJK.match(w):
            out.update(w[i:i + 2] for i in range(max(len(w) - 1, 1)))
        elif not (lowercase_only and not w.islower()):
            out.add(w.lower())
    return out


class TrainingIndex:
    """The cached nearest-neighbour index of one training version under one embedder."""

    def __init__(self, folder: Path):
        from usearch.index import Index

        self.folder = folder
        self.meta = json.loads((folder / "meta.json").read_text())
        self.index = Index.restore(str(folder / "index.usearch"), view=True)
        self.calibration = np.load(folder / "calibration.npy")
        self.sample = np.load(folder / "sample.npy")
        self.df = Counter(json.loads((folder / "terms.json").read_text()))
        self.rows = int(self.meta["rows"])

    @property
    def features(self):
        import polars as pl

        return pl.read_parquet(self.folder / "features.parquet")

    def radius(self, quantile: float) -> float:
        return float(np.quantile(self.calibration, quantile))

    def nearest(self, vectors: np.ndarray, threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(distance, training row key) of each vector's nearest training row."""
        if len(vectors) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        m = self.index.search(vectors, 1, threads=threads, exact=self.rows < EXACT_BELOW)
        return np.asarray(m.distances, np.float32).reshape(-1), np.asarray(m.keys, np.int64).reshape(-1)


def index_folder(version: Version, embedder_key: str) -> Path:
    return version.path.parent / "drift-index" / f"v{version.number}-{embedder_key[:16]}"


def picks(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``n`` row numbers without repeats, in the order drawn."""
    return rng.choice(n, min(k, n), replace=False) if n else np.zeros(0, np.int64)


class Gather:
    """The vectors of chosen rows (in the order chosen), collected while batches stream past."""

    def __init__(self, rows: np.ndarray):
        self.rows, self.order = np.asarray(rows, np.int64), np.argsort(rows, kind="stable")
        self.sorted = self.rows[self.order]
        self.parts: list[np.ndarray] = []

    def add(self, first: int, vectors: np.ndarray) -> None:
        lo, hi = np.searchsorted(self.sorted, [first, first + len(vectors)])
        if hi > lo:
            self.parts.append(vectors[self.sorted[lo:hi] - first])

    def vectors(self, dim: int) -> np.ndarray:
        got = np.vstack(self.parts) if self.parts else np.zeros((0, dim), np.float32)
        out = np.empty_like(got)
        out[self.order] = got
        return out


def build_index(version: Version, batches, n: int, user_texts, features, embedder_key: str,
                calibration_rows: int, sample_rows: int, meta: dict, seed: int = 0, threads: int = 0) -> TrainingIndex:
    """Build, calibrate and cache the index of ``version`` with what later runs need instead of
    reading the training rows again: the per-row features (``features.py``), a sample of the
    vectors (topics, the classifier test) and term document frequencies (names). ``batches``:
    each batch's vectors in row order (``n`` rows in all), added to the index as they come;
    ``user_texts(rows)``: the user text of those training rows (for term frequencies)."""
    from usearch.index import Index

    folder = index_folder(version, embedder_key)
    if (folder / "meta.json").is_file():
        return TrainingIndex(folder)
    rng = np.random.default_rng(seed)
    held = picks(n, calibration_rows, rng) if n > 1 else np.zeros(0, np.int64)
    sample_rows = picks(n, sample_rows, rng)
    held_g, sample_g = Gather(held), Gather(sample_rows)
    index, dim, at = None, 0, 0
    for vectors in batches:
        if index is None:
            dim = vectors.shape[1]
            index = Index(ndim=dim, metric="cos", dtype="f32")
        index.add(np.arange(at, at + len(vectors), dtype=np.int64), vectors, threads=threads)
        held_g.add(at, vectors)
        sample_g.add(at, vectors)
        at += len(vectors)
    calibration = np.zeros(0, np.float32)
    if len(held):
        m = index.search(held_g.vectors(dim), 2, threads=threads, exact=n < EXACT_BELOW)
        keys, dists = np.asarray(m.keys).reshape(len(held), -1), np.asarray(m.distances).reshape(len(held), -1)
        own = keys[:, 0] == held  # the row itself comes first; an exact duplicate may come first instead
        calibration = np.where(own, dists[:, 1], dists[:, 0]).astype(np.float32)
    sample = sample_g.vectors(dim)
    text_rows = picks(n, 20_000, np.random.default_rng(seed))
    df: Counter = Counter()
    for text in user_texts(set(text_rows.tolist())).values():
        df.update(terms(text))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{os.getpid()}-{folder.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    index.save(str(tmp / "index.usearch"))
    np.save(tmp / "calibration.npy", calibration)
    np.save(tmp / "sample.npy", sample)
    features.write_parquet(tmp / "features.parquet")
    (tmp / "terms.json").write_text(json.dumps({"__rows__": len(text_rows), **dict(df.most_common(200_000))}))
    (tmp / "meta.json").write_text(json.dumps({"format": INDEX_FORMAT, "ref": version.ref, "rows": n, "dim": dim,
                                               "embedder": embedder_key, "calibration_rows": len(held), **meta}))
    try:
        tmp.rename(folder)
    except OSError:  # a concurrent builder won; its index is the same
        shutil.rmtree(tmp, ignore_errors=True)
    return TrainingIndex(folder)


class Pool:
    """The pooled reference set of the neighbourhood test: the training sample and a sample of the
    new window (rows ``pick``, sorted, vectors ``picked``). ``counts(first, vectors)``: per new row
    of a batch starting at row ``first``, how many of its ``neighbours`` nearest pool rows (itself
    excluded) come from the new window; ``share``: the share of new rows in the pool (what that
    count is, on average, when both windows are one distribution)."""

    def __init__(self, train_sample: np.ndarray, picked: np.ndarray, pick: np.ndarray, neighbours: int,
                 threads: int = 0):
        from usearch.index import Index

        pool = np.vstack([train_sample, picked]).astype(np.float32)
        self.m_t, self.pick, self.k, self.threads = len(train_sample), pick, neighbours, threads
        self.index = Index(ndim=pool.shape[1], metric="cos", dtype="f32")
        self.index.add(np.arange(len(pool), dtype=np.int64), pool, threads=threads)
        self.exact = len(pool) < EXACT_BELOW
        self.share = len(pick) / max(len(pool) - 1, 1)

    def counts(self, first: int, vectors: np.ndarray) -> np.ndarray:
        k = self.k
        out = np.zeros(len(vectors), np.int64)
        lo, hi = np.searchsorted(self.pick, [first, first + len(vectors)])
        own_all = np.full(len(vectors), -1, np.int64)
        own_all[self.pick[lo:hi] - first] = self.m_t + np.arange(lo, hi)
        for start in range(0, len(vectors), 65536):
            part = slice(start, start + 65536)
            keys = np.asarray(self.index.search(vectors[part], k + 1, threads=self.threads, exact=self.exact).keys)
            keys = keys.reshape(-1, k + 1)
            mine = own_all[part][:, None]
            # drop the row itself where it is in the pool; else the farthest of the k + 1
            keep = np.where((keys == mine).any(1)[:, None], keys != mine, np.arange(k + 1) < k)
            out[part] = ((keys >= self.m_t) & keep).sum(1)
        return out


def cluster(vectors: np.ndarray, distance: float, sample: int, seed: int = 0) -> np.ndarray:
    """Group labels (0..k−1, largest first) of unit ``vectors``: average-linkage agglomerative clustering
    on cosine distance over a sample; the other rows join the nearest group's centroid."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    if n < 2:
        return np.zeros(n, np.int64)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, sample, replace=False)) if n > sample else np.arange(n)
    fit = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine",
                                  linkage="average").fit_predict(vectors[pick])
    k = int(fit.max()) + 1
    if n > sample:
        cents = np.vstack([vectors[pick][fit == c].mean(0) for c in range(k)])
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        labels = np.argmax(vectors @ cents.T, axis=1)
        labels[pick] = fit
    else:
        labels = fit
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    remap = np.empty(k, np.int64)
    remap[order] = np.arange(k)
    return remap[labels]


def name_cluster(texts: list[str], train_df: Counter, top: int, min_rows: int, lowercase_only: bool) -> list[str]:
    """Top terms of a cluster: share of its rows using the term × log(inverse training document frequency)."""
    tf: Counter = Counter()
    for t in texts:
        tf.update(terms(t, lowercase_only))
    n_train = train_df.get("__rows__", 0)
    need = min(min_rows, max(len(texts), 1))
    scored = [(tf[w] / len(texts) * math.log((1 + n_train) / (1 + train_df.get(w, 0))), w)
              for w in tf if tf[w] >= need]
    return [w for _, w in sorted(scored, key=lambda x: (-x[0], x[1]))[:top]]
