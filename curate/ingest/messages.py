"""One canonical message type and the converters into it.

A canonical message is a tuple ``(role, content, name, tool_calls, tool_call_id, extra,
reasoning)`` matching ``sluice.schemas.MESSAGE``. Tuples, not dicts: ingest builds Arrow columns from
them directly, which is what makes it fast. Anything a source had that has no field of its
own goes into ``extra`` (a JSON object), so nothing is lost.
"""

from __future__ import annotations

from typing import Any

from sluice.exact_json import dumps, dumps_bytes, loads  # noqa: F401 (re-exported to the readers)

from .errors import RecordError, expect, type_name

ROLES = frozenset(("system", "user", "assistant", "tool"))
# Roles of older OpenAI formats, mapped to the current ones; the original is kept in extra.
ROLE_ALIASES = {"developer": "system", "function": "tool"}
_KNOWN_KEYS = frozenset(("role", "content", "name", "tool_calls", "tool_call_id", "function_call"))
# Keys sources give a turn's reasoning under (vLLM / DeepSeek / Qwen templates / TRL:
# ``reasoning_content``; sluice's own export and OpenRouter: ``reasoning``), when it is text.
REASONING_KEYS = ("reasoning", "reasoning_content")

Message = tuple  # (role, content, name, tool_calls, tool_call_id, extra, reasoning)


# The readers' JSON (loads, dumps, dumps_bytes: exact, integers of any size) is the core's, sluice/exact_json.py.


def make(role: str, content: str | None, *, name=None, tool_calls=None, tool_call_id=None,
         extra: dict | None = None, reasoning: str | None = None) -> Message:
    return (role, content, name, tool_calls, tool_call_id, dumps(extra) if extra else None, reasoning or None)


def pop_reasoning(extra: dict, field: str) -> str | None:
    """The turn's reasoning text, taken out of a message's source keys (``REASONING_KEYS``, the
    first that is a string; one that is not text stays a source key)."""
    for key in REASONING_KEYS:
        if isinstance(extra.get(key), str):
            return extra.pop(key)
    return None


def content_text(content: Any, field: str, extra: dict) -> str | None:
    """A string, null, or a list of content parts (OpenAI ``text``, LLaMA-Factory ``value``)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
                continue
            expect(part, dict, f"{field}[{i}]", "a content part object")
            text = part.get("text", part.get("value"))
            if part.get("type", "text") == "text" and isinstance(text, str):
                texts.append(text)
        extra["content_parts"] = content  # exact original shape, for export
        return "".join(texts)
    raise RecordError("wrong_type", f"expected a string, a list of content parts or null, got {type_name(content)}",
                      field)


def tool_calls(value: Any, field: str) -> list[dict] | None:
    if value is None:
        return None
    expect(value, list, field, "a list of tool calls")
    calls = []
    for i, call in enumerate(value):
        where = f"{field}[{i}]"
        expect(call, dict, where, "a tool call object")
        fn = call.get("function")
        expect(fn, dict, f"{where}.function", "an object with name and arguments")
        args = fn.get("arguments")
        if not isinstance(args, str):  # some logs store parsed arguments; keep them as JSON text
            args = None if args is None else dumps(args)
        name = fn.get("name")
        expect(name, str, f"{where}.function.name", "a string")
        calls.append({"id": opt_str(call.get("id"), f"{where}.id"),
                      "type": opt_str(call.get("type"), f"{where}.type") or "function",
                      "function": {"name": name, "arguments": args}})
    return calls


def openai_message(m: Any, field: str) -> Message:
    """An OpenAI chat message (current or legacy ``function`` / ``function_call`` shape)."""
    expect(m, dict, field, "a message object")
    role = m.get("role")
    if role is None:
        raise RecordError("missing_role", "message has no role", f"{field}.role")
    if not isinstance(role, str):
        raise RecordError("wrong_type", f"role must be a string, got {type_name(role)}", f"{field}.role")
    extra = {k: v for k, v in m.items() if k not in _KNOWN_KEYS}
    if role in ROLE_ALIASES:
        extra["original_role"] = role
        role = ROLE_ALIASES[role]
    elif role not in ROLES:
        raise RecordError("unknown_role", f"unknown role{quote_role(role)}; expected one of system, user, "
                                          "assistant, tool", f"{field}.role")
    content = content_text(m.get("content"), f"{field}.content", extra)
    calls = tool_calls(m.get("tool_calls"), f"{field}.tool_calls")
    if m.get("function_call") is not None:  # legacy single call
        legacy = tool_calls([{"function": m["function_call"]}], f"{field}.function_call")
        calls = (calls or []) + legacy
        extra["legacy_function_call"] = True
    if content is None and not calls and role != "assistant":
        raise RecordError("wrong_type", "message has no content", f"{field}.content")
    if content is None and not calls:
        raise RecordError("wrong_type", "assistant message has neither content nor tool_calls", f"{field}.content")
    reasoning = pop_reasoning(extra, field)
    return make(role, content, name=opt_str(m.get("name"), f"{field}.name"), tool_calls=calls,
                tool_call_id=opt_str(m.get("tool_call_id"), f"{field}.tool_call_id"), extra=extra or None,
                reasoning=reasoning)


def openai_messages(value: Any, field: str = "messages") -> list[Message]:
    if value is None:
        raise RecordError("missing_field", "record has no message list", field)
    expect(value, list, field, "a list of messages")
    return [openai_message(m, f"{field}[{i}]") for i, m in enumerate(value)]


def opt_str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise RecordError("wrong_type", f"expected a string, got {type_name(value)}", field)


# Role codes other chat formats use. Only these are echoed in errors: an arbitrary role string
# can be a person's name (speaker-labelled transcripts), and errors never quote record values.
KNOWN_FOREIGN_ROLES = frozenset((
    "human", "gpt", "bot", "ai", "model", "chatgpt", "bard", "bing", "llm", "agent", "customer", "client",
    "operator", "support", "function", "function_call", "observation", "tool_response", "tool_call",
    "ipython", "developer", "context", "document", "memory", "narrator", "char", "character", "prompter",
    "assistant_prefill", "input", "output", "instruction", "response", "question", "answer", "moderator",
))


def quote_role(role: str) -> str:
    """`` 'code'`` when ``role`` is a known role code of some format, else ``""`` (never echo values)."""
    return f" {role!r}" if role.strip().lower() in KNOWN_FOREIGN_ROLES else ""


def as_dict(msg: Message) -> dict:
    """A canonical message as an OpenAI-style dict (None fields left out), for export."""
    role, content, name, calls, call_id, extra, reasoning = msg
    out: dict[str, Any] = {"role": role, "content": content}
    if reasoning is not None:
        out["reasoning"] = reasoning
    if name is not None:
        out["name"] = name
    if calls:
        out["tool_calls"] = calls
    if call_id is not None:
        out["tool_call_id"] = call_id
    if extra:
        out.update(loads(extra))
    return out
