"""Agent-trace readers on real samples (tests/data/agents/SOURCE.md): OpenAI Responses items,
Anthropic content blocks, OTel GenAI spans. Each sample is ingested exactly: every record kept or
quarantined with its reason, reasoning in its own field (never in content), calls and results paired."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from sluice.curate.ingest import detect, ingest
from sluice.curate.ingest.run import _first_records

AGENTS = Path(__file__).parent / "data" / "agents"


def _rows(store, name: str, **kw):
    result = ingest([str(AGENTS / name)], "raw", store=store, **kw)
    return result, result.version.read().to_pylist()


def _extra(m: dict) -> dict:
    return json.loads(m["extra"]) if m["extra"] else {}


@pytest.mark.parametrize("name,fmt", [("responses_reasoning_items.jsonl", "responses"),
                                      ("anthropic_thinking_tools.jsonl", "anthropic"),
                                      ("otel_genai_spans.jsonl", "otel-genai"),
                                      ("drone_training_30.jsonl", "openai")])
def test_formats_are_detected(name, fmt):
    records = _first_records(AGENTS / name, "jsonl", None, None)
    assert {detect(r) for r in records} == {fmt}


def test_responses_items(store):
    result, rows = _rows(store, "responses_reasoning_items.jsonl")
    assert (result.rows_in, result.kept, sum(result.quarantined.values())) == (2, 2, 0)
    joke, weather = rows
    assert [m["role"] for m in joke["messages"]] == ["user", "assistant"]
    assert joke["messages"][1]["content"].startswith("Why don\u2019t scientists trust atoms?")
    meta = json.loads(joke["metadata"])
    assert meta["model"] == "o4-mini-2025-04-16" and meta["usage"]["output_tokens_details"]["reasoning_tokens"] == 128
    assert [m["role"] for m in weather["messages"]] == ["user", "assistant", "tool", "assistant"]
    call = weather["messages"][1]
    assert call["tool_calls"][0]["id"] == "call_9ylqPOZUyFEwhxvBwgpNDqPT"
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"latitude": 48.8566, "longitude": 2.3522}
    assert _extra(call)["responses_reasoning"][0]["id"] == "rs_68210c71a95c81919cc44afadb9d220400c77cc15fd2f785"
    assert weather["messages"][2]["tool_call_id"] == "call_9ylqPOZUyFEwhxvBwgpNDqPT"
    assert weather["messages"][2]["content"] == "16.3"
    assert json.loads(weather["tools"])[0]["name"] == "get_weather"


def test_anthropic_blocks_thinking_and_multi_block_results(store):
    result, rows = _rows(store, "anthropic_thinking_tools.jsonl")
    assert (result.rows_in, result.kept) == (3, 3)
    single, multi, sdk = rows
    thinking = single["messages"][1]
    assert thinking["content"] is None and thinking["tool_calls"][0]["function"]["name"] == "weather"
    assert _extra(thinking)["reasoning"].startswith("The user is asking about the weather in Paris")
    assert "weather in Paris" not in (thinking["content"] or "")  # reasoning never merged into content
    assert [m["role"] for m in multi["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [m["tool_call_id"] for m in multi["messages"][2:4]] == [c["id"] for c in multi["messages"][1]["tool_calls"]]
    result_msg = sdk["messages"][2]
    assert result_msg["content"] == "The weather is 73f"
    assert _extra(result_msg)["content_parts"] == [{"type": "text", "text": "The weather is 73f"}]
    assert json.loads(single["metadata"])["thinking"] == {"type": "enabled", "budget_tokens": 2000}


def test_otel_spans_are_stitched_per_trace_across_lines(store):
    result, rows = _rows(store, "otel_genai_spans.jsonl")
    assert (result.rows_in, result.kept) == (2, 2)  # 2 lines, 4 spans, 2 traces
    tool_trace = next(r for r in rows if r["source_id"] == "5b8efff798038103d269b633813fc60c")
    roles = [m["role"] for m in tool_trace["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]  # history of span 2 not repeated
    assert tool_trace["messages"][2]["tool_call_id"] == tool_trace["messages"][1]["tool_calls"][0]["id"]
    meta = json.loads(tool_trace["metadata"])
    assert meta["usage"] == {"input_tokens": 47 + 97, "output_tokens": 17 + 52}
    assert meta["spans"] == 3 and [x["ms"] for x in meta["latency_ms"]] == [812.0, 50.0, 1100.0]
    assert "gpt-4-0613" in meta["models"]
    joke = next(r for r in rows if r["source_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
    answer = joke["messages"][-1]
    assert answer["content"].startswith(" Why did the developer")
    assert _extra(answer)["reasoning"].startswith("Alright, the user wants a joke")


def test_otel_bad_document_is_one_quarantine_row(store, tmp_path):
    lines = (AGENTS / "otel_genai_spans.jsonl").read_bytes().splitlines()
    bad = tmp_path / "spans.jsonl"
    bad.write_bytes(b"\n".join([lines[0], b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}',
                               b"{not json", lines[1]]) + b"\n")
    result = ingest([str(bad)], "raw", store=store)
    assert result.kept == 2 and dict(result.quarantined) == {"missing_field": 1, "bad_json": 1}
    assert result.rows_in == 4


def test_unsupported_responses_item_is_quarantined_with_its_position(store, tmp_path):
    f = tmp_path / "r.jsonl"
    ok = {"input": "hi", "output": [{"type": "message", "role": "assistant", "content": "hello"}]}
    web = {"input": "news?", "output": [{"type": "web_search_call", "id": "ws_1", "status": "completed"},
                                        {"type": "message", "role": "assistant", "content": "..."}]}
    f.write_text(json.dumps(ok) + "\n" + json.dumps(web) + "\n")
    result = ingest([str(f)], "raw", store=store)
    assert result.kept == 1 and dict(result.quarantined) == {"unsupported_item": 1}
    q = pl.from_arrow(result.version.read("quarantine"))
    assert q["field"].to_list() == ["output[0].type"] and "news" not in q["error"][0]
