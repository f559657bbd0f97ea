"""Agent-trace readers on real samples (tests/data/agents/SOURCE.md): OpenAI Responses items,
Anthropic content blocks, OTel GenAI spans, Langfuse trace exports. Each sample is ingested exactly: every record kept or
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


def test_langfuse_export_is_detected():
    doc = json.loads((AGENTS / "langfuse_langgraph_trace.json").read_text())
    assert detect(doc) == "langfuse"
    assert {detect(o) for o in doc["observations"]} == {"langfuse"}  # an observations export, one per line


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
    assert call["reasoning"] is None  # the item's summary is empty: its text is encrypted, kept in the item
    assert joke["messages"][1]["reasoning"] is None  # likewise
    assert weather["messages"][2]["tool_call_id"] == "call_9ylqPOZUyFEwhxvBwgpNDqPT"
    assert weather["messages"][2]["content"] == "16.3"
    assert json.loads(weather["tools"])[0]["name"] == "get_weather"


def test_anthropic_blocks_thinking_and_multi_block_results(store):
    result, rows = _rows(store, "anthropic_thinking_tools.jsonl")
    assert (result.rows_in, result.kept) == (3, 3)
    single, multi, sdk = rows
    thinking = single["messages"][1]
    assert thinking["content"] is None and thinking["tool_calls"][0]["function"]["name"] == "weather"
    assert thinking["reasoning"].startswith("The user is asking about the weather in Paris")  # its own field
    assert "weather in Paris" not in (thinking["content"] or "")  # reasoning never merged into content
    assert "reasoning" not in _extra(thinking) and _extra(thinking)["anthropic_thinking"][0]["type"] == "thinking"
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
    assert answer["reasoning"].startswith("Alright, the user wants a joke")
    assert "Alright" not in answer["content"] and "reasoning" not in _extra(answer)


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


LANGFUSE = AGENTS / "langfuse_langgraph_trace.json"
LF_TRACE = "e1fde3efec57ce8a69bafd3fb928a7eb"
LF_CALL = "call_1oGK863sxQHlPreFhDdEs3yl"


def _langfuse_checks(row: dict) -> None:
    msgs = row["messages"]
    # 9 observations (2 generations, tool and graph spans) → one conversation, history not repeated
    assert [m["role"] for m in msgs] == ["user", "user", "assistant", "tool", "assistant"]
    assert msgs[1]["content"] == "Search the web for 'example' and summarize."
    call = msgs[2]["tool_calls"][0]
    assert call["id"] == LF_CALL and call["function"]["name"] == "Web-Search"
    assert json.loads(call["function"]["arguments"]) == {"query": "example"}
    assert msgs[3]["tool_call_id"] == LF_CALL
    assert json.loads(msgs[3]["content"]) == [{"url": "https://example.com", "title": "Example Result", "q": "example"}]
    assert msgs[4]["content"].startswith('The search for "example" primarily leads to the website')
    # the tool definition LangChain logs as a "tool" message is the row's tool, not a turn
    assert json.loads(row["tools"]) == [{"type": "function", "function": {
        "name": "Web-Search", "description": "Dummy web search tool.",
        "parameters": {"properties": {"query": {"type": "string"}}, "required": ["query"], "type": "object"}}}]
    meta = json.loads(row["metadata"])
    assert row["source_id"] == LF_TRACE and meta["name"] == "LangGraph"
    assert meta["usage"] == {"input": 60 + 108, "output": 15 + 51, "total": 75 + 159}
    assert [x["ms"] for x in meta["latency_ms"]] == [848, 1743] and meta["models"] == ["gpt-4o-2024-08-06"]
    assert meta["observations"] == 9 and meta["generations"] == 2
    assert [s["name"] for s in meta["scores"]] == ["hallucination", "toxicity"]
    assert meta["cost"] == pytest.approx(0.000075 + 0.000159)


def test_langfuse_trace_export_is_one_conversation(store):
    result, rows = _rows(store, LANGFUSE.name)
    assert (result.rows_in, result.kept, sum(result.quarantined.values())) == (1, 1, 0)
    _langfuse_checks(rows[0])


def test_langfuse_observation_lines_are_stitched_per_trace(store, tmp_path):
    """An observations export (one per line, out of order, the trace on no line) gives the same
    conversation; a line that is no Langfuse document and a trace without generations are each one
    quarantine row, so every document is accounted for."""
    doc = json.loads(LANGFUSE.read_text())
    lines = [json.dumps(o) for o in reversed(doc["observations"])]
    lonely = {**doc["observations"][0], "id": "x1", "traceId": "no-generations", "type": "SPAN"}
    lines[4:4] = ['{"hello": "world"}', json.dumps(lonely)]
    f = tmp_path / "observations.jsonl"
    f.write_text("\n".join(lines) + "\n")
    result = ingest([str(f)], "raw", store=store)
    assert (result.rows_in, result.kept) == (3, 1)  # 2 traces + 1 bad line
    assert dict(result.quarantined) == {"missing_field": 1, "no_generation": 1}
    row = result.version.read().to_pylist()[0]
    assert [m["role"] for m in row["messages"]] == ["user", "user", "assistant", "tool", "assistant"]
    assert json.loads(row["metadata"])["usage"]["total"] == 75 + 159
    q = pl.from_arrow(result.version.read("quarantine"))
    bad = q.filter(pl.col("error_kind") == "missing_field")
    assert bad["line"].to_list() == [5]  # the line of the document that is not Langfuse


def test_langfuse_reasoning_and_errors(store, tmp_path):
    """reasoning_content of a generation's output is the message's reasoning, not its content; an
    observation at level ERROR is kept in the metadata with its status message."""
    doc = json.loads(LANGFUSE.read_text())
    gen = next(o for o in doc["observations"] if o["id"] == "5ba09605e0929d78")
    gen["output"]["additional_kwargs"]["reasoning_content"] = "The tool returned one result; summarize it."
    tool = next(o for o in doc["observations"] if o["id"] == "21441266a9f21251")
    tool.update(level="ERROR", statusMessage="timeout after 1 retry")
    f = tmp_path / "trace.json"
    f.write_text(json.dumps(doc))
    result = ingest([str(f)], "raw", store=store)
    row = result.version.read().to_pylist()[0]
    answer = row["messages"][-1]
    assert answer["reasoning"] == "The tool returned one result; summarize it."
    assert "summarize it" not in answer["content"]
    assert json.loads(row["metadata"])["errors"] == [{"observation": "Web-Search", "message": "timeout after 1 retry"}]


def test_reasoning_is_scanned_and_redacted_like_content():
    """Reasoning has its own field now: pii_detect must see it and redact_pii rewrite it (privacy
    fails closed: a field the redactor does not walk would publish raw PII)."""
    pytest.importorskip("presidio_analyzer")
    import pyarrow as pa

    from sluice.apply import apply_stage
    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.schemas import CONVERSATION

    row = {"id": "c1", "source": "t", "source_id": "1", "messages": [
        {"role": "user", "content": "Please e-mail the report."},
        {"role": "assistant", "content": "Done.",
         "reasoning": "The user wants it sent to jane.roe@example.org, so I send it there."}]}
    table = pa.Table.from_pylist([row], schema=CONVERSATION.schema)
    detected = apply_stage(PiiDetect(nlp="blank"), "reasoning-detect", table, 0)[0]  # patterns find e-mails
    findings = detected.column("pii_findings").to_pylist()[0]
    assert any(f["field"] == "m1.reasoning" and f["entity"] == "EMAIL_ADDRESS" for f in findings)
    out = apply_stage(RedactPii(), "reasoning-redact", detected, 0)[0].to_pylist()[0]["messages"]
    assert "jane.roe@example.org" not in out[1]["reasoning"] and "<EMAIL_ADDRESS_1>" in out[1]["reasoning"]
    assert out[1]["content"] == "Done."


def test_langfuse_completion_generation_and_open_tool_call(store, tmp_path):
    """A generation whose input is a prompt string reads as a user turn; a trace that ends with a
    tool span after the last generation gets that tool's result (no generation recorded it)."""
    doc = json.loads(LANGFUSE.read_text())
    gen1 = next(o for o in doc["observations"] if o["id"] == "4f6535aaebcda355")
    doc["observations"] = [o for o in doc["observations"] if o["type"] != "GENERATION" or o is gen1]
    f = tmp_path / "t.json"
    f.write_text(json.dumps(doc))
    row = ingest([str(f)], "raw", store=store).version.read().to_pylist()[0]
    assert [m["role"] for m in row["messages"]] == ["user", "user", "assistant", "tool"]
    assert row["messages"][3]["tool_call_id"] == LF_CALL  # from the Web-Search span's output
    gen1["input"] = "Search the web for 'example' and summarize."
    f.write_text(json.dumps({"trace": doc["trace"], "observations": [gen1]}))
    row = ingest([str(f)], "raw2", store=store).version.read().to_pylist()[0]
    assert [(m["role"], m["content"]) for m in row["messages"]][0] == ("user", "Search the web for 'example' and summarize.")
