"""Adapters for chat logs → conversation rows.

Each adapter takes one parsed record (a dict) and returns a row dict with ``messages``
(canonical message tuples), ``source_id``, ``created_at`` (µs), ``tools``, ``feedback`` and
``metadata`` (every source key not used elsewhere). It raises RecordError for bad input.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import fields
from .errors import RecordError, expect, type_name
from .messages import (dumps, loads, make, openai_message, openai_messages, opt_str, pop_reasoning, quote_role,
                       tool_calls)

ID_KEYS = ("id", "conversation_id", "request_id", "uuid")
TIME_KEYS = ("created_at", "timestamp", "created", "time")


def _common(record: dict, used: tuple[str, ...]) -> tuple[dict, dict]:
    """Row fields every chat format shares, and the metadata left over."""
    metadata = {k: v for k, v in record.items() if k not in used}
    sid_key = next((k for k in ID_KEYS if record.get(k) is not None), None)
    time_key = next((k for k in TIME_KEYS if record.get(k) is not None), None)
    row = {
        "source_id": fields.source_id(record[sid_key], sid_key) if sid_key else None,
        "created_at": fields.timestamp_us(record[time_key], time_key) if time_key else None,
        "tools": fields.tools_json(record.get("tools")),
    }
    for key in (sid_key, time_key, "tools"):
        metadata.pop(key, None)
    row["feedback"] = fields.feedback(record, metadata)
    lineage = record.get("sluice")
    if lineage is not None:  # written by `sluice datasets export`: restore the exact row
        metadata.pop("sluice", None)
        _restore_lineage(row, lineage, metadata)
    row["metadata"] = metadata or None
    return row, metadata


def _restore_lineage(row: dict, lineage: Any, metadata: dict) -> None:
    expect(lineage, dict, "sluice", "an object with id, source, source_id, created_at")
    row["id"] = opt_str(lineage.get("id"), "sluice.id")
    row["source"] = opt_str(lineage.get("source"), "sluice.source")
    row["source_id"] = fields.source_id(lineage.get("source_id"), "sluice.source_id")
    row["created_at"] = fields.timestamp_us(lineage.get("created_at"), "sluice.created_at")
    fb = lineage.get("feedback")
    row["feedback"] = fields.feedback({"feedback": fb}, {}) if fb else None
    meta = lineage.get("metadata")
    if meta is not None:
        expect(meta, dict, "sluice.metadata", "an object")
    metadata.clear()
    metadata.update(meta or {})


def openai_chat(record: dict) -> dict:
    """OpenAI chat fine-tuning JSONL: ``{"messages": [...], "tools": [...], ...}``."""
    row, _ = _common(record, ("messages",))
    row["messages"] = openai_messages(record.get("messages"))
    lineage = record.get("sluice")
    if isinstance(lineage, dict) and ("message_extra" in lineage or "generated" in lineage or "reasoning" in lineage):
        _undo_openai_export(row, lineage)
    return row


def _undo_openai_export(row: dict, lineage: dict) -> None:
    """What `sluice datasets export --format openai` moved or generated, put back exactly:
    message extras and reasoning (kept out of the messages OpenAI validates), generated tool-call
    ids and tool_call_ids, and tool definitions before their wrapper was added."""
    messages = [list(m) for m in row["messages"]]
    extras = lineage.get("message_extra") or {}
    expect(extras, dict, "sluice.message_extra", "an object of message index → extra keys")
    made = lineage.get("generated") or {}
    expect(made, dict, "sluice.generated", "an object")
    reasoning = lineage.get("reasoning") or {}
    expect(reasoning, dict, "sluice.reasoning", "an object of message index → reasoning text")
    try:
        for index, extra in extras.items():
            messages[int(index)][5] = dumps(extra) if extra else None
        for index, text in reasoning.items():
            messages[int(index)][6] = opt_str(text, f"sluice.reasoning.{index}")
        for i, j in made.get("call_ids", []):
            calls = [dict(c) for c in messages[i][3]]
            calls[j]["id"] = None
            messages[i][3] = calls
        for i in made.get("tool_call_ids", []):
            messages[i][4] = None
    except (ValueError, IndexError, TypeError, KeyError):
        raise RecordError("wrong_type", "positions do not match the messages", "sluice.generated") from None
    if "tools" in made:
        row["tools"] = fields.tools_json(made["tools"], "sluice.generated.tools")
    row["messages"] = [tuple(m) for m in messages]


def openai_log(record: dict) -> dict:
    """Gateway request/response log: request messages + the response's first choice.

    Model, usage, latency, finish reason and request parameters go to metadata.
    """
    request, response = record.get("request"), record.get("response")
    expect(request, dict, "request", "an object with messages")
    expect(response, dict, "response", "an object with choices")
    row, metadata = _common(record, ("request", "response"))
    messages = openai_messages(request.get("messages"), "request.messages")
    choices = response.get("choices")
    expect(choices, list, "response.choices", "a list of choices")
    if not choices:
        raise RecordError("no_assistant_turn", "response has no choices", "response.choices")
    choice = choices[0]
    expect(choice, dict, "response.choices[0]", "a choice object")
    messages.append(openai_message(choice.get("message"), "response.choices[0].message"))
    row["messages"] = messages
    if row["tools"] is None:
        row["tools"] = fields.tools_json(request.get("tools"), "request.tools")
    if row["source_id"] is None and response.get("id") is not None:
        row["source_id"] = fields.source_id(response["id"], "response.id")
    if row["created_at"] is None and response.get("created") is not None:
        row["created_at"] = fields.timestamp_us(response["created"], "response.created")
    metadata["request"] = {k: v for k, v in request.items() if k not in ("messages", "tools")}
    metadata["response"] = {k: v for k, v in response.items() if k != "choices"}
    metadata["finish_reason"] = choice.get("finish_reason")
    if len(choices) > 1:
        metadata["other_choices"] = choices[1:]
    row["metadata"] = metadata or None  # _common set None when the record had no extra keys
    return row


# "id" is not among them: on a function_call turn it is the call's id, on any other turn a
# message id some logs carry, kept in extra like every other key.
_SHAREGPT_KEYS = frozenset(("from", "value", "tool_call_id", "tool_calls", "name"))
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bard": "assistant", "bing": "assistant", "model": "assistant", "system": "system",
    "observation": "tool", "tool": "tool", "function": "tool", "function_call": "function_call",
}


def sharegpt_turn(turn: Any, field: str) -> tuple:
    expect(turn, dict, field, "a turn object with from/value")
    if "from" not in turn and "role" in turn:  # LLaMA-Factory's role/content tags
        return openai_message(turn, field)
    speaker = turn.get("from")
    if speaker is None:
        raise RecordError("missing_role", "turn has no 'from'", f"{field}.from")
    expect(speaker, str, f"{field}.from", "a string")
    role = SHAREGPT_ROLES.get(speaker.lower())
    if role is None:
        raise RecordError("unknown_role", f"unknown speaker{quote_role(speaker)}; expected "
                                          "human, gpt, system, function_call or observation", f"{field}.from")
    value = turn.get("value")
    calls = tool_calls(turn.get("tool_calls"), f"{field}.tool_calls")
    if not (value is None and calls):
        expect(value, str, f"{field}.value", "a string")
    extra = {k: v for k, v in turn.items() if k not in _SHAREGPT_KEYS}
    reasoning = pop_reasoning(extra, field)
    if speaker.lower() not in ("human", "gpt", "system", "observation", "function_call"):
        extra["original_role"] = speaker
    if role == "function_call":
        try:
            call = loads(value)
        except orjson.JSONDecodeError:
            raise RecordError("wrong_type", "function_call value is not valid JSON", f"{field}.value") from None
        expect(call, dict, f"{field}.value", "a JSON object with name and arguments")
        args = call.get("arguments")
        tool_call = {"id": opt_str(extra.pop("id", None), f"{field}.id"), "type": "function",
                     "function": {"name": call.get("name"),
                                  "arguments": args if args is None or isinstance(args, str) else dumps(args)}}
        expect(tool_call["function"]["name"], str, f"{field}.value.name", "a string")
        return make("assistant", None, name=opt_str(turn.get("name"), f"{field}.name"), tool_calls=[tool_call],
                    tool_call_id=opt_str(turn.get("tool_call_id"), f"{field}.tool_call_id"), extra=extra or None,
                    reasoning=reasoning)
    call_id = opt_str(turn.get("tool_call_id"), f"{field}.tool_call_id")
    return make(role, value, name=opt_str(turn.get("name"), f"{field}.name"), tool_calls=calls,
                tool_call_id=call_id, extra=extra or None, reasoning=reasoning)


def sharegpt(record: dict) -> dict:
    """ShareGPT / FastChat: ``{"conversations": [{"from": "human", "value": ...}, ...]}``."""
    row, _ = _common(record, ("conversations", "system"))
    turns = record.get("conversations")
    if turns is None:
        raise RecordError("missing_field", "record has no conversations list", "conversations")
    expect(turns, list, "conversations", "a list of turns")
    messages = [sharegpt_turn(t, f"conversations[{i}]") for i, t in enumerate(turns)]
    system = record.get("system")
    if system:
        expect(system, str, "system", "a string")
        messages.insert(0, make("system", system, extra={"sharegpt_system": True}))
    row["messages"] = messages
    return row


def alpaca(record: dict) -> dict:
    """Alpaca: instruction (+ input) → user turn, output → assistant; optional system and history."""
    row, _ = _common(record, ("instruction", "input", "output", "system", "history"))
    instruction, extra_input, output = record.get("instruction"), record.get("input"), record.get("output")
    expect(instruction, str, "instruction", "a string")
    expect(output, str, "output", "a string")
    if extra_input is not None:
        expect(extra_input, str, "input", "a string")
    messages = []
    if record.get("system"):
        expect(record["system"], str, "system", "a string")
        messages.append(make("system", record["system"]))
    for i, pair in enumerate(record.get("history") or []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise RecordError("wrong_type", "history items must be [instruction, answer] string pairs",
                              f"history[{i}]")
        messages += [make("user", pair[0]), make("assistant", pair[1])]
    prompt = f"{instruction}\n\n{extra_input}" if extra_input else instruction
    messages += [make("user", prompt, extra={"alpaca_input": extra_input} if extra_input else None),
                 make("assistant", output)]
    row["messages"] = messages
    return row


def self_instruct_seed(record: dict) -> dict:
    """Self-Instruct seed tasks: instruction + its first instance (input, output).

    The other instances and the task's name and classification flag stay in metadata.
    """
    instances = record.get("instances")
    expect(instances, list, "instances", "a list of {input, output} objects")
    if not instances:
        raise RecordError("empty_conversation", "the task has no instances", "instances")
    first = instances[0]
    expect(first, dict, "instances[0]", "an object with input and output")
    row = alpaca({**{k: v for k, v in record.items() if k != "instances"},
                  "input": first.get("input"), "output": first.get("output")})
    if len(instances) > 1:
        meta = row["metadata"] or {}
        meta["other_instances"] = instances[1:]
        row["metadata"] = meta
    return row


def turns(value: Any, field: str, role: str) -> list[tuple]:
    """A string (one turn of ``role``) or a list of OpenAI messages."""
    if isinstance(value, str):
        return [make(role, value)]
    if isinstance(value, list):
        return openai_messages(value, field)
    if value is None:
        raise RecordError("missing_field", f"record has no {field}", field)
    raise RecordError("wrong_type", f"expected a string or a list of messages, got {type_name(value)}", field)


def prompt_completion(record: dict) -> dict:
    """``{"prompt": ..., "completion": ...}`` (strings or message lists) → one exchange."""
    row, _ = _common(record, ("prompt", "completion"))
    row["messages"] = turns(record.get("prompt"), "prompt", "user") + turns(
        record.get("completion"), "completion", "assistant")
    return row


def sluice_conversation(record: dict) -> dict:
    """sluice's own JSONL export: every column of a conversation row, restored exactly."""
    row = {
        "id": fields.source_id(record.get("id")),
        "source": opt_str(record.get("source"), "source"),
        "source_id": fields.source_id(record.get("source_id"), "source_id"),
        "created_at": fields.timestamp_us(record.get("created_at"), "created_at"),
        "messages": openai_messages(record.get("messages")),
        "tools": fields.tools_json(record.get("tools")),
        "feedback": fields.feedback({"feedback": record["feedback"]}, {}) if record.get("feedback") else None,
    }
    meta = record.get("metadata")
    if meta is not None:
        expect(meta, dict, "metadata", "an object")
    row["metadata"] = meta or None
    return row
