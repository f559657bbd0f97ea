"""kto — a prompt, one completion and a desirable/undesirable label (TRL's KTO format)."""

from __future__ import annotations

import pyarrow as pa

from ._base import IDENTITY, RecordSchema
from .messages import MESSAGES, check_non_empty, check_roles

KTO = RecordSchema(
    kind="kto",
    version=2,  # 2: messages carry `reasoning` (schemas.messages)
    description="prompt, completion and a boolean label with lineage",
    schema=pa.schema(
        [
            *IDENTITY,
            pa.field("prompt", MESSAGES, nullable=False),
            pa.field("completion", MESSAGES, nullable=False),
            pa.field("label", pa.bool_(), nullable=False),
            pa.field("origin", pa.string(), nullable=False),
            pa.field("source_ids", pa.list_(pa.string())),
            pa.field("metadata", pa.string()),
        ]
    ),
    checks=(check_non_empty("completion"), check_roles("prompt"), check_roles("completion")),
)
