"""Adapters for existing preference (DPO) and KTO data → preference / kto rows.

Layouts: TRL (prompt/chosen/rejected, prompt/completion/label; strings or message lists,
explicit or implicit prompt), LLaMA-Factory (sharegpt ``conversations`` + chosen/rejected
turns; v1 ``chosen_messages``/``rejected_messages``; ``messages`` + ``label`` for KTO) and
Anthropic HH transcripts (``\\n\\nHuman: … \\n\\nAssistant: …``).
"""

from __future__ import annotations

import re
from typing import Any

from . import fields
from .chat_formats import ID_KEYS, sharegpt_turn, turns
from .errors import Dropped, RecordError, expect, type_name
from .messages import make, openai_messages, opt_str


def _base(record: dict, used: tuple[str, ...]) -> dict:
    metadata = {k: v for k, v in record.items() if k not in used and k not in ID_KEYS}
    sid_key = next((k for k in ID_KEYS if record.get(k) is not None), None)
    return {
        "source_id": fields.source_id(record[sid_key], sid_key) if sid_key else None,
        "created_at": None,
        "origin": "imported",
        "source_ids": None,
        "metadata": metadata or None,
    }


def split_prompt(chosen: list[tuple], rejected: list[tuple], field: str) -> tuple[list, list, list]:
    """Implicit prompt (TRL): the shared leading messages of chosen and rejected."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    if n == 0 and (not chosen or not rejected):
        raise RecordError("empty_conversation", "chosen or rejected is empty", field)
    return chosen[:n], chosen[n:], rejected[n:]


def trl_preference(record: dict) -> dict:
    row = _base(record, ("prompt", "chosen", "rejected", "score_chosen", "score_rejected"))
    chosen = turns(record.get("chosen"), "chosen", "assistant")
    rejected = turns(record.get("rejected"), "rejected", "assistant")
    if record.get("prompt") is None:
        prompt, chosen, rejected = split_prompt(chosen, rejected, "chosen")
    else:
        prompt = turns(record["prompt"], "prompt", "user")
    for key in ("score_chosen", "score_rejected"):
        row[key] = _score(record.get(key), key)
    return {**row, "prompt": prompt, "chosen": chosen, "rejected": rejected}


def _one_or_many(value: Any, field: str) -> list[tuple]:
    if isinstance(value, list):
        return [sharegpt_turn(t, f"{field}[{i}]") for i, t in enumerate(value)]
    return [sharegpt_turn(value, field)]


def llamafactory_preference(record: dict) -> dict:
    row = _base(record, ("conversations", "chosen", "rejected", "system"))
    convo = record.get("conversations")
    expect(convo, list, "conversations", "a list of turns")
    prompt = [sharegpt_turn(t, f"conversations[{i}]") for i, t in enumerate(convo)]
    if record.get("system"):
        expect(record["system"], str, "system", "a string")
        prompt.insert(0, make("system", record["system"]))
    return {**row, "prompt": prompt, "chosen": _one_or_many(record.get("chosen"), "chosen"),
            "rejected": _one_or_many(record.get("rejected"), "rejected"),
            "score_chosen": None, "score_rejected": None}


def llamafactory_v1_preference(record: dict) -> dict:
    row = _base(record, ("chosen_messages", "rejected_messages"))
    chosen = openai_messages(record.get("chosen_messages"), "chosen_messages")
    rejected = openai_messages(record.get("rejected_messages"), "rejected_messages")
    prompt, chosen, rejected = split_prompt(chosen, rejected, "chosen_messages")
    return {**row, "prompt": prompt, "chosen": chosen, "rejected": rejected,
            "score_chosen": None, "score_rejected": None}


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def hh_transcript(text: Any, field: str) -> list[tuple]:
    expect(text, str, field, "a transcript string")
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise RecordError("wrong_type", "transcript does not start with a Human/Assistant turn", field)
    roles = {"Human": "user", "Assistant": "assistant"}
    return [make(roles[parts[i]], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def hh(record: dict) -> dict:
    row = _base(record, ("chosen", "rejected"))
    prompt, chosen, rejected = split_prompt(
        hh_transcript(record.get("chosen"), "chosen"), hh_transcript(record.get("rejected"), "rejected"), "chosen")
    return {**row, "prompt": prompt, "chosen": chosen, "rejected": rejected,
            "score_chosen": None, "score_rejected": None}


def pairwise_preference(record: dict) -> dict:
    """AlpacaEval-style pairwise judgments: ``instruction``, ``output_1``, ``output_2``, ``preference``.

    ``preference`` says which output won: 1 → ``output_1``, 2 → ``output_2`` (AlpacaEval's
    probability-weighted values in between go to the nearer side); 0 or 1.5 is a tie, which
    makes no pair: the record is rejected with reason ``preference_tie`` (counted). The raw
    ``preference`` stays in metadata.
    """
    row = _base(record, ("instruction", "input", "output_1", "output_2"))
    instruction = record.get("instruction")
    expect(instruction, str, "instruction", "a string")
    extra_input = record.get("input")
    if extra_input is not None:
        expect(extra_input, str, "input", "a string")
    outputs = []
    for key in ("output_1", "output_2"):
        expect(record.get(key), str, key, "a string")
        outputs.append([make("assistant", record[key])])
    pref = record.get("preference")
    if isinstance(pref, bool) or not isinstance(pref, (int, float)) or not (pref == 0 or 1 <= pref <= 2):
        raise RecordError("wrong_type", "preference must be 1 (output_1 preferred), 2 (output_2) or 0 / 1.5 (tie)",
                          "preference")
    prompt = [make("user", f"{instruction}\n\n{extra_input}" if extra_input else instruction,
                   extra={"alpaca_input": extra_input} if extra_input else None)]
    first_wins = pref < 1.5
    chosen, rejected = (outputs[0], outputs[1]) if first_wins else (outputs[1], outputs[0])
    out = {**row, "prompt": prompt, "chosen": chosen, "rejected": rejected,
           "score_chosen": None, "score_rejected": None}
    if pref == 0 or pref == 1.5:
        raise Dropped("preference_tie", out, "a tie names no preferred output: no pair")
    return out


def _label(value: Any) -> bool:
    if not isinstance(value, bool):
        raise RecordError("wrong_type", "label must be true or false", "label")
    return value


def trl_kto(record: dict) -> dict:
    row = _base(record, ("prompt", "completion", "label"))
    row.pop("source_ids")
    return {**row, "source_ids": None, "prompt": turns(record.get("prompt"), "prompt", "user"),
            "completion": turns(record.get("completion"), "completion", "assistant"),
            "label": _label(record.get("label"))}


def llamafactory_kto(record: dict) -> dict:
    row = _base(record, ("messages", "conversations", "label", "kto_tag"))
    if "messages" in record:
        messages = openai_messages(record.get("messages"))
    else:
        convo = record.get("conversations")
        expect(convo, list, "conversations", "a list of turns")
        messages = [sharegpt_turn(t, f"conversations[{i}]") for i, t in enumerate(convo)]
    if not messages or messages[-1][0] != "assistant":
        raise RecordError("no_assistant_turn", "the last message must be the assistant's completion", "messages")
    label = record.get("label", record.get("kto_tag"))
    return {**row, "prompt": messages[:-1], "completion": messages[-1:], "label": _label(label)}


def sluice_pairs(kind: str):
    """sluice's own JSONL export of preference / kto rows."""
    msg_cols = ("prompt", "chosen", "rejected") if kind == "preference" else ("prompt", "completion")

    def parse(record: dict) -> dict:
        # Every column is checked here: a value of the wrong type must cost its own row
        # (quarantined), never fail the Arrow conversion of the whole batch.
        row = {
            "id": fields.source_id(record.get("id"), "id"),
            "source": opt_str(record.get("source"), "source"),
            "source_id": fields.source_id(record.get("source_id"), "source_id"),
            "created_at": fields.timestamp_us(record.get("created_at"), "created_at"),
            "origin": opt_str(record.get("origin"), "origin") or "imported",
            "source_ids": _str_list(record.get("source_ids"), "source_ids"),
        }
        for col in msg_cols:
            row[col] = openai_messages(record.get(col), col)
        if kind == "preference":
            for key in ("score_chosen", "score_rejected"):
                row[key] = _score(record.get(key), key)
        else:
            row["label"] = _label(record.get("label"))
        meta = record.get("metadata")
        if meta is not None and not isinstance(meta, (dict, str)):
            raise RecordError("wrong_type", f"expected an object, got {type_name(meta)}", "metadata")
        row["metadata"] = meta
        return row

    return parse


def _score(value: Any, field: str) -> float | None:
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        raise RecordError("wrong_type", f"expected a number, got {type_name(value)}", field)
    return None if value is None else float(value)


def _str_list(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    expect(value, list, field, "a list of strings")
    for i, item in enumerate(value):
        expect(item, str, f"{field}[{i}]", "a string")
    return value
