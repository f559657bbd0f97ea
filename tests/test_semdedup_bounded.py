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
