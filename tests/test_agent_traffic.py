"""Agent traffic (OpenAI's function-calling sample, tests/data/agents): answers that are tool calls,
near-dup keys that leave out the shared system prompt and tool list, the quickstart keeping it."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sluice.curate.dedup.near import MinHashScorer
from sluice.curate.dedup.normalize import key_text
from sluice.curate.ingest import ingest

DRONE = Path(__file__).parent / "data" / "agents" / "drone_training_30.jsonl"


def _raw(store):
    return pl.from_arrow(ingest([str(DRONE)], "raw", store=store).version.read())


def test_dialogue_key_leaves_out_system_prompt_and_tools_but_keeps_calls(store):
    df = _raw(store)
    texts = df.select(key_text("dialogue")).to_series().to_list()
    system = df["messages"][0][0]["content"]
    assert all(system not in t for t in texts)
    assert "takeoff_drone" in texts[0] and '"altitude": 100' in texts[0]  # the call is the answer
    assert len(set(texts)) == df.height


def test_near_dedup_keeps_distinct_requests_of_agent_data(store):
    df = _raw(store)
    whole = MinHashScorer(key="conversation", threshold=0.8).score(df)
    default = MinHashScorer(threshold=0.8).score(df)
    merged_whole = whole["dup_near_cluster"].drop_nulls().len()
    merged_default = default["dup_near_cluster"].drop_nulls().len()
    assert merged_whole >= 6  # the shared system prompt makes distinct requests "near duplicates"
    assert merged_default <= 2


def test_quickstart_pre_dedup_stages_keep_tool_call_answers(store):
    import yaml

    from sluice.recipe import Recipe
    from sluice.runner import run

    ingest([str(DRONE)], "raw", store=store)
    body = yaml.safe_load((Path(__file__).parents[1] / "examples" / "quickstart.yaml").read_text())
    names = [s["stage"] for s in body["stages"]]
    keep = {"length", "length_filter", "language", "language_filter", "heuristics", "heuristics_filter",
            "refusal", "refusal_filter", "exact_hash", "exact_dedup", "minhash", "near_dedup"}
    recipe = Recipe.model_validate({**body, "stages": [s for s in body["stages"] if s["stage"] in keep]})
    assert keep <= set(names)
    result = run(recipe, recipe.build(), store=store)
    acc = result.version.manifest["accounting"]
    assert acc["rows_in"] == 30 and acc["kept"] >= 28, acc["rejected"]
