"""The canonical chat message: one Arrow struct shared by every record kind.

Field names follow the OpenAI / TRL chat format so training needs no conversion. Tool calls
are kept losslessly (``arguments`` stays the JSON string the model produced); any other key
a source had on a message is kept as a JSON object in ``extra``.
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

MESSAGE = pa.struct(
    [
        pa.field("role", pa.string(), nullable=False),
        pa.field("content", pa.string()),
        pa.field("name", pa.string()),
        pa.field("tool_calls", pa.list_(TOOL_CALL)),
        pa.field("tool_call_id", pa.string()),
        pa.field("extra", pa.string()),  # JSON object of source keys with no column of their own
    ]
)

MESSAGES = pa.list_(MESSAGE)


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
