"""Bounded whole-dataset forms (partial per batch → spilled → combine by partitions) decide exactly
what the one-table forms decide, however the rows are batched and partitioned."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from sluice.executors.batch import answer_for, normalize_answer
from sluice.executors.spill import Parts
from sluice.stage import ROW, stage_class


@pytest.fixture(scope="module")
def conversations(tmp_path_factory):
    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    tmp = tmp_path_factory.mktemp("bounded")
    counts = generate_logs.write(tmp / "logs.jsonl", 1500, seed=3, clean=True)
    assert counts["near_duplicates"] and counts["exact_duplicates"]
    store = Store(tmp / "store")
    ingest([str(tmp / "logs.jsonl")], "raw", store=store, workers=1)
    frame = pl.from_arrow(store.resolve("raw").read())
    rng = np.random.default_rng(0)
    # score_total: the column quality_score adds, keep: quality's default
    quality = pl.Series("score_total", rng.random(frame.height)).set(pl.Series(rng.random(frame.height) < 0.2), None)
    return frame.with_columns(quality)


def bounded(stage, frame: pl.DataFrame, tmp_path, batch: int, rows_per_partition: int) -> pl.DataFrame:
    """The stage's answer through partial() per batch, Parquet spill, combine() — aligned to rows."""
    files = []
    cols = stage.columns(frame.columns)
    for i, lo in enumerate(range(0, frame.height, batch)):
        part = frame.slice(lo, batch).select(cols).with_columns(
            pl.int_range(lo, lo + min(batch, frame.height - lo), dtype=pl.Int64, eager=True).alias(ROW))
        path = tmp_path / f"part-{i:04d}.parquet"
        pq.write_table(stage.partial(part).to_arrow(), path)
        files.append(str(path))
    answer = tmp_path / "answer.parquet"
    pq.write_table(normalize_answer(stage, stage.combine(Parts(files, rows_per_partition))).to_arrow(), answer)
    return answer_for(stage, str(answer), 0, frame.height)


@pytest.mark.parametrize("keep", ["auto", "longest", "earliest", "quality"])
@pytest.mark.parametrize("batch,partition", [(97, 150), (5000, 10**6)])
def test_exact_dedup_bounded_equals_one_table(conversations, tmp_path, keep, batch, partition):
    hashed = conversations.hstack(stage_class("exact_hash")().score(conversations))
    stage = stage_class("exact_dedup")(keep=keep)
    want = stage.decide(hashed)
    got = bounded(stage, hashed, tmp_path, batch, partition)
    assert want["reason"].drop_nulls().len() > 10  # the data has exact duplicates
    assert got.select(want.columns).equals(want)


@pytest.mark.parametrize("batch,partition", [(97, 150), (5000, 10**6)])
def test_minhash_and_near_dedup_bounded_equal_one_table(conversations, tmp_path, batch, partition):
    minhash = stage_class("minhash")()
    want = minhash.score(conversations)
    got = bounded(minhash, conversations, tmp_path, batch, partition)
    assert want["dup_near_cluster"].drop_nulls().len() > 10  # the data has near duplicates
    assert got.select(want.columns).equals(want)
    scored = conversations.hstack(want)
    near = stage_class("near_dedup")()
    (tmp_path / "near").mkdir()
    decided = near.decide(scored)
    assert bounded(near, scored, tmp_path / "near", batch, partition).select(decided.columns).equals(decided)


def test_projection_reads_only_declared_columns(conversations):
    exact = stage_class("exact_dedup")(keep="earliest")
    assert set(exact.columns(conversations.columns + ["dup_exact_hash"])) == {"id", "dup_exact_hash", "created_at"}
    semdedup = stage_class("semdedup")()
    # the texts feed its facts guard and verify; the vectors come from the embedding column
    assert semdedup.columns(["id", "messages", "embedding", "metadata"]) == ["id", "messages", "embedding"]


def test_signatures_do_not_depend_on_how_the_work_is_sliced(conversations):
    from sluice.curate.dedup.minhash import signatures
    from sluice.curate.dedup.normalize import NormalizeOptions, normalized_key

    texts = normalized_key(conversations, "conversation", NormalizeOptions())
    whole = signatures(texts, bytes_per_job=1 << 40, docs_per_job=10**9)
    assert np.array_equal(signatures(texts, bytes_per_job=10_000, docs_per_job=7), whole)
