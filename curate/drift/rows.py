"""Drift's per-row work on the executor seam: features, language and embedding of every row, batch by batch.

``DriftRows`` is a bounded stage (sluice/stage.py): its ``partial()`` turns one batch into one
small row per conversation — the features of ``features.py`` and the embedding — and nothing
else (no text). ``per_row()`` plans the batches of a version the way ``sluice run`` does
(``sluice.runner.plan``) and maps them with an executor (``local``: this process or a pool of
worker processes; ``ray``: Ray Data actors, each holding a set-up embedder and language
identifier). Each job writes its partial as Parquet under a scratch folder of the store; the
driver then reads the partials back one batch at a time (``batches()``), so memory holds one
batch's vectors, not a window's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from sluice.executors import Executor
from sluice.stage import ROW, Stage, StageConfig

EMBEDDING = "embedding"


class DriftRows(Stage):
    name = "drift_rows"
    reads = ("messages",)
    optional_reads = ("lang", "refusal_pattern", "pii_findings", "feedback", "metadata", "tools", EMBEDDING)
    bounded = True

    class Config(StageConfig):
        metadata_keys: list[str] = []
        reuse: list[str] = []  # the recipe's columns read instead of recomputed (features.REUSABLE)
        own_embedding: bool = False  # read the version's embedding column (made by the default embedder)

    def setup(self) -> None:
        from .features import _embed_stage, _language

        self.embed = None if self.config.own_embedding else _embed_stage()
        self.language = None if "lang" in self.config.reuse else _language()

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        from .features import features

        if not hasattr(self, "language"):
            self.setup()
        out = features(batch, self.config.metadata_keys, self.language, tuple(self.config.reuse))
        if self.config.own_embedding:
            vectors = np.asarray(batch[EMBEDDING].to_numpy(), dtype=np.float32).reshape(batch.height, -1)
        else:
            vectors = self.embed.score(batch)[EMBEDDING].to_numpy().astype(np.float32).reshape(batch.height, -1)
        emb = pl.Series(EMBEDDING, vectors, dtype=pl.Array(pl.Float32, vectors.shape[1]))
        return out.with_columns(batch[ROW], emb)


def per_row(versions: list, config: list[dict], engine: Executor, scratch: Path, batch_rows: int) -> list[list[str]]:
    """Run ``DriftRows`` over every batch of each version on ``engine``; → per version, its partial
    files in row order. ``config[i]``: the stage config of ``versions[i]``."""
    from sluice.runner import plan

    out = []
    for i, v in enumerate(versions):
        stage = DriftRows(config[i])
        folder = scratch / f"{i}"
        jobs = [dataclasses.replace(j, mode="partial") for j in plan(v.files(), batch_rows, folder) if j.rows]
        for _ in engine.map(stage, stage.fingerprint("drift"), jobs):
            pass
        out.append([f"{folder.resolve()}/partials/part-{j.index:06d}.parquet" for j in jobs])
    return out


def batches(files: list[str]) -> Iterator[tuple[pl.DataFrame, np.ndarray]]:
    """(features, vectors) of each partial file in turn; the features without ``__row`` and the embedding."""
    for f in files:
        t = pq.read_table(f)
        col = t.column(EMBEDDING).combine_chunks()
        vectors = np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(t.num_rows, -1)
        yield pl.from_arrow(t.drop_columns([EMBEDDING, ROW])), vectors
