"""Dedup stages in recipes: accounting adds up, every duplicate points at a kept id, keep policies."""

from __future__ import annotations

import textwrap

import numpy as np
import polars as pl
import pytest

from sluice.curate.dedup.exact import ExactDedup, ExactHash
from sluice.curate.dedup.near import MinHashScorer, NearDedup
from sluice.curate.dedup.semdedup import SemanticDedup, SemDedupScorer, semantic_curve
from sluice.recipe import load_recipe
from sluice.runner import run

RECIPE = """
name: dedup-test
input: raw@latest
output: deduped
stages:
  - stage: normalize
  - stage: exact_hash
  - stage: exact_dedup
  - stage: minhash
    threshold: 0.7
  - stage: near_dedup
    keep: earliest
  - stage: contamination
    evalsets: [{{name: gsm8k, path: {gsm}, fields: [question]}}]
  - stage: decontaminate
"""


@pytest.fixture
def raw(store, sample_logs):
    from sluice.curate.ingest import ingest

    return ingest([str(sample_logs)], "raw", store=store).version


def test_recipe_accounting_and_duplicate_of(store, raw, tmp_path, shared_data):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(gsm=shared_data / "evalsets/gsm8k/test.jsonl")))
    recipe, stages = load_recipe(path)
    result = run(recipe, stages, store=store)
    acc = result.version.manifest["accounting"]
    assert acc["rows_in"] == 591 == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    assert acc["rejected"]["exact_dedup"]["exact_duplicate"] > 0
    assert acc["rejected"]["near_dedup"]["near_duplicate"] > 0
    assert "decontaminate" not in acc["rejected"]  # the generated chats hold no gsm8k items
    kept = pl.from_arrow(result.version.read())
    rejected = pl.from_arrow(result.version.read("rejected"))
    assert {"dup_exact_hash", "dup_near_cluster", "dup_near_jaccard", "contam_matched"} <= set(kept.columns)
    alive = set(kept["id"])
    for stage in ("exact_dedup", "near_dedup"):
        part = rejected.filter(pl.col("stage") == stage)
        assert part["duplicate_of"].null_count() == 0
        later = set(rejected.filter(pl.col("stage") != stage)["id"])
        # the kept row survived this stage: it is in the output or was dropped by a later stage
        assert set(part["duplicate_of"]) <= alive | later
        assert not set(part["duplicate_of"]) & set(part["id"])
    exact = rejected.filter(pl.col("stage") == "exact_dedup")
    by_id = {r["id"]: r for r in pl.concat([kept, rejected], how="diagonal_relaxed").to_dicts()}
    for row in exact.head(20).to_dicts():
        assert by_id[row["duplicate_of"]]["dup_exact_hash"] == row["dup_exact_hash"]
    # repeated run: every stage comes from its checkpoint
    again = run(*load_recipe(path), store=store)
    assert again.reused and all(s.cached for s in again.stages)

    from sluice.curate.dedup.report import duplicate_report

    rep = duplicate_report(result.version, store)
    assert rep["stages"]["exact_dedup"]["removed"] == acc["rejected"]["exact_dedup"]["exact_duplicate"]
    hist = rep["stages"]["near_dedup"]["histogram"]
    assert sum(h["clusters"] for h in hist) == rep["stages"]["near_dedup"]["clusters"]
    assert not rep["redacted"] and all("example" not in c for c in rep["stages"]["near_dedup"]["largest"])


def conversations(texts: list[str], **columns) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))],
                         "messages": [[{"role": "user", "content": t}, {"role": "assistant", "content": "ok " * (i % 3)}]
                                      for i, t in enumerate(texts)], **columns})


def test_keep_policies():
    texts = ["Hello  World", "hello world", "HELLO WORLD!", "other"]
    batch = conversations(texts, score_total=[0.1, 0.9, None, 0.5])
    batch = batch.hstack(ExactHash(key="first_user", normalize={"punctuation": True}).score(batch))
    assert batch["dup_exact_hash"].n_unique() == 2
    best = ExactDedup(keep="quality").decide(batch)
    assert best["reason"].to_list() == ["exact_duplicate", None, "exact_duplicate", None]
    assert best["duplicate_of"].to_list() == ["r1", None, "r1", None]
    assert ExactDedup(keep="earliest").decide(batch)["duplicate_of"].to_list() == [None, "r0", "r0", None]
    longest = ExactDedup(keep="longest").decide(batch.drop("score_total"))  # r2 has the longest answer
    assert longest["duplicate_of"].to_list() == ["r2", "r2", None, None]
    assert ExactDedup().decide(batch)["duplicate_of"].to_list() == ["r1", None, "r1", None]  # auto → quality


def test_near_dedup_stage_clusters_transitively():
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(3000)]
    base = [" ".join(rng.choice(vocab, 80)) for _ in range(30)]
    chain = base[0].split(" ")
    texts = base + [" ".join(chain[:78] + ["x"] * 2), " ".join(chain[:76] + ["y"] * 4)]
    batch = conversations(texts)
    batch = batch.hstack(MinHashScorer(key="first_user", threshold=0.8).score(batch))
    cluster = batch["dup_near_cluster"].to_list()
    assert cluster[0] == cluster[30] == cluster[31] == "r0"
    assert all(c is None for c in cluster[1:30])
    decision = NearDedup(keep="earliest").decide(batch)
    assert decision["reason"].to_list().count("near_duplicate") == 2
    assert decision["duplicate_of"].to_list()[30:] == ["r0", "r0"]


def test_semdedup_reuses_embedding_column_and_resolves_chains():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 16))
    emb = np.repeat(centers, 4, axis=0) + rng.normal(scale=0.01, size=(20, 16))  # 5 groups of 4 near-identical
    batch = conversations([f"t{chr(97 + i)}" for i in range(20)], embedding=emb.astype(np.float32).tolist())
    scorer = SemDedupScorer(n_clusters=5, model="/nonexistent/model", verify=None)  # never loaded: column reused
    batch = batch.hstack(scorer.score(batch))
    assert batch["dup_sem_cluster"].n_unique() == 5
    assert batch["dup_sem_sim"].null_count() == 5  # the first of each cluster has no earlier row
    decision = SemanticDedup(eps=0.01).decide(batch)
    assert decision["reason"].drop_nulls().len() == 15
    kept = set(batch["id"].filter(decision["reason"].is_null()))
    assert len(kept) == 5 and set(decision["duplicate_of"].drop_nulls()) <= kept
    groups = {row: row // 4 for row in range(20)}
    ids = batch["id"].to_list()
    for i, d in enumerate(decision["duplicate_of"].to_list()):
        if d is not None:
            assert groups[ids.index(d)] == groups[i]
    curve = semantic_curve(batch["dup_sem_sim"], [0.001, 0.01, 0.5])
    assert [c["removed"] for c in curve][1:] == [15, 15] and curve[0]["removed"] <= 15


@pytest.mark.slow
def test_semdedup_embeds_with_the_default_model():
    texts = ["How do I reset my password?", "How can I reset my password?", "What is the capital of France?",
             "Tell me the capital city of France.", "Write a haiku about autumn leaves."]
    batch = conversations(texts)
    out = SemDedupScorer(key="first_user", n_clusters=2).score(batch)
    decision = SemanticDedup(eps=0.15).decide(batch.hstack(out))
    assert decision["reason"].drop_nulls().len() >= 1
    assert decision["reason"][4] is None
