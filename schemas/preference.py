"""preference — a prompt with a chosen and a rejected continuation (TRL's DPO format)."""

from __future__ import annotations

import pyarrow as pa

from ._base import IDENTITY, RecordSchema
from .messages import MESSAGES, check_non_empty, check_roles

ORIGINS = ("edit", "ranking", "rating", "synthetic", "thumbs-pair", "imported")

PREFERENCE = RecordSchema(
    kind="preference",
    version=2,  # 2: messages carry `reasoning` (schemas.messages)
    description="prompt, chosen and rejected message lists with scores and lineage",
    schema=pa.schema(
        [
            *IDENTITY,
            pa.field("prompt", MESSAGES, nullable=False),
            pa.field("chosen", MESSAGES, nullable=False),
            pa.field("rejected", MESSAGES, nullable=False),
            pa.field("origin", pa.string(), nullable=False),
            pa.field("score_chosen", pa.float64()),
            pa.field("score_rejected", pa.float64()),
            pa.field("source_ids", pa.list_(pa.string())),
            pa.field("metadata", pa.string()),
        ]
    ),
    checks=(
        check_non_empty("chosen"),
        check_non_empty("rejected"),
        check_roles("prompt"),
        check_roles("chosen"),
        check_roles("rejected"),
    ),
)
