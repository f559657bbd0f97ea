"""OpenAI Responses API items → one conversation row.

A record is a logged Responses call: ``input`` (a string or a list of items), ``output`` (the
response's items), and optionally ``instructions``, ``tools`` and the response's own fields
(``id``, ``created_at``, ``model``, ``usage``, … → metadata). Items, in order:

* messages (``{"role": …, "content": str | [input_text/output_text parts]}``, ``type: message``);
* ``function_call`` (``call_id``, ``name``, ``arguments``) → a tool call on the assistant turn
  (consecutive calls and the assistant message they follow form one turn);
* ``function_call_output`` (``call_id``, ``output``) → a ``tool`` message;
* ``reasoning`` (``summary`` / ``content`` texts, ``encrypted_content``) → the reasoning of the
  next assistant turn, kept apart from its content: the message's ``reasoning`` (the text) and
  ``extra.responses_reasoning`` (the items as given, ids and encrypted content included).

Item fields with no message field of their own (ids, status) are kept in
``extra.responses_items`` so ``sluice datasets export --format responses`` rebuilds the items.
Any other item type (built-in tool calls, item references) quarantines the record with its
position: it has no chat equivalent, and silently dropping it would change the trace.
"""

from __future__ import annotations

from typing import Any

from .chat_formats import _common
from .errors import RecordError, expect, parts_text, type_name
from .messages import ROLE_ALIASES, dumps, dumps_bytes, loads, make, opt_str

_MESSAGE_KEYS = ("role", "content", "type")
_CALL_KEYS = ("type", "call_id", "name", "arguments")
_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")


def _parts_text(content: Any, field: str, extra: dict) -> str:
    """A string, or the text of a list of content parts (kept whole in ``extra.content_parts``)."""
    if isinstance(content, str):
        return content
    return parts_text(content, field, extra, _TEXT_PARTS, "", "content parts", "a content part object")


def reasoning_text(item: dict, field: str) -> str:
    texts = []
    for key in ("summary", "content"):
        parts = item.get(key) or []
        expect(parts, list, f"{field}.{key}", "a list of text parts")
        for j, part in enumerate(parts):
            expect(part, dict, f"{field}.{key}[{j}]", "a text part object")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n\n".join(texts)


class _Turns:
    """Canonical messages built item by item; calls join the assistant turn before them."""

    def __init__(self, owners: list[int] | None = None):
        self.owners = owners  # message index of each item (sluice's own export): exact turn boundaries
        self.seen = 0
        self.messages: list[list] = []
        self.reasoning: list[dict] = []  # reasoning items waiting for the next assistant turn
        self.open_assistant = False

    def _extra(self, msg: list) -> dict:
        return loads(msg[5]) if msg[5] else {}

    def _assistant(self) -> list:
        if not self.open_assistant:
            self.messages.append(list(make("assistant", None)))
            self.open_assistant = True
        msg = self.messages[-1]
        if self.reasoning:
            extra = self._extra(msg)
            items = extra.get("responses_reasoning", []) + self.reasoning
            text = "\n\n".join(t for t in (reasoning_text(it, "reasoning") for it in items) if t)
            extra["responses_reasoning"] = items
            msg[6] = text or None
            msg[5] = dumps(extra)
            self.reasoning = []
        return msg

    def note(self, msg: list, item: dict, keys: tuple[str, ...]) -> None:
        """Keep the item's own fields (id, status, …) for an exact re-export."""
        extra = self._extra(msg)
        extra.setdefault("responses_items", []).append(
            {"type": item.get("type", "message"), **{k: v for k, v in item.items() if k not in keys}})
        msg[5] = dumps(extra)

    def message(self, item: dict, field: str) -> None:
        role = item.get("role")
        if role is None:
            raise RecordError("missing_role", "message item has no role", f"{field}.role")
        expect(role, str, f"{field}.role", "a string")
        extra: dict = {}
        if role in ROLE_ALIASES:
            extra["original_role"] = role
            role = ROLE_ALIASES[role]
        if role not in ("system", "user", "assistant"):
            raise RecordError("unknown_role", "message item role must be system, developer, user or assistant",
                              f"{field}.role")
        text = _parts_text(item.get("content"), f"{field}.content", extra)
        if role == "assistant":
            msg = self._assistant()
            if msg[1] is not None or msg[3]:  # a second message in one turn: its own turn
                self.open_assistant = False
                msg = self._assistant()
            msg[1] = text
            merged = {**self._extra(msg), **extra}
            msg[5] = dumps(merged) if merged else None
        else:
            self.open_assistant = False
            msg = list(make(role, text, extra=extra or None))
            self.messages.append(msg)
        if "type" in item or set(item) - set(_MESSAGE_KEYS):
            self.note(msg, item, _MESSAGE_KEYS)

    def call(self, item: dict, field: str) -> None:
        name, args, cid = item.get("name"), item.get("arguments"), item.get("call_id")
        expect(name, str, f"{field}.name", "a string")
        if args is not None and not isinstance(args, str):
            args = dumps_bytes(args).decode()
        msg = self._assistant()
        calls = list(msg[3] or [])
        calls.append({"id": opt_str(cid, f"{field}.call_id"), "type": "function",
                      "function": {"name": name, "arguments": args}})
        msg[3] = calls
        self.note(msg, item, _CALL_KEYS)

    def output(self, item: dict, field: str) -> None:
        out = item.get("output")
        if out is None:
            raise RecordError("missing_field", "function_call_output has no output", f"{field}.output")
        extra: dict = {}
        if not isinstance(out, str):
            expect(out, list, f"{field}.output", "a string or a list of content parts")
            out = _parts_text(out, f"{field}.output", extra)
        self.open_assistant = False
        msg = list(make("tool", out, tool_call_id=opt_str(item.get("call_id"), f"{field}.call_id"),
                        extra=extra or None))
        self.messages.append(msg)
        self.note(msg, item, ("type", "call_id", "output"))

    def add(self, item: Any, field: str) -> None:
        expect(item, dict, field, "an item object")
        if self.owners is not None:
            k = self.seen
            self.seen += 1
            if 0 < k < len(self.owners) and self.owners[k] != self.owners[k - 1]:
                self.open_assistant = False
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            self.message(item, field)
        elif kind == "function_call":
            self.call(item, field)
        elif kind == "function_call_output":
            self.output(item, field)
        elif kind == "reasoning":
            self.reasoning.append(item)
        else:
            raise RecordError("unsupported_item", "item type has no chat equivalent (supported: message, "
                                                  "function_call, function_call_output, reasoning)", f"{field}.type")


def responses(record: dict) -> dict:
    """A Responses API call: ``input`` + ``output`` items (+ instructions, tools, response fields)."""
    row, metadata = _common(record, ("input", "output", "instructions"))
    lineage = record.get("sluice") if isinstance(record.get("sluice"), dict) else None
    owners = lineage.get("message_of_item") if lineage else None
    turns = _Turns(owners if isinstance(owners, list) else None)
    instructions = record.get("instructions")
    if instructions is not None:
        expect(instructions, str, "instructions", "a string")
        turns.messages.append(list(make("system", instructions, extra={"responses_instructions": True})))
    inp = record.get("input")
    if isinstance(inp, str):
        turns.messages.append(list(make("user", inp, extra={"responses_input_string": True})))
    elif isinstance(inp, list):
        for i, item in enumerate(inp):
            turns.add(item, f"input[{i}]")
    elif inp is not None:
        raise RecordError("wrong_type", f"expected a string or a list of items, got {type_name(inp)}", "input")
    out = record.get("output")
    expect(out, list, "output", "a list of output items")
    turns.open_assistant = False  # the response is a new assistant turn
    n_in = len(turns.messages)
    for i, item in enumerate(out):
        turns.add(item, f"output[{i}]")
    if turns.reasoning:  # reasoning with no turn after it: kept on the record, never lost
        metadata["responses_trailing_reasoning"] = turns.reasoning
    row["metadata"] = metadata or None
    for m in turns.messages[n_in:]:
        extra = loads(m[5]) if m[5] else {}
        extra["responses_output"] = True
        m[5] = dumps(extra)
    row["messages"] = [tuple(m) for m in turns.messages]
    if lineage is not None and "message_of_item" in lineage:
        _undo_export(row, lineage)
    return row


def _undo_export(row: dict, lineage: dict) -> None:
    """What `sluice datasets export --format responses` moved or generated, put back exactly."""
    from .chat_formats import _undo_openai_export

    messages = [list(m) for m in row["messages"]]
    extras = lineage.get("message_extra") or {}
    names = lineage.get("names") or {}
    expect(extras, dict, "sluice.message_extra", "an object of message index → extra keys")
    try:
        calls = lineage.get("tool_calls") or {}
        for i, m in enumerate(messages):
            m[5] = dumps(extras[str(i)]) if extras.get(str(i)) else None
            m[2] = names.get(str(i))
            if str(i) in calls:
                m[3] = [dict(c) for c in calls[str(i)]]
    except (TypeError, AttributeError):
        raise RecordError("wrong_type", "sluice.names must be an object", "sluice.names") from None
    row["messages"] = [tuple(m) for m in messages]
    if "generated" in lineage or "tools" in lineage:
        _undo_openai_export(row, {"generated": {**(lineage.get("generated") or {}),
                                                **({"tools": lineage["tools"]} if "tools" in lineage else {})}})

