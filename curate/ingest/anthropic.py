"""Anthropic Messages API content blocks → one conversation row.

A record is a Messages request body (``system``, ``messages``, ``tools``, ``model``, …), or a
gateway log of one call: ``{"request": <body>, "response": <Message>}`` (the response's content
becomes the last assistant turn; its ``id``, ``model``, ``usage``, ``stop_reason`` → metadata).

Blocks, per message:

* ``text`` → the message's content (blocks joined; the blocks kept in ``extra.content_parts``
  when there is more than one or they carry more than text, e.g. citations);
* ``thinking`` → the message's ``reasoning`` (never merged into content); the blocks, signatures
  included, in ``extra.anthropic_thinking``; ``redacted_thinking`` blocks are kept there too;
* ``tool_use`` (``id``, ``name``, ``input``) → a tool call, ``input`` as the arguments' JSON;
* ``tool_result`` (``tool_use_id``, ``content`` a string or blocks, ``is_error``) → one ``tool``
  message per result, before any text of the same user turn; a multi-block result's text
  blocks are joined with newlines, the blocks kept in ``extra.content_parts``;
* any other block (images, documents) stays in ``extra.content_parts`` of its message.

Tools are kept as given (``name``, ``description``, ``input_schema``); the OpenAI export wraps
them. The block order within an assistant turn is thinking, text, tool_use — what the API emits.
"""

from __future__ import annotations

from typing import Any

from .chat_formats import _common
from .errors import RecordError, expect, parts_text, type_name
from .messages import dumps_bytes, make, opt_str


def _system(value: Any) -> tuple[str, dict | None]:
    if isinstance(value, str):
        return value, None
    expect(value, list, "system", "a string or a list of text blocks")
    texts = []
    for i, block in enumerate(value):
        expect(block, dict, f"system[{i}]", "a text block")
        if block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise RecordError("wrong_type", "system blocks must be text blocks", f"system[{i}]")
        texts.append(block["text"])
    return "\n\n".join(texts), {"content_parts": value}


def _result_text(content: Any, field: str, extra: dict) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return parts_text(content, field, extra, ("text",), "\n", "blocks", "a content block")


def message(m: Any, field: str) -> list[tuple]:
    """One Anthropic message → one or more canonical messages (tool results split out)."""
    expect(m, dict, field, "a message object")
    role = m.get("role")
    if role is None:
        raise RecordError("missing_role", "message has no role", f"{field}.role")
    if role not in ("user", "assistant"):
        raise RecordError("unknown_role", "Anthropic messages have role user or assistant", f"{field}.role")
    rest = {k: v for k, v in m.items() if k not in ("role", "content")}
    content = m.get("content")
    if isinstance(content, str):
        return [make(role, content, extra=rest or None)]
    if content is None:
        raise RecordError("wrong_type", "message has no content", f"{field}.content")
    if not isinstance(content, list):
        raise RecordError("wrong_type", f"expected a string or a list of blocks, got {type_name(content)}",
                          f"{field}.content")
    out: list[tuple] = []
    texts, thinking, calls, others = [], [], [], []
    for i, block in enumerate(content):
        where = f"{field}.content[{i}]"
        expect(block, dict, where, "a content block")
        kind = block.get("type")
        if kind == "text":
            expect(block.get("text"), str, f"{where}.text", "a string")
            texts.append(block)
        elif kind in ("thinking", "redacted_thinking"):
            if role != "assistant":
                raise RecordError("wrong_type", "thinking blocks belong to assistant messages", f"{where}.type")
            thinking.append(block)
        elif kind == "tool_use":
            if role != "assistant":
                raise RecordError("wrong_type", "tool_use blocks belong to assistant messages", f"{where}.type")
            expect(block.get("name"), str, f"{where}.name", "a string")
            args = block.get("input")
            extra_keys = {k: v for k, v in block.items() if k not in ("type", "id", "name", "input")}
            calls.append(({"id": opt_str(block.get("id"), f"{where}.id"), "type": "function",
                           "function": {"name": block["name"],
                                        "arguments": None if args is None else dumps_bytes(args).decode()}},
                          extra_keys))
        elif kind == "tool_result":
            if role != "user":
                raise RecordError("wrong_type", "tool_result blocks belong to user messages", f"{where}.type")
            extra: dict = {k: v for k, v in block.items() if k not in ("type", "tool_use_id", "content")}
            text = _result_text(block.get("content"), f"{where}.content", extra)
            out.append(make("tool", text, tool_call_id=opt_str(block.get("tool_use_id"), f"{where}.tool_use_id"),
                            extra=extra or None))
        else:
            others.append(block)
    if not (texts or thinking or calls or others):
        return out  # a user turn of tool results only
    extra = dict(rest)
    text = "".join(b["text"] for b in texts) if texts else None
    if others or len(texts) > 1 or any(set(b) != {"type", "text"} for b in texts):
        extra["content_parts"] = texts + others
    joined = None
    if thinking:
        extra["anthropic_thinking"] = thinking
        joined = "\n\n".join(b["thinking"] for b in thinking if isinstance(b.get("thinking"), str))
    if any(e for _, e in calls):
        extra["tool_use_extra"] = [e for _, e in calls]
    if text is None and not calls:
        text = ""
    out.append(make(role, text, tool_calls=[c for c, _ in calls] or None, extra=extra or None, reasoning=joined))
    return out


def anthropic(record: dict) -> dict:
    """A Messages request body, or ``{"request": body, "response": Message}``."""
    if "request" in record:
        body, response = record.get("request"), record.get("response")
        expect(body, dict, "request", "a Messages request object")
        expect(response, dict, "response", "a Messages response object")
        row, metadata = _common({**{k: v for k, v in record.items() if k not in ("request", "response")},
                                 "tools": body.get("tools")}, ())
        metadata["request"] = {k: v for k, v in body.items() if k not in ("messages", "system", "tools")}
        metadata["response"] = {k: v for k, v in response.items() if k not in ("content", "role")}
        if row["source_id"] is None and response.get("id") is not None:
            row["source_id"] = str(response["id"])
    else:
        body, response = record, None
        row, metadata = _common(record, ("messages", "system"))
    messages: list[tuple] = []
    if body.get("system") is not None:
        text, extra = _system(body["system"])
        messages.append(make("system", text, extra=extra))
    turns = body.get("messages")
    if turns is None:
        raise RecordError("missing_field", "record has no messages", "messages")
    expect(turns, list, "messages", "a list of messages")
    for i, m in enumerate(turns):
        messages += message(m, f"messages[{i}]")
    if response is not None:
        messages += [(*m[:5], _mark_response(m[5]), *m[6:]) for m in message(
            {"role": "assistant", "content": response.get("content")}, "response")]
    row["messages"] = messages
    row["metadata"] = metadata or None
    return row


def _mark_response(extra: str | None) -> str:
    from .messages import dumps, loads

    e = loads(extra) if extra else {}
    e["anthropic_response"] = True
    return dumps(e)
