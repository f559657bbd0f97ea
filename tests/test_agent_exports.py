"""Exports of agent traces: OpenAI fine-tuning (tools wrapped, parallel_tool_calls), TRL messages +
tools (+ reasoning_content), a Responses-style export; every round-tripping layout comes back
through `sluice ingest` as the identical table (ingest → export → ingest), on every real sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.curate.ingest import ingest
from sluice.export import export
from test_export_targets import check_openai_line

AGENTS = Path(__file__).parent / "data" / "agents"
REFERENCE = Path(__file__).parent / "data" / "reference" / "formats"
SAMPLES = [AGENTS / "responses_reasoning_items.jsonl", AGENTS / "anthropic_thinking_tools.jsonl",
           AGENTS / "otel_genai_spans.jsonl", AGENTS / "langfuse_langgraph_trace.json",
           AGENTS / "drone_training_30.jsonl",
           REFERENCE / "llamafactory" / "glaive_toolcall_en_demo.json"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["responses", "openai", "sharegpt", "jsonl"])
def test_round_trip_is_identical(sample, fmt, store, tmp_path):
    version = ingest([str(sample)], "raw", store=store, workers=1).version
    out = tmp_path / f"x.{fmt}.jsonl"
    export(version, fmt, out)
    back = ingest([str(out)], "back", store=store, workers=1).version
    assert back.read().equals(version.read())


def test_responses_export_shape(store, tmp_path):
    version = ingest([str(AGENTS / "anthropic_thinking_tools.jsonl")], "raw", store=store).version
    out = tmp_path / "r.jsonl"
    export(version, "responses", out, plain=True)
    single = _lines(out)[0]
    assert set(single) == {"input", "output", "tools"}
    assert single["tools"][0] == {"type": "function", "name": "weather",
                                  "description": "Get current weather information for a location.",
                                  "parameters": {"type": "object", "required": ["location"], "properties": {
                                      "location": {"type": "string", "description": "The location to get weather for."}}}}
    kinds = [i.get("type", "message") for i in single["input"]]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    assert single["input"][1]["summary"][0]["text"].startswith("The user is asking about the weather")
    assert single["input"][2]["call_id"] == single["input"][3]["call_id"] == "toolu_011zq3UUZMaun5xroKNw2c95"
    assert [i["type"] for i in single["output"]] == ["message"]


def test_openai_and_trl_exports_of_agent_traces(store, tmp_path):
    version = ingest([str(AGENTS / "anthropic_thinking_tools.jsonl")], "raw", store=store).version
    out = tmp_path / "o.jsonl"
    export(version, "openai", out, plain=True)
    for rec in _lines(out):
        check_openai_line(rec)  # Anthropic tools become valid OpenAI function tools
        assert all("parameters" in t["function"] for t in rec["tools"])
        assert not any("reasoning" in m for m in rec["messages"])  # OpenAI messages cannot carry it
    trl = tmp_path / "t.jsonl"
    export(version, "trl", trl)
    first = _lines(trl)[0]
    assert first["messages"][1]["reasoning_content"].startswith("The user is asking about the weather")
    assert first["messages"][1]["content"] is None and first["tools"][0]["function"]["name"] == "weather"


def test_versions_of_the_old_message_schema_still_read_run_and_export(store, tmp_path):
    """A version written before messages had ``reasoning`` (schema v1: reasoning in
    ``extra.reasoning``) reads with the field null, runs through a recipe, and its reasoning still
    reaches the layouts that carry it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sluice.recipe import Recipe, stage_class
    from sluice.runner import run
    from sluice.schemas import MESSAGE_V1, MESSAGES

    version = ingest([str(AGENTS / "anthropic_thinking_tools.jsonl")], "raw", store=store).version
    for f in version.files():  # rewrite the shards as an older sluice wrote them
        t = pq.read_table(f)
        i = t.schema.get_field_index("messages")
        old = [[{**{k: v for k, v in m.items() if k != "reasoning"},
                 "extra": json.dumps({**json.loads(m["extra"] or "{}"), "reasoning": m["reasoning"]})
                 if m["reasoning"] else m["extra"]} for m in row] for row in t.column("messages").to_pylist()]
        pq.write_table(t.set_column(i, pa.field("messages", pa.list_(MESSAGE_V1), False),
                                    pa.array(old, pa.list_(MESSAGE_V1))), f)
    assert pq.read_schema(version.files()[0]).field("messages").type == pa.list_(MESSAGE_V1)
    table = version.read()
    assert table.schema.field("messages").type == MESSAGES
    assert all(m["reasoning"] is None for row in table.column("messages").to_pylist() for m in row)
    result = run(Recipe(input=version.ref, output="after"), [stage_class("normalize")()], store=store)
    assert result.version.manifest["accounting"]["kept"] == 3
    out = tmp_path / "trl.jsonl"
    export(result.version, "trl", out)
    assert _lines(out)[0]["messages"][1]["reasoning_content"].startswith("The user is asking about the weather")


def test_exports_that_cannot_carry_reasoning_say_so(store, tmp_path):
    from typer.testing import CliRunner

    from sluice.cli import app
    from sluice.export import uncarried_reasoning

    version = ingest([str(AGENTS / "anthropic_thinking_tools.jsonl")], "raw", store=store).version
    assert uncarried_reasoning(version, "openai") == 2 and uncarried_reasoning(version, "sharegpt") == 2
    assert uncarried_reasoning(version, "trl") == uncarried_reasoning(version, "responses") == 0
    runner = CliRunner()
    args = ["datasets", "export", version.ref, "--root", str(store.root), "--allow-unredacted", "--json"]
    said = json.loads(runner.invoke(app, [*args, "--format", "openai", "--out", str(tmp_path / "o.jsonl")]).stdout)
    assert said["reasoning_not_carried"] == 2
    said = json.loads(runner.invoke(app, [*args, "--format", "trl", "--out", str(tmp_path / "t.jsonl")]).stdout)
    assert said["reasoning_not_carried"] == 0
    text = runner.invoke(app, args[:-1] + ["--format", "openai", "--plain", "--out", str(tmp_path / "p.jsonl")]).stderr
    assert "2 messages have reasoning, which openai messages have no field for (left out: --plain)" in " ".join(text.split())
