"""The machinery shared by every record kind: a versioned Arrow schema and `validate()`.

A record kind fixes the columns that cross module boundaries. Stages may add their own
columns beside them (``extra_columns_allowed``), but the fixed ones keep their type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import SchemaValidationError

# The identity and lineage columns every data kind starts with: id (stable: a hash of source +
# source id, or of content), source, source_id, created_at (ARCHITECTURE.md, "Records and identity").
IDENTITY = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_id", pa.string()),
    pa.field("created_at", pa.timestamp("us", tz="UTC")),
]

# A row check receives the table and returns (column, row index, message) for the first
# offending row, or None. Checks are vectorized: they must not loop in Python per row.
RowCheck = Callable[[pa.Table], "tuple[str, int, str] | None"]


@dataclass(frozen=True)
class RecordSchema:
    kind: str
    version: int
    schema: pa.Schema
    description: str
    extra_columns_allowed: bool = True
    checks: tuple[RowCheck, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return self.schema.names

    def empty(self) -> pa.Table:
        return self.schema.empty_table()

    def conform(self, table: pa.Table) -> pa.Table:
        """Reorder the fixed columns first (cast where safe), keep stage-added ones after."""
        columns, names = [], []
        for f in self.schema:
            if f.name in table.column_names:
                col = table.column(f.name)
                columns.append(col if col.type == f.type else col.cast(f.type))
            else:
                columns.append(pa.nulls(table.num_rows, f.type))
            names.append(f.name)
        for name in table.column_names:
            if name not in names:
                columns.append(table.column(name))
                names.append(name)
        return pa.Table.from_arrays(columns, names=names)

    def validate(self, table: pa.Table, *, where: str = "table") -> None:
        """Raise SchemaValidationError listing every problem found (column, row, what is wrong)."""
        problems: list[str] = []
        for f in self.schema:
            if f.name not in table.column_names:
                problems.append(f"column '{f.name}' is missing (expected {f.type})")
                continue
            col = table.column(f.name)
            if col.type != f.type:
                problems.append(f"column '{f.name}' has type {col.type}, expected {f.type}")
                continue
            if not f.nullable and col.null_count:
                row = _first_true(pc.is_null(col))
                problems.append(f"column '{f.name}' row {row}: null, but the column is required")
        if not self.extra_columns_allowed:
            extra = [n for n in table.column_names if n not in self.names]
            if extra:
                problems.append(f"unexpected columns {extra}")
        if not problems:
            for check in self.checks:
                found = check(table)
                if found:
                    column, row, message = found
                    problems.append(f"column '{column}' row {row}: {message}")
        if problems:
            raise SchemaValidationError(
                f"{where} is not a valid {self.kind} v{self.version} table",
                problems=problems,
                hint=f"see `sluice.schemas.{self.kind.upper()}.schema` for the expected columns",
            )


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    idx = pc.index(mask, True).as_py()
    return int(idx)


def first_row_where(mask) -> int | None:
    """Index of the first row where a boolean mask is true (nulls count as false)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return None
    return _first_true(mask)
