"""select: DEITA's greedy score-first diversity rule, exact against the one-at-a-time loop."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import polars as pl
import pytest

from sluice.curate.quality.select import Select, greedy_reference, greedy_select, walk_order
from sluice.recipe import Recipe
from sluice.runner import run


def _angles(*degrees: float) -> np.ndarray:
    return np.array([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees], dtype=np.float32)


def reference_batched(emb: np.ndarray, order: np.ndarray, tau: float, budget: int, batch: int) -> list[int]:
    """The DEITA reference's batched mode (IterativeFilter.filter with batch_size > 1), re-stated:
    a candidate is also rejected for resembling an *earlier candidate of its batch*, kept or not."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    picked = [int(order[0])]
    for s in range(1, len(order), batch):
        cur = order[s:s + batch]
        vs_kept = (unit[cur] @ unit[picked].T > tau).any(1)
        within = np.tril(unit[cur] @ unit[cur].T, -1)
        vs_batch = (within > tau).any(1)
        picked += [int(i) for i, bad in zip(cur, vs_kept | vs_batch) if not bad]
        if len(picked) >= budget:
            break
    return picked[:budget]


def test_hand_checkable_case_differs_from_distilabel_and_the_batched_reference():
    # A, B, C on the unit circle at 0°, 18°, 36°: cos(A,B) = cos(B,C) = 0.951 > 0.9, cos(A,C) = 0.809.
    # Scores 3 > 2 > 1. The paper's greedy rule: keep A; B is too close to A; C is far enough from
    # A (the only kept row) → {A, C}.
    emb, scores, tau = _angles(0, 18, 36), np.array([3.0, 2.0, 1.0]), 0.9
    order = walk_order(scores)
    assert greedy_reference(emb, order, tau, 3) == [0, 2]
    assert greedy_select(emb, order, tau, 3).selected.tolist() == [0, 2]

    # distilabel's DeitaFiltering keeps a row only if its nearest neighbour in the whole pool is at
    # cosine distance ≥ 1 − τ: every row has a neighbour at distance 0.049 → nothing is kept.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from distilabel.steps import DeitaFiltering

        step = DeitaFiltering(data_budget=3, diversity_threshold=round(1 - tau, 6))
        step.load()
        rows = [{"evol_instruction_score": float(s), "evol_response_score": 1.0, "embedding": e.tolist(), "k": k}
                for k, (s, e) in enumerate(zip(scores, emb))]
        assert [r["k"] for r in next(step.process(rows))] == []

    # The reference's batched mode (B and C in one batch): C is rejected for resembling B, which
    # was itself rejected → {A}.
    assert reference_batched(emb, order, tau, 3, batch=2) == [0]
    assert reference_batched(emb, order, tau, 3, batch=1) == [0, 2]  # batch size 1 is the rule


def _clustered(n: int, d: int, centers: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, d))
    x = c[rng.integers(0, centers, n)] + noise * rng.standard_normal((n, d))
    return x.astype(np.float32)


@pytest.mark.parametrize("seed,block,budget", [(0, 7, 50), (1, 64, 10_000), (2, 1024, 120), (3, 3, 1)])
def test_blocked_selection_equals_the_straightforward_loop(seed, block, budget):
    emb = _clustered(1500, 24, 150, 0.35, seed)
    scores = np.random.default_rng(seed).random(1500).round(2)  # many ties: input order breaks them
    order = walk_order(scores)
    for tau in (0.5, 0.9, 0.97):
        fast = greedy_select(emb, order, tau, budget, block=block, chunk=37)
        ref = greedy_reference(emb, order, tau, budget)
        assert fast.selected.tolist() == ref
        rejected = np.flatnonzero(fast.similar_to >= 0)
        assert not set(rejected) & set(ref)
        # every similarity-rejected row really is above τ to a row kept before it
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        sims = np.einsum("ij,ij->i", unit[rejected], unit[fast.similar_to[rejected]])
        assert (sims > tau - 1e-5).all()


@pytest.mark.parametrize("partition", [1, 37, 500, 10**6])
def test_walk_streamed_over_score_sorted_partitions_decides_the_same(partition):
    """GreedyWalk fed one score-sorted partition at a time (only that partition's embeddings, the kept set carried
    over) decides every row as the one-table walk does: same picks, same duplicate_of, same similarities."""
    from sluice.curate.quality.select import GreedyWalk

    emb = _clustered(2000, 24, 120, 0.35, 5)
    order = walk_order(np.random.default_rng(5).random(2000).round(2))
    for tau, budget in ((0.9, 150), (0.6, 10_000)):
        whole = greedy_select(emb, order, tau, budget)
        walk = GreedyWalk(emb.shape[1], tau, budget)
        for lo in range(0, len(order), partition):
            part = order[lo:lo + partition]
            for b in range(0, len(part), 64):  # blocks within the partition
                walk.feed(part[b:b + 64], emb[part[b:b + 64]].copy())
            if walk.full:
                break
        got = walk.selection(len(emb))
        assert got.selected.tolist() == whole.selected.tolist() == greedy_reference(emb, order, tau, budget)
        assert np.array_equal(got.similar_to, whole.similar_to)
        assert np.allclose(got.similarity, whole.similarity, equal_nan=True, atol=1e-6)
        assert len(walk.kept) <= budget  # the walk holds the kept set, never the candidates


def test_similarities_at_the_threshold_are_decided_exactly():
    # cos(x, y) is 0.9 up to float64 rounding; float32 alone cannot tell which side it falls on.
    y = np.array([0.9, math.sqrt(1 - 0.81)])
    emb = np.array([[1.0, 0.0], y, y * 1.0000001], dtype=np.float64).astype(np.float32)
    order = np.arange(3)
    for tau in (0.9, 0.9 - 1e-9, 0.9 + 1e-9, float(np.float32(0.9))):
        assert greedy_select(emb, order, tau, 3).selected.tolist() == greedy_reference(emb, order, tau, 3)


def test_select_stage_reasons_duplicate_of_and_accounting(store):
    from sluice.schemas import get

    emb = _angles(0, 18, 36, 90, 91, 180)
    ids = [f"c{i}" for i in range(6)]
    scores = [6.0, 5.0, 4.0, None, 3.0, 1.0]
    msgs = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]] * 6
    import pyarrow as pa

    base = pa.table({"id": ids, "source": ["t"] * 6, "source_id": ids, "created_at": [None] * 6,
                     "messages": msgs, "tools": [None] * 6, "feedback": [None] * 6, "metadata": [None] * 6},
                    schema=get("conversation").schema)
    with store.create("scored", "conversation") as w:
        w.write(base)
        w.publish({"rows_in": 6, "kept": 6, "rejected_total": 0, "rejected": {}, "quarantined_total": 0,
                   "quarantined": {}})

    Attach.payload = {"score_total": scores, "embedding": emb.tolist()}
    result = run(Recipe(input="scored", output="picked"), [Attach(), Select(budget=3, threshold=0.9)], store=store)
    kept = result.version.read().column("id").to_pylist()
    assert kept == ["c0", "c2", "c4"]  # c1 too close to c0; c3 unscored; c4 fills the budget
    rej = pl.from_arrow(result.version.read("rejected")).sort("id")
    assert rej.select("id", "reason", "duplicate_of").rows() == [
        ("c1", "similar_to_selected", "c0"), ("c3", "unscored", None), ("c5", "over_budget", None)]
    assert rej.filter(pl.col("id") == "c1")["detail"][0].startswith("cosine=0.95")
    acc = result.version.manifest["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] == 6


from sluice.stage import Scorer  # noqa: E402


class Attach(Scorer):
    """Test-only: adds fixed score/embedding columns (by row position)."""

    name = "attach"
    adds = ("score_total", "embedding")
    payload: dict = {}

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        return pl.DataFrame({"score_total": pl.Series(self.payload["score_total"], dtype=pl.Float64),
                             "embedding": pl.Series(self.payload["embedding"], dtype=pl.Array(pl.Float32, 2))})


def _published(store, name: str, n: int, metadata: list[str] | None = None):
    import pyarrow as pa

    from sluice.schemas import get

    ids = [f"c{i}" for i in range(n)]
    msgs = [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}] for i in range(n)]
    table = pa.table({"id": ids, "source": ["t"] * n, "source_id": ids, "created_at": [None] * n, "messages": msgs,
                      "tools": [None] * n, "feedback": [None] * n, "metadata": metadata or [None] * n},
                     schema=get("conversation").schema)
    with store.create(name, "conversation") as w:
        w.write(table)
        w.publish({"rows_in": n, "kept": n, "rejected_total": 0, "rejected": {}, "quarantined_total": 0,
                   "quarantined": {}})


class AttachScored(Scorer):
    """Test-only: score, scorer name and orthogonal embeddings (no row is similar to another)."""

    name = "attach_scored"
    adds = ("score_total", "scorer", "embedding")
    payload: dict = {}

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        return pl.DataFrame({"score_total": pl.Series(self.payload["score_total"], dtype=pl.Float64),
                             "scorer": [self.payload["scorer"]] * n,
                             "embedding": pl.Series(np.eye(n, dtype=np.float32).tolist(), dtype=pl.Array(pl.Float32, n))})


class AttachLearned(AttachScored):
    name = "attach_learned"  # its own checkpoint: the payload is not part of the fingerprint
    payload: dict = {}


def test_heuristic_scores_give_a_diversity_only_order_and_say_so(store, caplog):
    from sluice.curate.quality.select import hash_order

    n = 12
    _published(store, "scored", n)
    ids = [f"c{i}" for i in range(n)]
    AttachScored.payload = {"score_total": list(range(n)), "scorer": "heuristic-v1"}
    with caplog.at_level("WARNING"):
        result = run(Recipe(input="scored", output="picked"), [AttachScored(), Select(budget=4)], store=store)
    assert "diversity-only order" in caplog.text
    expected = {ids[i] for i in hash_order(ids, np.ones(n, bool))[:4]}
    assert set(result.version.read().column("id").to_pylist()) == expected
    assert expected != set(ids[-4:])  # not the heuristic's top 4
    info = next(s for s in result.version.manifest["stages"] if s["name"] == "select")["info"]
    assert info["order"] == "diversity" and "heuristic" in info["fallback"]
    assert "diversity-only order" in (result.version.path / "DATACARD.md").read_text()

    by_name = run(Recipe(input="scored", output="ranked"), [AttachScored(), Select(budget=4, order="score")], store=store)
    assert set(by_name.version.read().column("id").to_pylist()) == {"c11", "c10", "c9", "c8"}  # the heuristic, by name
    AttachLearned.payload = {"score_total": list(range(n)), "scorer": "learned:helpful"}
    learned = run(Recipe(input="scored", output="learned"), [AttachLearned(), Select(budget=4)], store=store)
    assert set(learned.version.read().column("id").to_pylist()) == {"c11", "c10", "c9", "c8"}


def test_select_reports_the_lift_of_a_label(store):
    n = 10
    meta = [json.dumps({"stars": s}) for s in (5, 5, 4, 1, 1, 1, 2, 1, 1, 1)]
    _published(store, "scored", n, metadata=meta)
    AttachScored.payload = {"score_total": [9.0, 8.0, 7.0] + [0.0] * 7, "scorer": "learned:x"}
    stage = Select(budget=2, label="metadata.stars", label_threshold=4)
    result = run(Recipe(input="scored", output="picked"), [AttachScored(), stage], store=store)
    lift = next(s for s in result.version.manifest["stages"] if s["name"] == "select")["info"]["lift"]
    assert lift["input_rate"] == pytest.approx(0.3) and lift["selected_rate"] == 1.0
    assert lift["lift"] == pytest.approx(1 / 0.3) and lift["labelled_in"] == n


@pytest.mark.parametrize("batch,partition", [(97, 150), (5000, 10**6)])
@pytest.mark.parametrize("config", [{"budget": 120}, {"budget": 10**6, "threshold": 0.6}, {"order": "diversity", "budget": 80},
                                    {"order": "auto"}, {"budget": 50, "label": "good"}])
def test_select_bounded_equals_one_table(tmp_path, batch, partition, config):
    """The bounded form (spilled keys and embeddings, walked in score-sorted partitions) decides as decide() does."""
    from test_bounded import bounded

    rng = np.random.default_rng(11)
    n = 1200
    emb = _clustered(n, 16, 90, 0.35, 11)
    score = rng.random(n).round(2)  # ties: input order breaks them
    frame = pl.DataFrame({
        "id": [f"r{i}" for i in range(n)],
        "score_total": pl.Series(np.where(rng.random(n) < 0.05, np.nan, score)).fill_nan(None),
        "scorer": ["heuristic-v1" if config.get("order") == "auto" else "judge"] * n,
        "embedding": pl.Series([None if i % 97 == 5 else e.tolist() for i, e in enumerate(emb)],
                               dtype=pl.List(pl.Float32)),
        "good": rng.random(n) < 0.4,
    })
    stage = Select(**config)
    want = stage.decide(frame)
    want_facts = stage.facts
    got = bounded(Select(**config), frame, tmp_path, batch, partition)
    assert want["reason"].drop_nulls().len() > 10
    assert got.select(want.columns).equals(want)
    stage2 = Select(**config)
    (tmp_path / "again").mkdir()
    bounded(stage2, frame, tmp_path / "again", batch, partition)
    assert stage2.facts == want_facts
