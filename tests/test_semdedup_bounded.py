"""SemDedup's bounded form (embed per batch → k-means on a sample → assignment per spilled batch →
per-cluster dedup one partition of whole clusters at a time) scores and decides exactly what the
one-table form does, however the rows are batched and partitioned (issue #30)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from test_bounded import bounded, conversations  # noqa: F401 — the shared 1,500 generated chats

from sluice.curate.dedup.semdedup import SemanticDedup, SemDedupScorer, assign, fit_centroids, kmeans, kmeans_sample
from sluice.stage import stage_class


@pytest.mark.parametrize("order,batch,partition", [("paper", 97, 150), ("quality", 5000, 10**6)])
def test_semdedup_bounded_equals_one_table(conversations, tmp_path, order, batch, partition):  # noqa: F811
    stage = stage_class("semdedup")(key="first_user", cluster_size=60, verify=None, order=order)
    assert stage.bounded
    want = stage.score(conversations)
    got = bounded(stage, conversations, tmp_path, batch, partition)
    assert want["dup_sem_cluster"].n_unique() == 25  # 1,500 rows / 60
    assert got.select(want.columns).equals(want)
    # and the decision built on it
    decided = SemanticDedup(eps=0.075).decide(conversations.hstack(want))
    assert decided["reason"].drop_nulls().len() > 20  # the generated chats repeat prompts
    assert SemanticDedup(eps=0.075).decide(conversations.hstack(got.select(want.columns))).equals(decided)
    assert stage.describe()["model"]["kind"] == "static"  # the manifest learns the model from the partials


def test_kmeans_is_fitted_on_a_sample_and_assignment_is_per_batch():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(8, 32))
    emb = (np.repeat(centers, 500, axis=0) + rng.normal(scale=0.05, size=(4000, 32))).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels, cent = kmeans(emb, 8, seed=0)
    sample = kmeans_sample(len(emb), 8, seed=0)
    assert len(sample) == 8 * 32 < len(emb)  # fitted on 32 rows per cluster
    assert np.array_equal(cent, fit_centroids(emb[sample], 8, seed=0))
    # batches assigned alone agree with one call: no batch needs another's rows
    assert np.array_equal(np.concatenate([assign(emb[i:i + 333], cent) for i in range(0, 4000, 333)]), labels)
    # the planted groups are recovered: each true group maps to one cluster
    truth = np.repeat(np.arange(8), 500)
    assert all(len(np.unique(labels[truth == g])) == 1 for g in range(8))
    assert len(np.unique(labels)) == 8


def test_semdedup_bounded_on_empty_input(tmp_path):
    stage = SemDedupScorer(key="first_user", verify=None)
    from sluice.executors.spill import Parts

    assert stage.combine(Parts([])).height == 0
    assert pl.DataFrame(schema=stage.EMPTY).columns == list(stage.adds)


def _semdedup_run(store, sample_logs, executor: str):
    from sluice.curate.ingest import ingest
    from sluice.recipe import Recipe
    from sluice.runner import run

    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    stages = [stage_class("semdedup")(key="first_user", cluster_size=40, verify=None),
              stage_class("semantic_dedup")(eps=0.1)]
    return run(Recipe(input="raw", output="sem", batch_size=64, executor=executor), stages, store=store)


def _one_table_rejections(store) -> set:
    frame = pl.from_arrow(store.resolve("raw").read())
    scored = frame.hstack(stage_class("semdedup")(key="first_user", cluster_size=40, verify=None).score(frame))
    decided = SemanticDedup(eps=0.1).decide(scored)
    return {(i, d) for i, r, d in zip(frame["id"], decided["reason"], decided["duplicate_of"]) if r is not None}


def _rejections(version) -> set:
    rej = version.read("rejected").select(["id", "stage", "duplicate_of"]).to_pylist()
    return {(r["id"], r["duplicate_of"]) for r in rej if r["stage"] == "semantic_dedup"}


def test_semdedup_through_the_runner_decides_what_one_table_decides(store, sample_logs):
    """The runner spills partials per 64-row batch (local executor) and combines them: the same rows
    are dropped, pointing at the same kept rows, as SemDedup over the whole table in one process."""
    result = _semdedup_run(store, sample_logs, "local")
    got = _rejections(result.version)
    assert len(got) > 10
    assert got == _one_table_rejections(store)
    assert result.version.manifest["stages"][0]["name"] == "semdedup"


@pytest.mark.slow
def test_semdedup_on_ray_decides_what_one_table_decides(store, sample_logs, monkeypatch):
    """Ray actors run partial() (embedding where the batch lies); the driver combines partitions."""
    pytest.importorskip("ray")
    import ray

    monkeypatch.setenv("RAY_ADDRESS", "local")  # a Ray of its own, never another run's cluster on this machine

    try:
        result = _semdedup_run(store, sample_logs, "ray")
    finally:
        ray.shutdown()
    got = _rejections(result.version)
    assert len(got) > 10
    assert got == _one_table_rejections(store)
