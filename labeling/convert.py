"""Judgments → TRL rows: the one conversion shared by annotator feedback and production feedback.

A conversation splits into a *prompt* (every message before the last assistant message) and a
*final answer* (that message). Judgments on the final answer become:

- a corrected answer (annotator correction or user edit) → a DPO pair, chosen = the correction,
  rejected = the original answer (origin ``edit``);
- a rating ≥ ``good_at`` / ≤ ``bad_at`` → a KTO row labelled true / false (origin ``rating``);
  a thumb → a KTO row (origin ``thumbs``); a good/bad label → a KTO row (origin ``label``);
- a ranking of two candidates → a DPO pair, chosen = the one ranked first (origin ``ranking``).

Rows keep lineage: ``source_ids`` (the conversation ids), ``source``/``source_id`` of the
conversation, and a JSON ``metadata`` (annotator ids, the signal that produced the row).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, model_validator

from sluice.errors import SluiceError

EMPTY_MESSAGE = {"role": "assistant", "content": None, "name": None, "tool_calls": None,
                 "tool_call_id": None, "extra": None}


class Thresholds(BaseModel):
    """When a 1–5 rating counts as a KTO label (ratings in between give none)."""

    good_at: float = Field(4, description="rating ≥ this → KTO label true")
    bad_at: float = Field(2, description="rating ≤ this → KTO label false")

    @model_validator(mode="after")
    def _ordered(self):
        if self.bad_at >= self.good_at:
            raise SluiceError(f"rating thresholds overlap: bad_at={self.bad_at} ≥ good_at={self.good_at}",
                              hint="pass e.g. --good-at 4 --bad-at 2")
        return self

    def label(self, rating: float | None) -> bool | None:
        if rating is None:
            return None
        if rating >= self.good_at:
            return True
        if rating <= self.bad_at:
            return False
        return None


@dataclass(frozen=True)
class Split:
    prompt: list[dict]
    final: dict


def split(messages: list[dict] | None) -> Split | None:
    """Prompt and final answer, or None when there is no assistant answer to judge."""
    if not messages:
        return None
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return Split(list(messages[:i]), messages[i])
    return None


def answer(content: str) -> dict:
    return {**EMPTY_MESSAGE, "content": content}


def text_of(message: dict) -> str:
    return message.get("content") or ""


def row_id(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _base(conv: dict, origin: str, meta: dict) -> dict:
    return {"source": conv.get("source") or "sluice", "source_id": conv["id"],
            "created_at": conv.get("created_at"), "origin": origin, "source_ids": [conv["id"]],
            "metadata": json.dumps(meta, sort_keys=True)}


def dpo_row(conv: dict, sp: Split, chosen: dict, rejected: dict, origin: str, meta: dict,
            score_chosen: float | None = None, score_rejected: float | None = None) -> dict:
    return {"id": row_id("dpo", origin, conv["id"], text_of(chosen), text_of(rejected)),
            **_base(conv, origin, meta), "prompt": sp.prompt, "chosen": [chosen], "rejected": [rejected],
            "score_chosen": score_chosen, "score_rejected": score_rejected}


def kto_row(conv: dict, sp: Split, label: bool, origin: str, meta: dict) -> dict:
    return {"id": row_id("kto", origin, conv["id"], label), **_base(conv, origin, meta),
            "prompt": sp.prompt, "completion": [sp.final], "label": label}
