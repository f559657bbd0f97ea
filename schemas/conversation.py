"""conversation — the curated unit: one chat with its feedback and source metadata."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ._base import IDENTITY, RecordSchema, first_row_where
from .messages import MESSAGES, check_non_empty, check_roles

FEEDBACK = pa.struct(
    [
        pa.field("thumb", pa.int8()),  # +1 thumbs up, -1 thumbs down, null none
        pa.field("rating", pa.float64()),  # as given by the source (e.g. 1-5)
        pa.field("edited", pa.string()),  # the user's corrected final answer
        pa.field("comment", pa.string()),
    ]
)


def _check_thumb(table: pa.Table):
    thumb = pc.struct_field(table.column("feedback"), "thumb")
    bad = pc.invert(pc.is_in(thumb, value_set=pa.array([1, -1], pa.int8())))
    row = first_row_where(pc.and_(pc.is_valid(thumb), bad))
    return None if row is None else ("feedback.thumb", row, "thumb must be +1, -1 or null")


CONVERSATION = RecordSchema(
    kind="conversation",
    version=2,  # 2: messages carry `reasoning` (schemas.messages)
    description="one chat: messages, end-user feedback, source metadata",
    schema=pa.schema(
        [
            *IDENTITY,
            pa.field("messages", MESSAGES, nullable=False),
            pa.field("tools", pa.string()),  # JSON list of tool definitions offered to the model
            pa.field("feedback", FEEDBACK),
            pa.field("metadata", pa.string()),  # JSON object: source fields kept losslessly
        ]
    ),
    checks=(check_non_empty("messages"), check_roles("messages"), _check_thumb),
)
