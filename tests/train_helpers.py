"""Tiny datasets for the training tests, written straight into a store (no downloads)."""

from __future__ import annotations

import pyarrow as pa

from sluice.schemas import CONVERSATION, KTO, PREFERENCE

ANSWER = "the answer is 42."
TOPICS = ["paris", "passwords", "orders", "python", "spanish", "settings", "security", "shipping",
          "monday", "numbers", "functions", "capital", "help", "reset", "summary", "thanks",
          "weather", "music", "books", "coffee"]


def _msg(role: str, content: str) -> dict:
    return {"role": role, "content": content, "name": None, "tool_calls": None, "tool_call_id": None, "extra": None}


def conv_rows(prompts: list[str], answers: list[str], prefix: str, categories: list[str] | None = None) -> list[dict]:
    rows = []
    for i, (p, a) in enumerate(zip(prompts, answers)):
        meta = f'{{"category": "{categories[i]}"}}' if categories else None
        rows.append({"id": f"{prefix}-{i}", "source": "test", "source_id": str(i), "created_at": None,
                     "messages": [_msg("user", p), _msg("assistant", a)], "tools": None,
                     "feedback": None, "metadata": meta})
    return rows


def publish(store, name: str, kind: str, rows: list[dict]):
    schema = {"conversation": CONVERSATION, "preference": PREFERENCE, "kto": KTO}[kind]
    table = schema.conform(pa.Table.from_pylist(rows, schema=schema.schema))
    with store.create(name, kind) as w:
        w.write(table)
        return w.publish({"rows_in": len(rows), "kept": len(rows), "rejected_total": 0, "quarantined_total": 0,
                          "rejected": {}, "quarantined": {}})


def memo_prompts(start: int, n: int) -> list[str]:
    return [f"tell me about {TOPICS[i % len(TOPICS)]} number {i}?" for i in range(start, start + n)]


def pref_rows(prompts: list[str], prefix: str) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "source": "test", "source_id": str(i), "created_at": None,
             "prompt": [_msg("user", p)], "chosen": [_msg("assistant", ANSWER)],
             "rejected": [_msg("assistant", "i cannot help with that request.")], "origin": "synthetic",
             "score_chosen": None, "score_rejected": None, "source_ids": None, "metadata": None}
            for i, p in enumerate(prompts)]


def kto_rows(prompts: list[str], prefix: str) -> list[dict]:
    rows = []
    for i, p in enumerate(prompts):
        good = i % 2 == 0
        rows.append({"id": f"{prefix}-{i}", "source": "test", "source_id": str(i), "created_at": None,
                     "prompt": [_msg("user", p)],
                     "completion": [_msg("assistant", ANSWER if good else "i cannot help with that request.")],
                     "label": good, "origin": "synthetic", "source_ids": None, "metadata": None})
    return rows
