"""rejected — a row a stage dropped: the row itself plus who dropped it and why.

The dropped row keeps all its columns (nothing is lost); these four are added. For
duplicates ``duplicate_of`` names the id that was kept.
"""

from __future__ import annotations

import pyarrow as pa

from ._base import RecordSchema

REJECTED = RecordSchema(
    kind="rejected",
    version=1,
    description="a dropped row with the stage and reason that dropped it",
    schema=pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("stage", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("detail", pa.string()),
            pa.field("duplicate_of", pa.string()),
        ]
    ),
)
