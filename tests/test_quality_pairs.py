"""Quality scores against human preferences (issue #32 items 3 and 6) on 300 real HH-RLHF pairs
(tests/data/preferences, MIT): the pairwise report, the Bradley–Terry fit with length debiasing,
a scorer no better than chance flagged and not ranked by, and select keeping every row when
nothing ranks them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.curate.quality import pairs as P
from sluice.curate.quality.learned import LearnedScorer, auroc_interval
from sluice.curate.quality.select import Select
from sluice.errors import DataError

DATA = Path(__file__).parent / "data" / "preferences" / "hh_rlhf_harmless_300.jsonl"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout if "--json" in args else result.output


def test_reads_hh_transcripts_prompt_rows_and_sharegpt_rows(tmp_path):
    pairs = P.read_pairs(DATA)
    assert len(pairs) == 300
    p = pairs[0]
    assert p.chosen[0]["role"] == "user" and p.chosen[-1]["role"] == "assistant"
    assert p.chosen[:-1] == p.rejected[:-1] and p.key == "\n".join(m["content"] for m in p.chosen[:-1])
    f = tmp_path / "mixed.jsonl"
    f.write_text(json.dumps({"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "No."}) + "\n"
                 + json.dumps({"conversations": [{"from": "human", "value": "Hi"}],
                               "chosen": {"from": "gpt", "value": "Hello!"},
                               "rejected": {"from": "gpt", "value": "What"}}) + "\n")
    a, b = P.read_pairs(f)
    assert a.chosen == [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]
    assert b.rejected == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "What"}]


def test_a_bad_row_names_file_line_and_field(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n" + json.dumps({"chosen": "a"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: no field 'rejected'"):
        P.read_pairs(f)
    f.write_text("{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: not JSON"):
        P.read_pairs(f)


def test_eval_reports_the_heuristic_length_bias_on_real_pairs():
    r = json.loads(_cli("quality", "eval", "--pairs", str(DATA), "--json"))
    assert r["pairs"] == 300 and 0 <= r["ci95"][0] <= r["accuracy"] <= r["ci95"][1] <= 1
    # the offline heuristic rewards length: on harmlessness pairs it follows the longer answer
    assert r["length_spearman"] > 0.2
    assert r["rejected_longer"]["accuracy"] < 0.3 < 0.7 < r["chosen_longer"]["accuracy"]
    held = json.loads(_cli("quality", "eval", "--pairs", str(DATA), "--held-out", "0.5", "--json"))
    assert 0 < held["pairs"] < 300 and held["pairs"] == sum(P.held_out(p) for p in P.read_pairs(DATA))


def test_pairwise_report_counts_ties_half_and_slices_by_length():
    r = P.pairwise_report(np.array([2.0, 1.0, 1.0, 0.0]), np.array([1.0, 2.0, 1.0, 1.0]),
                          np.array([5.0, 5.0, 5.0, 1.0]), np.array([1.0, 9.0, 1.0, 9.0]))
    assert r["accuracy"] == pytest.approx(1.5 / 4) and r["ties"] == 1
    assert r["rejected_longer"] == {"pairs": 2, "accuracy": 0.0} and r["chosen_longer"]["accuracy"] == 0.75
    assert not r["better_than_chance"]


def test_residual_debiasing_makes_the_utility_blind_to_length():
    rng = np.random.default_rng(0)
    n, d = 400, 12
    F_c, F_r = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    j = d - len(P.CHEAP) + P.CHEAP.index("assistant_words")
    F_c[:, j] += 1.0  # the chosen side is longer, and feature 0 tracks length
    F_c[:, 0] += 0.8 * F_c[:, j]
    F_r[:, 0] += 0.8 * F_r[:, j]
    rows = np.vstack([F_c, F_r])
    for mode, biased in (("keep", True), ("residual", False)):
        w = P._bt(F_c, F_r, mode, C=1.0)
        corr = np.corrcoef(rows @ w, rows[:, j])[0, 1]
        assert (abs(corr) > 0.3) if biased else (abs(corr) < 1e-6), (mode, corr)
    assert not P._bt(F_c, F_r, "drop", C=1.0)[P.length_columns(d)].any()


@pytest.mark.slow
def test_fit_pairs_writes_a_scorer_that_quality_score_runs(tmp_path):
    out = tmp_path / "pref"
    _cli("quality", "fit", "--pairs", str(DATA), "--out", str(out), "--embedding-model", "static")
    scorer = LearnedScorer.load(out)
    m = scorer.metrics
    assert scorer.head == "bradley-terry" and m["length"] == "residual" and m["train_pairs"] + m["held_out"]["pairs"] == 300
    assert m["cv_ci95"][0] <= m["cv_accuracy"] <= m["cv_ci95"][1]
    assert m["better_than_chance"] == (m["cv_ci95"][0] > 0.5) == scorer.better_than_chance
    held = json.loads(_cli("quality", "eval", "--pairs", str(DATA), "--scorer", str(out), "--held-out", "0.5", "--json"))
    assert held["accuracy"] == pytest.approx(m["held_out"]["accuracy"])  # the stage scores as the fit did


def test_a_scorer_no_better_than_chance_says_so_and_select_does_not_rank_by_it(tmp_path, caplog):
    # every pair twice, once each way round: nothing to learn, cross-validated accuracy exactly 0.5
    rows = [json.loads(line) for line in DATA.read_text().splitlines()[:60]]
    mirrored = tmp_path / "mirrored.jsonl"
    mirrored.write_text("".join(json.dumps(r) + "\n" + json.dumps({"chosen": r["rejected"], "rejected": r["chosen"]})
                                + "\n" for r in rows))
    out = tmp_path / "chance"
    said = _cli("quality", "fit", "--pairs", str(mirrored), "--out", str(out), "--embedding-model", "static",
                "--holdout", "0")
    assert "no better than chance" in " ".join(said.split())
    scorer = LearnedScorer.load(out)
    assert scorer.metrics["cv_accuracy"] == pytest.approx(0.5) and not scorer.better_than_chance

    from sluice.curate.quality.score import QualityScore

    stage = QualityScore(scorer=str(out))
    conv = [P.read_pairs(DATA)[0].chosen] * 3
    with caplog.at_level("WARNING"):
        scored = stage.score(pl.DataFrame({"messages": conv}))
    assert scored["scorer"].to_list() == ["learned-chance:chance"] * 3 and "no better than chance" in caplog.text
    batch = pl.DataFrame({"id": ["a", "b", "c"], "score_total": [3.0, 2.0, 1.0], "scorer": scored["scorer"],
                          "embedding": [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]})
    sel = Select(budget=2)
    sel.decide(batch)
    assert sel.facts["order"] == "diversity" and "no better than chance" in sel.facts["fallback"]


def test_auroc_interval():
    lo, hi = auroc_interval(0.55, 10, 10)
    assert lo < 0.5 < 0.55 < hi
    assert auroc_interval(0.8, 200, 200)[0] > 0.7


def test_select_keeps_every_row_when_nothing_ranks_them_and_no_budget(caplog):
    emb = [[1.0, 0.0], [0.999, 0.04], [0.0, 1.0], [0.02, 0.9998]]  # two pairs of near-duplicates
    batch = pl.DataFrame({"id": list("abcd"), "score_total": [4.0, 3.0, 2.0, 1.0], "scorer": ["heuristic-v1"] * 4,
                          "embedding": emb})
    keep = Select(threshold=0.9)
    with caplog.at_level("WARNING"):
        out = keep.decide(batch)
    assert out["reason"].null_count() == 4 and keep.facts["unranked"] == {"kept_all": True,
                                                                           "diversity_walk_would_cut": 2}
    assert "kept all 4 rows" in caplog.text
    walk = Select(threshold=0.9, unranked="diversity").decide(batch)
    assert walk["reason"].to_list().count("similar_to_selected") == 2
    ranked = Select(threshold=0.9).decide(batch.with_columns(pl.lit("learned:x").alias("scorer")))
    assert ranked["reason"].to_list() == [None, "similar_to_selected", None, "similar_to_selected"]
    budget = Select(threshold=0.9, budget=2).decide(batch)  # a budget must cut: the hash-order walk
    assert budget["reason"].null_count() == 2
