"""The canonical chat message: one Arrow struct shared by every record kind.

Field names follow the OpenAI / TRL chat format so training needs no conversion. Tool calls
are kept losslessly (``arguments`` stays the JSON string the model produced); any other key
a source had on a message is kept as a JSON object in ``extra``. ``reasoning`` is the model's
reasoning for the turn (Anthropic ``thinking``, Responses ``reasoning`` items, OTel ``reasoning``
parts, ``reasoning_content``), never merged into ``content``; it is the last field, added in
schema v2 of the message-holding kinds. Tables written before it (``MESSAGE_V1``) still read:
``upgrade`` gives their message columns the new field, null (older ingests kept reasoning in
``extra.reasoning``, which the exports still read).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ._base import first_row_where

ROLES = ("system", "user", "assistant", "tool")

TOOL_CALL = pa.struct(
    [
        pa.field("id", pa.string()),
        pa.field("type", pa.string()),
        pa.field(
            "function",
            pa.struct([pa.field("name", pa.string()), pa.field("arguments", pa.string())]),
        ),
    ]
)

_V1_FIELDS = [
    pa.field("role", pa.string(), nullable=False),
    pa.field("content", pa.string()),
    pa.field("name", pa.string()),
    pa.field("tool_calls", pa.list_(TOOL_CALL)),
    pa.field("tool_call_id", pa.string()),
    pa.field("extra", pa.string()),  # JSON object of source keys with no column of their own
]
MESSAGE_V1 = pa.struct(_V1_FIELDS)
MESSAGE = pa.struct([*_V1_FIELDS, pa.field("reasoning", pa.string())])

MESSAGES = pa.list_(MESSAGE)
_MESSAGES_V1 = pa.list_(MESSAGE_V1)


def upgrade(table):
    """A table (or record batch) whose message columns have the v1 message type, with those
    columns given the ``reasoning`` field (null); anything else is returned as it is."""
    old = [i for i, f in enumerate(table.schema) if f.type == _MESSAGES_V1]
    if not old:
        return table
    columns = [table.column(i).cast(MESSAGES) if i in old else table.column(i) for i in range(table.num_columns)]
    fields = [pa.field(f.name, MESSAGES, f.nullable) if i in old else f for i, f in enumerate(table.schema)]
    return type(table).from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def check_roles(column: str):
    """Row check: every message in `column` has a known role."""

    def check(table: pa.Table):
        col = table.column(column)
        flat = pc.list_flatten(col)
        if len(flat) == 0:
            return None
        roles = pc.struct_field(flat, "role")
        bad = pc.invert(pc.is_in(roles, value_set=pa.array(ROLES)))
        idx = first_row_where(bad)
        if idx is None:
            return None
        parents = pc.list_parent_indices(col)
        row = parents[idx].as_py()
        before = pc.sum(pc.list_value_length(col.slice(0, row))).as_py() or 0
        # The role itself is not quoted: schema errors never echo row values.
        return column, row, f"message {idx - before} has an unknown role; expected one of {ROLES}"

    return check


def check_non_empty(column: str):
    def check(table: pa.Table):
        row = first_row_where(pc.equal(pc.list_value_length(table.column(column)), 0))
        return None if row is None else (column, row, "empty message list")

    return check
