"""Judge a sample, fit, apply at scale — with tiny local models built here:

* the DEITA quality scorer by path (a tiny Llama: real logprob-weighted 1–6 scores) judges a
  sample, `sluice quality fit` learns the judgments (numeric label → Spearman), and
  `quality_score scorer: DIR` + `select` apply the scorer to every row;
* a chat judge behind a real `transformers serve` on 127.0.0.1: the UltraFeedback rubric is sent
  to the server for exactly the sampled rows, and every verdict is either a 1–5 rating or counted
  with its parse-failure reason (the tiny model's replies are random text, so most are counted).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.curate.quality.judge import QualityJudge, in_sample
from sluice.recipe import Recipe
from sluice.runner import run

DATA = Path(__file__).parent / "data" / "quality" / "alpaca_gpt4_pairs.jsonl"


def _recipe(store, input_ref: str, output: str, stages: list[dict]):
    recipe = Recipe.model_validate({"name": output, "input": input_ref, "output": output, "stages": stages})
    return run(recipe, recipe.build(), store=store)


@pytest.fixture(scope="module")
def tiny_scorer(tmp_path_factory):
    from sluice import tiny
    from sluice.curate.quality import deita

    folder = tmp_path_factory.mktemp("tiny-deita")
    corpus = [deita.quality_prompt("Explain hash maps.", "A hash map stores keys."), "1 2 3 4 5 6 quality score"]
    tok = tiny.build_tokenizer(corpus, "{{ messages }}", vocab_size=400)
    return str(tiny.build_model(folder, tok, hidden_size=32, layers=1, max_positions=1024))


@pytest.fixture
def raw(store):
    from sluice.curate.ingest import ingest

    return ingest([str(DATA)], "raw", store=store).version


def test_sample_is_stable_and_about_the_rate():
    ids = [f"row-{i}" for i in range(4000)]
    picked = [i for i in ids if in_sample(i, 0.25)]
    assert picked == [i for i in ids if in_sample(i, 0.25)]
    assert 900 < len(picked) < 1100
    assert all(in_sample(i, 1.0) for i in ids[:10])


def test_judge_a_sample_fit_and_apply_at_scale(store, raw, tiny_scorer, tmp_path):
    judged = _recipe(store, raw.ref, "judged", [{"stage": "quality_judge", "deita_model": tiny_scorer,
                                                 "sample_rate": 0.6, "device": "cpu"},
                                                {"stage": "embed", "max_tokens": 64}]).version
    df = pl.from_arrow(judged.read())
    sampled = df["id"].map_elements(lambda i: in_sample(i, 0.6), return_dtype=pl.Boolean)
    assert (df["judge_score"].is_not_null() == sampled).all()  # exactly the sample is judged
    assert df["judge_score"].drop_nulls().is_between(1, 6).all()
    assert df["judge_score"].drop_nulls().n_unique() > 10  # real scores, not a constant
    info = next(s for s in judged.manifest["stages"] if s["name"] == "quality_judge")
    assert info["counters"]["judged"] == int(sampled.sum()) and info["info"]["judge"].startswith("deita-quality:")

    result = CliRunner().invoke(app, ["quality", "fit", judged.ref, "--label", "judge_score", "--out",
                                      str(tmp_path / "scorer"), "--root", str(store.root)])
    assert result.exit_code == 0, result.output
    assert "Spearman" in result.output and f"{int(sampled.sum())} labels" in result.output
    meta = json.loads((tmp_path / "scorer" / "scorer.json").read_text())
    assert meta["kind"] == "numeric" and meta["label"] == "judge_score" and meta["trained_on"] == judged.ref

    applied = _recipe(store, judged.ref, "curated", [{"stage": "quality_score", "scorer": str(tmp_path / "scorer")},
                                                     {"stage": "select", "budget": 20, "label": "judge_score",
                                                      "label_threshold": float(df["judge_score"].median())}]).version
    every = pl.concat([pl.from_arrow(applied.read()).select("score_total"),
                       pl.from_arrow(applied.read("rejected")).select("score_total")])
    assert every.height == raw.num_rows() and every["score_total"].is_not_null().all()  # every row, not the sample
    sel = next(s for s in applied.manifest["stages"] if s["name"] == "select")["info"]
    assert sel["order"] == "score" and sel["lift"]["labelled_in"] == int(sampled.sum())


def test_one_judge_and_no_remote_without_consent():
    with pytest.raises(Exception, match="exactly one judge"):
        QualityJudge()
    with pytest.raises(Exception, match="not on this machine"):
        QualityJudge(llm={"backend": "openai", "model": "m", "base_url": "https://judge.example.com/v1"})
    assert QualityJudge(llm={"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}).config


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tests.test_synth_serve import serve_tiny_model

    yield from serve_tiny_model(tmp_path_factory.mktemp("serve-judge"))


def test_chat_judge_against_transformers_serve(store, raw, served):
    model, url = served
    llm = {"backend": "openai", "model": model, "base_url": url, "max_concurrency": 4,
           "generation": {"max_new_tokens": 12}}
    judged = _recipe(store, raw.ref, "judged_chat", [{"stage": "quality_judge", "llm": llm, "sample_rate": 0.1}]).version
    df = pl.from_arrow(judged.read())
    sampled = int(df["id"].map_elements(lambda i: in_sample(i, 0.1), return_dtype=pl.Boolean).sum())
    assert sampled > 0 and df["judge"].is_not_null().sum() == sampled
    assert df["judge"].drop_nulls().unique().to_list() == [f"ultrafeedback-helpfulness:{model}"]
    assert df["judge_score"].drop_nulls().is_between(1, 5).all()
    counters = next(s for s in judged.manifest["stages"] if s["name"] == "quality_judge")["counters"]
    reasons = {k: v for k, v in counters.items() if k != "judged"}
    assert counters.get("judged", 0) + sum(reasons.values()) == sampled  # every verdict accounted for
    assert set(reasons) <= {"judge_unparseable", "judge_wrong_count", "judge_out_of_range", "generation_failed",
                            "empty_generation"}
