"""Row builders: accumulate adapter rows and emit Arrow tables of a record kind.

The conversation builder fills Arrow columns directly (one flat list per message field plus
offsets) instead of converting nested dicts — most of ingest's speed comes from this.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from sluice.schemas import CONVERSATION, FEEDBACK, KTO, MESSAGES, PREFERENCE, TOOL_CALL

from .errors import RecordError
from .fields import stable_id
from .messages import dumps

_MSG_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id", "extra", "reasoning")
_TS = pa.timestamp("us", tz="UTC")


class _Messages:
    """Flat columns of canonical message tuples, plus list offsets."""

    def __init__(self):
        self.cols: list[list] = [[] for _ in _MSG_FIELDS]
        self.offsets = [0]

    def add(self, messages: list[tuple]) -> None:
        for col, values in zip(self.cols, zip(*messages)) if messages else ():
            col.extend(values)
        self.offsets.append(self.offsets[-1] + len(messages))

    def array(self) -> pa.Array:
        role, content, name, calls, call_id, extra, reasoning = self.cols
        struct = pa.StructArray.from_arrays(
            [pa.array(role, pa.string()), pa.array(content, pa.string()), pa.array(name, pa.string()),
             pa.array(calls, pa.list_(TOOL_CALL)), pa.array(call_id, pa.string()), pa.array(extra, pa.string()),
             pa.array(reasoning, pa.string())],
            fields=list(MESSAGES.value_type),
        )
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), struct, type=MESSAGES)


def _metadata_json(meta: dict | None) -> str | None:
    if not meta:
        return None
    try:
        return dumps(meta)
    except (TypeError, ValueError, RecursionError) as e:
        raise RecordError("wrong_type", f"metadata holds a value JSON cannot represent ({type(e).__name__})",
                          "metadata") from None


def _content_key(messages: list[tuple]) -> list:
    return [list(m) for m in messages]


class ConversationBuilder:
    kind = "conversation"

    def __init__(self, source: str):
        self.source = source
        self.clear()

    def clear(self) -> None:
        self.ids: list[str] = []
        self.content_ids: list[str | None] = []  # the content's id, for rows whose id hashes a source id
        self.sources: list[str] = []
        self.source_ids: list[Any] = []
        self.created: list[Any] = []
        self.messages = _Messages()
        self.tools: list[Any] = []
        self.feedback: list[Any] = []
        self.metadata: list[Any] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, row: dict) -> None:
        # Compute every value before appending any: a failure (e.g. metadata that is not
        # JSON-serializable) must cost only this row, never leave the columns misaligned.
        source = row.get("source") or self.source
        sid = row.get("source_id")
        tools = row.get("tools")
        # The tool definitions are part of what the model sees: the same chat offered other tools
        # is another example and needs another id.
        content = _content_key(row["messages"]) if tools is None else [_content_key(row["messages"]), tools]
        rid = row.get("id") or stable_id(source, sid, content)
        cid = stable_id(source, None, content) if sid is not None and not row.get("id") else None
        fb = row.get("feedback")
        fb = None if fb is None else dict(zip(("thumb", "rating", "edited", "comment"), fb))
        meta = _metadata_json(row.get("metadata"))
        self.ids.append(rid)
        self.content_ids.append(cid)
        self.sources.append(source)
        self.source_ids.append(sid)
        self.created.append(row.get("created_at"))
        self.messages.add(row["messages"])
        self.tools.append(tools)
        self.feedback.append(fb)
        self.metadata.append(meta)

    def take_content_ids(self) -> list[str | None]:
        ids, self.content_ids = self.content_ids, []
        return ids

    def table(self) -> pa.Table:
        arrays = [
            pa.array(self.ids, pa.string()), pa.array(self.sources, pa.string()),
            pa.array(self.source_ids, pa.string()), pa.array(self.created, pa.int64()).cast(_TS),
            self.messages.array(), pa.array(self.tools, pa.string()), pa.array(self.feedback, FEEDBACK),
            pa.array(self.metadata, pa.string()),
        ]
        table = pa.Table.from_arrays(arrays, schema=CONVERSATION.schema)
        self.clear()
        return table


def _msg_dicts(messages: list[tuple]) -> list[dict]:
    return [dict(zip(_MSG_FIELDS, m)) for m in messages]


class PairBuilder:
    """Preference and kto rows are rarer and smaller: plain dict conversion is enough."""

    def __init__(self, kind: str, source: str):
        self.kind = kind
        self.schema = PREFERENCE if kind == "preference" else KTO
        self.msg_cols = ("prompt", "chosen", "rejected") if kind == "preference" else ("prompt", "completion")
        self.source = source
        self.rows: list[dict] = []
        self.content_ids: list[str | None] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict) -> None:
        out = dict(row)
        out["source"] = row.get("source") or self.source
        for col in self.msg_cols:
            out[col] = _msg_dicts(row[col])
        cid = None
        if not out.get("id"):
            content = [_content_key(row[c]) for c in self.msg_cols]
            out["id"] = stable_id(out["source"], row.get("source_id"), content)
            if row.get("source_id") is not None:
                cid = stable_id(out["source"], None, content)
        meta = row.get("metadata")
        out["metadata"] = _metadata_json(meta) if isinstance(meta, dict) else (meta or None)
        self.rows.append(out)
        self.content_ids.append(cid)

    def table(self) -> pa.Table:
        names = self.schema.names
        rows = [{k: r.get(k) for k in names} for r in self.rows]
        for r in rows:
            if r["created_at"] is not None:
                r["created_at"] = int(r["created_at"])
        schema = self.schema.schema
        ts_free = pa.schema([f if f.name != "created_at" else pa.field("created_at", pa.int64()) for f in schema])
        table = pa.Table.from_pylist(rows, schema=ts_free).cast(schema)
        self.rows = []
        return table

    def take_content_ids(self) -> list[str | None]:
        ids, self.content_ids = self.content_ids, []
        return ids


def builder_for(kind: str, source: str):
    return ConversationBuilder(source) if kind == "conversation" else PairBuilder(kind, source)
