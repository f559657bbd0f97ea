"""A bounded whole-dataset stage's partials, spilled as Parquet files, read back in pieces.

``combine()`` of a bounded stage (see sluice/stage.py) never needs every partial column of
every row at once: it reads a few columns (``read``), or the rows of one hash partition of a
key at a time (``partitions``: the shuffle of a group-by, done over files on disk).
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pyarrow.parquet as pq

from .batch import filesystem


class Parts:
    def __init__(self, files: list[str], rows_per_partition: int = 2_000_000):
        self.files = files
        self.rows_per_partition = rows_per_partition
        self._rows: int | None = None

    def num_rows(self) -> int:
        if self._rows is None:
            self._rows = 0
            for f in self.files:
                fs, path = filesystem(f)
                with fs.open_input_file(path) as fh:
                    self._rows += pq.ParquetFile(fh).metadata.num_rows
        return self._rows

    def schema(self) -> dict[str, pl.DataType]:
        if not self.files:
            return {}
        fs, path = filesystem(self.files[0])
        return dict(pl.from_arrow(pq.read_schema(path, filesystem=fs).empty_table()).schema)

    def read(self, columns: list[str], where: pl.Expr | None = None) -> pl.DataFrame:
        """These columns of every partial row (optionally only the rows matching ``where``)."""
        frames = []
        for f in self.files:
            fs, path = filesystem(f)
            frame = pl.from_arrow(pq.read_table(path, columns=columns, filesystem=fs))
            frames.append(frame if where is None else frame.filter(where))
        return pl.concat(frames) if frames else pl.DataFrame()

    def partitions(self, key: str, columns: list[str]) -> Iterator[pl.DataFrame]:
        """The rows in hash partitions of ``key``, one partition at a time: each holds every row
        of its key values, and at most about ``rows_per_partition`` rows on average."""
        n = max(1, -(-self.num_rows() // self.rows_per_partition))
        if n == 1:
            yield self.read(columns)
            return
        for p in range(n):
            yield self.read(columns, pl.col(key).hash(seed=7) % n == p)
