"""Langfuse trace exports → one conversation row per trace.

Input: what Langfuse gives when a trace is downloaded or fetched — JSON or JSON lines, each
document one of

* ``{"trace": {…}, "observations": [{…}, …]}`` — a trace and its observations (the UI's trace
  download; the shape of Langfuse's own framework-trace fixtures);
* a trace object holding its ``observations`` (``GET /api/public/traces/{id}``);
* one observation (``GET /api/public/observations`` items, or an observations export, one per
  line): ``id``, ``traceId``, ``type``, ``startTime``.

Documents are grouped by trace id over the whole file (a trace's observations may lie on any
line); a trace is one row, so for this format ingest counts traces, not lines, and a document
that is none of the above is one quarantine row.

Stitching a trace: its ``GENERATION`` observations, ordered by start time (then parent before
child), each contribute their ``input`` — chat messages (a list, or ``{"messages", "tools"}``;
a string prompt is a user turn),
of which only what the conversation does not already end with is added — and their ``output``
(one assistant message, a string, or OpenAI ``choices``). Messages are OpenAI-shaped (``role``,
``content``, ``tool_calls``, ``tool_call_id``); what LangChain's callback handler writes is read
too: tool calls in ``additional_kwargs.tool_calls`` with parsed ``arguments``, a tool result
whose content is JSON (kept as its JSON text), the empty text it writes beside tool calls (→
no content, OpenAI's shape), and tool definitions logged as ``{"role": "tool",
"content": {"type": "function", "function": …}}`` pseudo-messages (→ the row's tools, not turns).
Reasoning (``reasoning_content``, top level or in ``additional_kwargs``) is the message's
reasoning, never its content. A tool observation (``TOOL``, or a span whose output carries a
``tool_call_id``) adds its result when no generation recorded it. A trace with no generation
holding chat messages is quarantined (``no_generation``): there is no conversation to keep.

Metadata: trace id, name, tags, user and session ids, environment, release, the trace's scores,
observation count, models, per-generation latency in ms, summed token usage and cost, and
errors (observations at level ``ERROR``, with their status message).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .errors import RecordError, expect
from .fields import timestamp_us, tools_json
from .messages import dumps_bytes, openai_message
from .otel import _extend

OBSERVATION_TYPES = frozenset(("GENERATION", "SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER",
                               "EVALUATOR", "EMBEDDING", "GUARDRAIL"))
_LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def is_observation(record: dict) -> bool:
    return (isinstance(record.get("traceId"), str) and record.get("type") in OBSERVATION_TYPES
            and "startTime" in record and "id" in record)


def is_trace(record: dict) -> bool:
    if isinstance(record.get("trace"), dict) and isinstance(record.get("observations"), list):
        return True
    return isinstance(record.get("observations"), list) and "id" in record and (
        "projectId" in record or "htmlPath" in record or "scores" in record)


def _documents(doc: Any) -> tuple[dict | None, list]:
    """(trace or None, observations) of one document; RecordError when it is none of the shapes."""
    if not isinstance(doc, dict):
        raise RecordError("not_object", "expected a Langfuse trace or observation object", None)
    if isinstance(doc.get("trace"), dict) and "observations" in doc:
        expect(doc["observations"], list, "observations", "a list of observations")
        return doc["trace"], doc["observations"]
    if "observations" in doc and "id" in doc:
        expect(doc["observations"], list, "observations", "a list of observations")
        return {k: v for k, v in doc.items() if k != "observations"}, doc["observations"]
    if is_observation(doc):
        return None, [doc]
    raise RecordError("missing_field", "not a Langfuse trace (trace + observations) or observation "
                                       "(id, traceId, type, startTime)", "observations")


def group(docs: Iterable[tuple[int, bytes, Any]]) -> Iterator[tuple[str, Any, Any]]:
    """(index, raw, parsed document) → ("trace", trace record, None) per trace id, in order of
    first appearance, and ("bad", (index, raw), RecordError) for each document that is not one."""
    traces: dict[str, dict] = {}
    for index, raw, doc in docs:
        try:
            trace, observations = _documents(doc)
            trace_id = trace.get("id") if trace is not None else observations[0].get("traceId")
            if not isinstance(trace_id, str) or not trace_id:
                raise RecordError("missing_field", "the trace has no id", "id" if trace is not None else "traceId")
            for i, o in enumerate(observations):
                expect(o, dict, f"observations[{i}]", "an observation object")
                if o.get("traceId") not in (None, trace_id):
                    raise RecordError("wrong_type", "an observation belongs to another trace",
                                      f"observations[{i}].traceId")
        except RecordError as e:
            yield "bad", (index, raw), e
            continue
        entry = traces.setdefault(trace_id, {"langfuse_trace_id": trace_id, "trace": None, "observations": []})
        if trace is not None and entry["trace"] is None:
            entry["trace"] = trace
        entry["observations"] += observations
    for entry in traces.values():
        yield "trace", entry, None


def _tool_definition(m: dict) -> dict | None:
    """The tool of a LangChain-logged ``{"role": "tool", "content": {"type": "function", …}}``."""
    content = m.get("content")
    if m.get("role") == "tool" and m.get("tool_call_id") is None and isinstance(content, dict) \
            and content.get("type") == "function" and isinstance(content.get("function"), dict):
        return content
    return None


def _is_parts(content: Any) -> bool:
    return isinstance(content, list) and all(isinstance(p, str) or (isinstance(p, dict) and "type" in p)
                                             for p in content)


def _message(m: Any, field: str) -> tuple:
    expect(m, dict, field, "a message object")
    m = dict(m)
    if "role" not in m and m.get("type") in _LANGCHAIN_ROLES:  # a serialized LangChain message
        m["role"] = _LANGCHAIN_ROLES[m.pop("type")]
    kwargs = m.get("additional_kwargs")
    if isinstance(kwargs, dict) and ("tool_calls" in kwargs or "reasoning_content" in kwargs):
        kwargs = dict(kwargs)
        if m.get("tool_calls") is None and kwargs.get("tool_calls") is not None:
            m["tool_calls"] = kwargs.pop("tool_calls")
        if m.get("reasoning_content") is None and kwargs.get("reasoning_content") is not None:
            m["reasoning_content"] = kwargs.pop("reasoning_content")
        m["additional_kwargs"] = kwargs
    content = m.get("content")
    if content is not None and not isinstance(content, str) and not _is_parts(content):
        m["content"] = dumps_bytes(content).decode()  # a tool result logged parsed: its JSON text
        m["langfuse_json_content"] = True
    if m.get("role") == "assistant" and m.get("content") == "" and m.get("tool_calls"):
        m["content"] = None  # LangChain writes "" beside tool calls: no text, as in OpenAI's shape
    return openai_message(m, field)


def _input_messages(value: Any, field: str, tools: list) -> list[tuple]:
    """A generation's input → messages (tool-definition pseudo-messages → ``tools``)."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        if isinstance(value.get("tools"), list) and not tools:
            tools += value["tools"]
        value, field = value["messages"], f"{field}.messages"
    if isinstance(value, str):  # a completion-style generation: the prompt is the user's turn
        return [_message({"role": "user", "content": value}, field)]
    if not isinstance(value, list):
        return []
    out = []
    for i, m in enumerate(value):
        tool = _tool_definition(m) if isinstance(m, dict) else None
        if tool is not None:
            if all(t != tool for t in tools):
                tools.append(tool)
            continue
        out.append(_message(m, f"{field}[{i}]"))
    return out


def _output_messages(value: Any, field: str) -> list[tuple]:
    if value is None:
        return []
    if isinstance(value, str):
        return [_message({"role": "assistant", "content": value}, field)]
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        choice = value["choices"][0]
        expect(choice, dict, f"{field}.choices[0]", "a choice object")
        return [_message(choice.get("message"), f"{field}.choices[0].message")]
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return [_message(m, f"{field}.messages[{i}]") for i, m in enumerate(value["messages"])]
    if isinstance(value, dict) and ("role" in value or "content" in value or "tool_calls" in value):
        return [_message({"role": "assistant", **value}, field)]
    if isinstance(value, list):
        return [_message(m, f"{field}[{i}]") for i, m in enumerate(value)]
    raise RecordError("wrong_type", "generation output is not a message, a string or choices", field)


def _tool_result(o: dict) -> tuple | None:
    out = o.get("output")
    if not isinstance(out, dict) or not isinstance(out.get("tool_call_id"), str):
        return None
    content = out.get("content")
    text = content if isinstance(content, str) else dumps_bytes(content).decode()
    return openai_message({"role": "tool", "content": text, "tool_call_id": out["tool_call_id"]}, "output")


def langfuse_trace(record: dict) -> dict:
    """One grouped trace (``{"langfuse_trace_id", "trace", "observations"}``, built by ``group``) → a row."""
    observations = record.get("observations")
    expect(observations, list, "observations", "a list of observations")
    trace = record.get("trace") or {}
    trace_id = record.get("langfuse_trace_id") or trace.get("id")
    by_id = {o.get("id"): o for o in observations}
    depth: dict[Any, int] = {}

    def level(o: dict, seen: int = 0) -> int:
        oid = o.get("id")
        if oid not in depth:
            parent = by_id.get(o.get("parentObservationId"))
            depth[oid] = 0 if parent is None or parent is o or seen > len(by_id) else level(parent, seen + 1) + 1
        return depth[oid]

    def start(o: dict) -> int:
        return timestamp_us(o.get("startTime"), "startTime") or 0

    ordered = sorted(observations, key=lambda o: (start(o), level(o)))
    conversation: list[tuple] = []
    tools: list = []
    meta: dict[str, Any] = {"trace_id": trace_id}
    for key in ("name", "tags", "userId", "sessionId", "environment", "release", "version", "scores", "metadata"):
        if trace.get(key) not in (None, [], ""):
            meta[key] = trace[key]
    meta.update({"observations": len(observations), "models": [], "latency_ms": [],
                 "usage": {"input": 0, "output": 0, "total": 0}, "cost": 0.0, "errors": []})
    pending: list[tuple] = []
    generations = 0
    for o in ordered:
        where = f"observations[{observations.index(o)}]"
        if o.get("level") == "ERROR":
            meta["errors"].append({"observation": o.get("name"), "message": o.get("statusMessage")})
        if o.get("type") != "GENERATION":
            result = _tool_result(o) if o.get("type") in ("TOOL", "SPAN") else None
            if result is not None:
                pending.append(result)
            continue
        inputs = _input_messages(o.get("input"), f"{where}.input", tools)
        outputs = _output_messages(o.get("output"), f"{where}.output")
        if not (inputs or outputs):
            continue
        generations += 1
        if o.get("model") and o["model"] not in meta["models"]:
            meta["models"].append(o["model"])
        if isinstance(o.get("latency"), (int, float)):
            meta["latency_ms"].append({"observation": o.get("name"), "ms": o["latency"]})
        usage = o.get("usageDetails") or {}
        for k in ("input", "output", "total"):
            if isinstance(usage.get(k), int):
                meta["usage"][k] += usage[k]
        if isinstance(o.get("totalCost"), (int, float)):
            meta["cost"] += o["totalCost"]
        for msg in pending:  # tool results that this generation's input does not hold
            if not any(m[0] == "tool" and m[4] == msg[4] for m in inputs + conversation):
                conversation.append(msg)
        pending = []
        _extend(conversation, inputs)
        conversation += outputs
    for msg in pending:
        if not any(m[0] == "tool" and m[4] == msg[4] for m in conversation):
            conversation.append(msg)
    if not generations:
        raise RecordError("no_generation", "the trace has no GENERATION observation with chat messages",
                          "observations")
    meta["generations"] = generations
    meta["cost"] = round(meta["cost"], 12)
    for key in ("models", "latency_ms", "errors"):
        if not meta[key]:
            del meta[key]
    if not any(meta["usage"].values()):
        del meta["usage"]
    if not meta["cost"]:
        del meta["cost"]
    created = trace.get("timestamp") or (ordered[0].get("startTime") if ordered else None)
    return {"source_id": trace_id, "created_at": timestamp_us(created, "timestamp") if created else None,
            "tools": tools_json(tools or None, "tools"), "feedback": None, "metadata": meta,
            "messages": conversation}


__all__ = ["OBSERVATION_TYPES", "group", "is_observation", "is_trace", "langfuse_trace"]
