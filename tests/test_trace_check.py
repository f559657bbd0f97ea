"""trace_check (reason codes on real tool traces and their broken variants), trim_to_answer, and the
render check through a real chat template (the tiny model's Qwen2.5 template, built locally)."""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl
import pytest

from sluice.curate.ingest import ingest
from sluice.curate.stages.trace_check import RenderCheck, TraceCheck, TrimToAnswer, render_problems, trace_problems
from sluice.errors import DataError

AGENTS = Path(__file__).parent / "data" / "agents"


def _rows(store, name):
    return ingest([str(AGENTS / name)], "raw", store=store).version.read().to_pylist()


def _decide(rows) -> list:
    df = pl.DataFrame({"messages": [r["messages"] for r in rows], "tools": [r["tools"] for r in rows]})
    return TraceCheck().decide(df)["reason"].to_list()


def test_real_traces_pass_and_each_breakage_has_its_reason(store):
    drone = _rows(store, "drone_training_30.jsonl")
    assert _decide(drone) == [None] * 30
    anthropic = _rows(store, "anthropic_thinking_tools.jsonl")
    assert _decide(anthropic) == [None] * 3
    assert _decide(_rows(store, "langfuse_langgraph_trace.json")) == [None]  # stitched from 9 observations

    base = anthropic[1]  # user, assistant (2 calls), tool, tool, assistant
    def broken(edit):
        row = copy.deepcopy(base)
        edit(row["messages"])
        return row

    cases = {
        "undeclared_tool": broken(lambda m: m[1]["tool_calls"][0]["function"].update(name="get_stock_price")),
        "bad_arguments": broken(lambda m: m[1]["tool_calls"][1]["function"].update(arguments='{"subject": "tech"}')),
        "result_without_call": broken(lambda m: m[2].update(tool_call_id="toolu_unknown")),
        "dangling_call": broken(lambda m: m.pop(3)),  # one call is never answered, the chat goes on
        "bad_ids": broken(lambda m: m[1]["tool_calls"][1].update(id=m[1]["tool_calls"][0]["id"])),
    }
    assert _decide(list(cases.values())) == list(cases)
    assert trace_problems(cases["bad_arguments"]["messages"], base["tools"]) == [("bad_arguments", "message 1 call 1")]


def test_invalid_tool_schema_of_the_semconv_example_is_caught(store):
    otel = {r["source_id"]: r for r in _rows(store, "otel_genai_spans.jsonl")}
    # the spec's example puts `required` inside `properties`: not a valid JSON Schema
    assert _decide([otel["5b8efff798038103d269b633813fc60c"]]) == ["bad_tool_schema"]


def test_trim_to_answer_keeps_the_answers(store):
    sdk = _rows(store, "anthropic_thinking_tools.jsonl")[2]  # ends with a tool result
    assert [m["role"] for m in sdk["messages"]] == ["user", "assistant", "tool"]
    glaive_like = copy.deepcopy(_rows(store, "anthropic_thinking_tools.jsonl")[0])
    glaive_like["messages"].append({**glaive_like["messages"][0], "content": "Great, thanks for the help!"})
    stage = TrimToAnswer()
    df = pl.DataFrame({"messages": [sdk["messages"], glaive_like["messages"]]})
    out = stage.transform(df)["messages"].to_list()
    assert [m["role"] for m in out[0]] == ["user", "assistant"] and out[0][1]["tool_calls"]
    assert [m["role"] for m in out[1]] == ["user", "assistant", "tool", "assistant"]
    assert stage.counters == {"trimmed_rows": 2, "trimmed_messages": 2}


@pytest.fixture(scope="module")
def tiny_tokenizer():
    pytest.importorskip("transformers")
    from sluice.tiny import build_tokenizer

    return build_tokenizer()


def test_render_check_passes_real_traces_and_catches_broken_ones(store, tiny_tokenizer):
    rows = (_rows(store, "anthropic_thinking_tools.jsonl") + _rows(store, "drone_training_30.jsonl")[:5]
            + _rows(store, "langfuse_langgraph_trace.json"))
    assert [render_problems(r["messages"], r["tools"], tiny_tokenizer) for r in rows] == [[]] * len(rows)
    bad = copy.deepcopy(rows[0])
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = '{"location": "Par'  # cut-off arguments
    assert render_problems(bad["messages"], bad["tools"], tiny_tokenizer) == ["tool-call arguments are not a JSON object"]


def test_render_check_fails_on_a_template_that_drops_tools_or_raises(store, tiny_tokenizer):
    row = _rows(store, "anthropic_thinking_tools.jsonl")[0]
    no_tools = copy.copy(tiny_tokenizer)
    no_tools.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content or '' }}"
                              "{% for c in m.tool_calls or [] %}{{ c.function.name }}{% endfor %}<|im_end|>\n{% endfor %}")
    assert render_problems(row["messages"], row["tools"], no_tools) == [
        "a declared tool is missing from the rendered text (the template ignores tools=)"]
    strict = copy.copy(tiny_tokenizer)  # a template that refuses non-alternating roles, as Mistral's does
    strict.chat_template = ("{% for m in messages %}{% if m.role == 'tool' %}"
                            "{{ raise_exception('Conversation roles must alternate user/assistant') }}"
                            "{% endif %}{{ m.content }}{% endfor %}")
    assert render_problems(row["messages"], row["tools"], strict) == ["the chat template failed (TemplateError)"]
    stage = RenderCheck(tokenizer="unused", gate=True)
    stage.tok = strict
    with pytest.raises(DataError, match="does not render"):
        stage.decide(pl.DataFrame({"id": ["r1"], "messages": [row["messages"]], "tools": [row["tools"]]}))
    stage = RenderCheck(tokenizer="unused")
    stage.tok = strict
    out = stage.decide(pl.DataFrame({"id": ["r1"], "messages": [row["messages"]], "tools": [row["tools"]]}))
    assert out["reason"].to_list() == ["render_failed"]
