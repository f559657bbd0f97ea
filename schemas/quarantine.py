"""quarantine — input that could not be parsed or validated, kept with its error.

``raw`` holds the input bytes up to a bounded prefix (``raw_size`` is the full size), so a
bad line can be inspected and replayed. Error messages never quote field values (privacy).
"""

from __future__ import annotations

import pyarrow as pa

from ._base import RecordSchema

RAW_PREFIX_BYTES = 64 * 1024

QUARANTINE = RecordSchema(
    kind="quarantine",
    version=1,
    description="unparseable or invalid input with file, line/row and the error",
    schema=pa.schema(
        [
            pa.field("source_file", pa.string(), nullable=False),
            pa.field("line", pa.int64()),  # 1-based line for line formats, else null
            pa.field("row", pa.int64(), nullable=False),  # 0-based record index in the file
            pa.field("stage", pa.string(), nullable=False),
            pa.field("error_kind", pa.string(), nullable=False),
            pa.field("field", pa.string()),
            pa.field("error", pa.string(), nullable=False),
            pa.field("raw", pa.binary()),
            pa.field("raw_size", pa.int64()),
            pa.field("id", pa.string()),  # set when a stage quarantines an already-ingested row
        ]
    ),
    extra_columns_allowed=False,
)
