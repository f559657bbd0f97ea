"""Selection that sees agents: the agent signature in the embedding (tools offered, calls made),
select dropping an agent trace only for one with the same signature, quality turns that count a
call as an answer, an empty result that publishes empty instead of crashing, the agent funnel."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("model2vec")

from sluice.curate.ingest import ingest  # noqa: E402
from sluice.curate.quality.embed import SIGNATURE_DIMS, Embed  # noqa: E402
from sluice.curate.quality.select import Select  # noqa: E402
from sluice.curate.quality.text import agent_signature, turns  # noqa: E402

AGENTS = Path(__file__).parent / "data" / "agents"
GLAIVE = Path(__file__).parent / "data" / "reference" / "formats" / "llamafactory" / "glaive_toolcall_en_demo.json"


def _df(store, path) -> pl.DataFrame:
    return pl.from_arrow(ingest([str(path)], "raw", store=store).version.read())


def test_signature_block_separates_traces_that_make_other_calls(store):
    df = _df(store, AGENTS / "drone_training_30.jsonl").head(2)
    rows = df.to_dicts()
    twin = copy.deepcopy(rows[0])  # same words, another call
    twin["messages"][-1]["tool_calls"][0]["function"]["arguments"] = '{"altitude": 50}'
    df = pl.DataFrame([rows[0], copy.deepcopy(rows[0]), twin], schema=df.schema)
    e = Embed(model="static", text="user").score(df)["embedding"].to_numpy()
    assert e.shape[1] == Embed(model="static", text="user", tools=False).score(df)["embedding"].to_numpy().shape[1] \
        + SIGNATURE_DIMS
    assert e[0] @ e[1] == pytest.approx(1.0, abs=1e-5)
    assert e[0] @ e[2] <= 0.84 + 1e-5  # identical text, other call: never a near duplicate at τ 0.9


def test_rows_without_tools_embed_as_before(store):
    df = pl.from_arrow(ingest([str(Path(__file__).parents[1] / "examples" / "data" / "sample_logs.jsonl")], "raw",
                              store=store).version.read()).filter(pl.col("tools").is_null()).head(20)
    with_block = Embed(model="static").score(df)["embedding"].to_numpy()
    plain = Embed(model="static", tools=False).score(df)["embedding"].to_numpy()
    assert np.allclose(with_block[:, :plain.shape[1]], plain) and not with_block[:, plain.shape[1]:].any()


def test_select_drops_an_agent_trace_only_for_one_with_the_same_signature(store):
    """LLaMA-Factory's glaive demo slice: traces of one domain sharing their user phrasing."""
    df = _df(store, GLAIVE)
    kept = {}
    for tools in (False, True):
        emb = Embed(model="static", text="user", tools=tools).score(df)
        batch = pl.concat([df.select("id"), emb], how="horizontal").with_columns(
            pl.lit(0.5).alias("score_total"), pl.lit("heuristic-v1").alias("scorer"))
        out = Select(threshold=0.9, unranked="diversity").decide(batch)  # the walk itself, not the no-signal default
        kept[tools] = out["reason"].is_null().sum()
        if tools:
            sig = {r["id"]: agent_signature(r["messages"], r["tools"]) for r in df.to_dicts()}
            for rid, dup in zip(df["id"], out["duplicate_of"]):
                if dup is not None:
                    assert sig[rid] == sig[dup]
    assert kept[True] > kept[False]


def test_a_tool_call_is_an_answer_for_quality_turns(store):
    row = _df(store, AGENTS / "drone_training_30.jsonl").to_dicts()[0]
    assert turns(row["messages"]) == [(row["messages"][1]["content"], 'takeoff_drone({"altitude": 100})')]


def test_empty_result_publishes_empty_and_the_agent_funnel_counts(store):
    from sluice.recipe import Recipe
    from sluice.report import agent_funnel
    from sluice.runner import run

    ingest([str(AGENTS / "drone_training_30.jsonl")], "raw", store=store)
    stages = [{"stage": "length"}, {"stage": "length_filter", "min_chars": {"user": 100000, "assistant": 1}},
              {"stage": "embed", "model": "static", "text": "user"}, {"stage": "quality_score"},
              {"stage": "select", "threshold": 0.9}]
    recipe = Recipe.model_validate({"name": "empty", "input": "raw@latest", "output": "curated", "stages": stages,
                                    "allow_empty": True})
    version = run(recipe, recipe.build(), store=store).version
    assert version.num_rows() == 0 and version.manifest["accounting"]["rejected_total"] == 30
    assert agent_funnel(version) == {"length_filter": {"traces": 30, "tool_calls": 30}}
