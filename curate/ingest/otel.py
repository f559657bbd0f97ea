"""OpenTelemetry GenAI semantic-convention spans → one conversation row per trace.

Input: what an OTLP file exporter writes — JSON or JSON lines, each document an
``ExportTraceServiceRequest`` (``resourceSpans`` → ``scopeSpans`` → ``spans``, attributes as
``[{"key", "value": {"stringValue" | "intValue" | …}}]``). Spans of the whole file are grouped
by trace id (a trace may span documents and lines); a trace is one row, so for this format
ingest counts traces, not lines, and a line that is not an OTLP document is one quarantine row.

Stitching a trace: its GenAI spans (those with ``gen_ai.*`` attributes), ordered by start time
(then by parent before child), each contribute ``gen_ai.system_instructions`` (once),
``gen_ai.input.messages`` — the history, of which only what the conversation does not already
end with is added — and ``gen_ai.output.messages``. ``execute_tool`` spans add a tool result
(``gen_ai.tool.call.result``) when no chat span recorded it. Message parts: ``text``,
``tool_call``, ``tool_call_response``, ``reasoning`` (→ the message's ``reasoning``, never content);
other parts (``uri``, ``blob``, ``file``, server tool calls) stay in ``extra.parts``.

Metadata: trace id, span count, root span name, models (request/response), per-span latency
in ms, summed token usage, finish reasons, and errors (span status ERROR, ``error.type``).
Tools: ``gen_ai.tool.definitions`` of the spans (the first span that has them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from .errors import RecordError, expect
from .fields import timestamp_us
from .messages import dumps, dumps_bytes, loads, make

_VALUE_KEYS = ("stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue")


def _value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in _VALUE_KEYS:
        if key in v:
            x = v[key]
            if key == "intValue":
                return int(x)
            if key == "arrayValue":
                return [_value(i) for i in (x or {}).get("values", [])]
            if key == "kvlistValue":
                return {kv["key"]: _value(kv.get("value")) for kv in (x or {}).get("values", [])}
            return x
    return None


def attributes(raw: Any) -> dict:
    """OTLP attribute list (or an already flat mapping) → {key: value}."""
    if isinstance(raw, dict):
        return dict(raw)
    return {a["key"]: _value(a.get("value")) for a in raw or () if isinstance(a, dict) and "key" in a}


def _span(span: dict, resource: dict, scope: dict) -> dict:
    """One span in a flat shape (OTLP JSON or the SDK console exporter's)."""
    ctx = span.get("context") or {}
    return {
        "trace_id": span.get("traceId") or ctx.get("trace_id"),
        "span_id": span.get("spanId") or ctx.get("span_id"),
        "parent_id": span.get("parentSpanId") or span.get("parent_id") or None,
        "name": span.get("name"),
        "start": span.get("startTimeUnixNano", span.get("start_time")),
        "end": span.get("endTimeUnixNano", span.get("end_time")),
        "attributes": attributes(span.get("attributes")),
        "status": span.get("status") or {},
        "resource": resource, "scope": scope,
    }


def spans_of(doc: Any) -> list[dict]:
    """Every span of one OTLP JSON document (or one SDK console-exported span)."""
    if not isinstance(doc, dict):
        raise RecordError("not_object", "expected an OTLP JSON object", None)
    if "resourceSpans" not in doc:
        if ("traceId" in doc or "context" in doc) and "name" in doc:
            return [_span(doc, attributes((doc.get("resource") or {}).get("attributes")), {})]
        raise RecordError("missing_field", "not an OTLP trace document (no resourceSpans)", "resourceSpans")
    out = []
    expect(doc["resourceSpans"], list, "resourceSpans", "a list")
    for i, rs in enumerate(doc["resourceSpans"]):
        expect(rs, dict, f"resourceSpans[{i}]", "an object")
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for j, ss in enumerate(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []):
            expect(ss, dict, f"resourceSpans[{i}].scopeSpans[{j}]", "an object")
            scope = ss.get("scope") or ss.get("instrumentationLibrary") or {}
            for k, span in enumerate(ss.get("spans") or []):
                expect(span, dict, f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]", "a span object")
                out.append(_span(span, resource, scope))
    return out


def group(docs: Iterable[tuple[int, bytes, Any]]) -> Iterator[tuple[str, Any, Any]]:
    """(index, raw, parsed document) → ("trace", trace record, None) per trace id, in order of
    first appearance, and ("bad", (index, raw), RecordError) for each document that is not OTLP."""
    traces: dict[str, list[dict]] = {}
    for index, raw, doc in docs:
        try:
            spans = spans_of(doc)
        except RecordError as e:
            yield "bad", (index, raw), e
            continue
        for s in spans:
            if not isinstance(s["trace_id"], str) or not s["trace_id"]:
                yield "bad", (index, raw), RecordError("missing_field", "a span has no trace id", "traceId")
                break
        else:
            for s in spans:
                traces.setdefault(s["trace_id"], []).append(s)
    for trace_id, spans in traces.items():
        yield "trace", {"otel_trace_id": trace_id, "spans": spans}, None


def _ns(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int):
        return value
    us = timestamp_us(value, field)
    return None if us is None else us * 1000


def _json_attr(attrs: dict, key: str) -> Any:
    value = attrs.get(key)
    if isinstance(value, str):
        try:
            return loads(value)
        except orjson.JSONDecodeError:
            raise RecordError("bad_json", "attribute is not valid JSON", key) from None
    return value


def _messages(parts_messages: Any, field: str) -> list[tuple]:
    """Semantic-convention messages (role + parts) → canonical messages."""
    if parts_messages is None:
        return []
    expect(parts_messages, list, field, "a list of messages")
    out: list[tuple] = []
    for i, m in enumerate(parts_messages):
        where = f"{field}[{i}]"
        expect(m, dict, where, "a message object")
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise RecordError("unknown_role", "message role must be system, user, assistant or tool",
                              f"{where}.role")
        parts = m.get("parts") or []
        expect(parts, list, f"{where}.parts", "a list of parts")
        texts, reasoning, calls, others = [], [], [], []
        extra = {k: v for k, v in m.items() if k not in ("role", "parts")}
        for j, p in enumerate(parts):
            expect(p, dict, f"{where}.parts[{j}]", "a part object")
            kind = p.get("type")
            if kind == "text":
                texts.append(p.get("content") or "")
            elif kind == "reasoning":
                reasoning.append(p.get("content") or "")
            elif kind == "tool_call":
                args = p.get("arguments")
                name = p.get("name")
                expect(name, str, f"{where}.parts[{j}].name", "a string")
                calls.append({"id": p.get("id"), "type": "function",
                              "function": {"name": name, "arguments": args if args is None or isinstance(args, str)
                                           else dumps_bytes(args).decode()}})
            elif kind == "tool_call_response":
                resp = p.get("response")
                text = resp if isinstance(resp, str) else dumps_bytes(resp).decode()
                out.append(make("tool", text, tool_call_id=p.get("id")))
            else:
                others.append(p)
        if role == "tool" and not (texts or reasoning or calls or others):
            continue
        if others:
            extra["parts"] = others
        content = "".join(texts) if texts or not calls else None
        out.append(make(role, content, tool_calls=calls or None, extra=extra or None,
                        reasoning="\n\n".join(reasoning) if reasoning else None))
    return out


def _key(m: tuple) -> tuple:
    """What makes two messages the same turn when spans repeat the history (not finish_reason)."""
    extra = loads(m[5]) if m[5] else {}
    extra.pop("finish_reason", None)
    return (m[0], m[1], dumps(m[3]) if m[3] else None, m[4], dumps(extra) if extra else None, m[6])


def _extend(conversation: list[tuple], history: list[tuple]) -> None:
    """Add what ``history`` (a span's input) holds beyond the conversation so far: the full
    history repeated (the usual case), or only the newest turns (overlapping its end or not)."""
    keys = [_key(m) for m in conversation]
    new = [_key(m) for m in history]
    if new[:len(keys)] == keys:
        conversation += history[len(keys):]
        return
    for n in range(min(len(keys), len(new)), 0, -1):
        if keys[-n:] == new[:n]:
            conversation += history[n:]
            return
    conversation += history


def otel_trace(record: dict) -> dict:
    """One stitched trace (``{"otel_trace_id", "spans"}``, built by ``group``) → a row."""
    spans = record.get("spans")
    expect(spans, list, "spans", "a list of spans")
    trace_id = record.get("otel_trace_id")
    ids = {s.get("span_id") for s in spans}
    depth = {}

    def level(s: dict) -> int:
        sid = s.get("span_id")
        if sid not in depth:
            parent = next((p for p in spans if p.get("span_id") == s.get("parent_id")), None)
            depth[sid] = 0 if parent is None or parent is s else level(parent) + 1
        return depth[sid]

    ordered = sorted(spans, key=lambda s: (_ns(s.get("start"), "start") or 0, level(s)))
    conversation: list[tuple] = []
    system: tuple | None = None
    tools = None
    meta: dict[str, Any] = {"trace_id": trace_id, "spans": len(spans), "models": [], "latency_ms": [],
                            "usage": {"input_tokens": 0, "output_tokens": 0}, "finish_reasons": [], "errors": []}
    roots = [s.get("name") for s in spans if not s.get("parent_id") or s.get("parent_id") not in ids]
    meta["root"] = roots[0] if roots else None
    pending_results: list[tuple[str | None, tuple]] = []
    created = None
    for s in ordered:
        a = s["attributes"]
        start, end = _ns(s.get("start"), "start"), _ns(s.get("end"), "end")
        created = created if created is not None else start
        status = s.get("status") or {}
        if status.get("code") in (2, "STATUS_CODE_ERROR", "ERROR") or status.get("status_code") == "ERROR" \
                or a.get("error.type"):
            meta["errors"].append({"span": s.get("name"), "error.type": a.get("error.type"),
                                   "message": status.get("message") or status.get("description")})
        if not any(k.startswith("gen_ai.") for k in a):
            continue
        op = a.get("gen_ai.operation.name")
        if start is not None and end is not None:
            meta["latency_ms"].append({"span": s.get("name"), "ms": round((end - start) / 1e6, 3)})
        for k in ("gen_ai.request.model", "gen_ai.response.model"):
            if a.get(k) and a[k] not in meta["models"]:
                meta["models"].append(a[k])
        for k in ("input_tokens", "output_tokens"):
            if isinstance(a.get(f"gen_ai.usage.{k}"), int):
                meta["usage"][k] += a[f"gen_ai.usage.{k}"]
        if a.get("gen_ai.response.finish_reasons"):
            meta["finish_reasons"].append(a["gen_ai.response.finish_reasons"])
        if tools is None and a.get("gen_ai.tool.definitions") is not None:
            tools = _json_attr(a, "gen_ai.tool.definitions")
        if op == "execute_tool":
            if a.get("gen_ai.tool.call.result") is not None:
                result = a["gen_ai.tool.call.result"]
                text = result if isinstance(result, str) else dumps_bytes(result).decode()
                pending_results.append((a.get("gen_ai.tool.call.id"), make("tool", text,
                                                                            tool_call_id=a.get("gen_ai.tool.call.id"))))
            continue
        if system is None and a.get("gen_ai.system_instructions") is not None:
            parts = _json_attr(a, "gen_ai.system_instructions")
            if isinstance(parts, list):
                system = make("system", "".join(p.get("content") or "" for p in parts if isinstance(p, dict)
                                                and p.get("type") == "text"), extra={"otel_system_instructions": True})
        inputs = _messages(_json_attr(a, "gen_ai.input.messages"), "gen_ai.input.messages")
        outputs = _messages(_json_attr(a, "gen_ai.output.messages"), "gen_ai.output.messages")
        if inputs or outputs:
            for cid, msg in pending_results:  # results that the next span's input does not hold
                if not any(m[0] == "tool" and m[4] == cid for m in inputs + conversation):
                    conversation.append(msg)
            pending_results = []
            _extend(conversation, inputs)
            conversation += outputs[:1]
            if len(outputs) > 1:
                meta.setdefault("other_choices", []).append([m[1] for m in outputs[1:]])
    for cid, msg in pending_results:
        if not any(m[0] == "tool" and m[4] == cid for m in conversation):
            conversation.append(msg)
    if system is not None and not (conversation and conversation[0][0] == "system"):
        conversation.insert(0, system)
    for key in ("models", "latency_ms", "finish_reasons", "errors"):
        if not meta[key]:
            del meta[key]
    if not any(meta["usage"].values()):
        del meta["usage"]
    from .fields import tools_json

    return {"source_id": trace_id, "created_at": None if created is None else created // 1000,
            "tools": tools_json(tools, "gen_ai.tool.definitions"), "feedback": None,
            "metadata": meta, "messages": conversation}
