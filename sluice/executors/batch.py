"""One job of a stage: read a batch from the store, run the stage, write its outputs back.

A stage's work is a list of :class:`Job` (planned by the runner from the input's shards: the
same batches every time, so a resumed run knows which are done). A job runs on any worker:
it reads its rows through ``pyarrow.fs`` (a local or shared path, or an object-store URI),
and writes, under the stage's checkpoint folder ``out``::

    data/part-<index>.parquet        kept rows (always written, so the columns are known)
    rejected/part-<index>.parquet    rejected rows (when any)
    quarantine/part-<index>.parquet  quarantined rows (when any)
    partials/part-<index>.parquet    a bounded whole-dataset stage's partial (mode "partial")
    batches/<index>.json             the job's stats, written last: the job is done

Modes: ``apply`` runs the stage over the batch; ``answer`` applies a whole-dataset stage's
precomputed answer (``answer`` file, keyed by ``_row``) to the batch; ``partial`` runs a
bounded whole-dataset stage's ``partial()`` over the projected batch.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sluice.apply import apply_stage, live_stage
from sluice.stage import ROW, Filter, Stage

DECISION = ("reason", "detail", "duplicate_of")


@dataclass(frozen=True)
class Job:
    index: int          # batch number within the stage
    file: str           # input shard (absolute path or URI)
    start: int          # first row of the batch within the shard
    rows: int
    first_row: int      # position of the batch's first row in the stage's whole input
    out: str            # the stage's checkpoint folder being written (absolute path or URI)
    mode: str = "apply"  # apply | answer | partial
    columns: tuple[str, ...] | None = None  # projection (partial jobs)
    answer: str | None = None                # answer file (answer jobs)

    def as_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        d = json.loads(text)
        return cls(**{**d, "columns": tuple(d["columns"]) if d["columns"] is not None else None})


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    from sluice.fs import arrow

    return arrow(uri)


def read_rows(file: str, start: int, rows: int, columns: list[str] | tuple[str, ...] | None = None) -> pa.Table:
    """Rows ``[start, start + rows)`` of one shard, decoding only the row groups they touch."""
    fs, path = filesystem(file)
    with fs.open_input_file(path) as f:
        pf = pq.ParquetFile(f)
        cols = list(columns) if columns is not None else None
        if rows == 0:
            schema = pf.schema_arrow
            return schema.empty_table() if cols is None else pa.schema([schema.field(c) for c in cols]).empty_table()
        groups, first, at = [], None, 0
        for i in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(i).num_rows
            if at < start + rows and at + n > start:
                groups.append(i)
                first = at if first is None else first
            at += n
        return pf.read_row_groups(groups, columns=cols).slice(start - first, rows)


def write_table(table: pa.Table, uri: str) -> None:
    """Write a Parquet file atomically: locally a temporary name, then a move; on an object store
    one upload, which is already all-or-nothing (and has no folders to create)."""
    fs, path = filesystem(uri)
    if not isinstance(fs, pafs.LocalFileSystem):
        with fs.open_output_stream(path) as f:
            pq.write_table(table, f, compression="zstd", row_group_size=64 * 1024)
        return
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with fs.open_output_stream(tmp) as f:
        pq.write_table(table, f, compression="zstd", row_group_size=64 * 1024)
    fs.move(tmp, path)


def write_text(text: str, uri: str) -> None:
    fs, path = filesystem(uri)
    if not isinstance(fs, pafs.LocalFileSystem):
        with fs.open_output_stream(path) as f:
            f.write(text.encode())
        return
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with fs.open_output_stream(tmp) as f:
        f.write(text.encode())
    fs.move(tmp, path)


def with_rows(table: pa.Table, first_row: int) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    return frame.with_columns(pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64, eager=True).alias(ROW))


def answer_for(stage: Stage, answer: str, first_row: int, rows: int) -> pl.DataFrame:
    """The answer rows of one batch, one per row in order (rows the answer omits get nulls)."""
    fs, path = filesystem(answer)
    part = pl.from_arrow(pq.read_table(path, filesystem=fs, filters=[(ROW, ">=", first_row),
                                                                    (ROW, "<", first_row + rows)]))
    rows_frame = pl.DataFrame({ROW: pl.int_range(first_row, first_row + rows, dtype=pl.Int64, eager=True)})
    return rows_frame.join(part, on=ROW, how="left", maintain_order="left").drop(ROW)


def run_job(stage: Stage, key: str, job: Job) -> dict[str, Any]:
    """Run one job (see the module docstring) → its stats record (counts only, never values)."""
    part = f"part-{job.index:06d}.parquet"
    stats: dict[str, Any] = {"index": job.index, "rows_in": job.rows, "kept": 0, "rejected": {},
                             "quarantined": {}, "counters": {}}
    if job.mode == "partial":
        table = read_rows(job.file, job.start, job.rows, job.columns)
        live = live_stage(stage, key)
        write_table(live.partial(with_rows(table, job.first_row)).to_arrow(), f"{job.out}/partials/{part}")
    else:
        table = read_rows(job.file, job.start, job.rows)
        answer = answer_for(stage, job.answer, job.first_row, job.rows) if job.mode == "answer" else None
        kept, rejected, quarantined, counters = apply_stage(stage, key, table, job.first_row, answer)
        write_table(kept, f"{job.out}/data/{part}")
        stats.update(kept=kept.num_rows, counters=counters)
        if rejected is not None and rejected.num_rows:
            write_table(rejected, f"{job.out}/rejected/{part}")
            stats["rejected"] = _tally(rejected, "reason")
        if quarantined is not None and quarantined.num_rows:
            write_table(quarantined, f"{job.out}/quarantine/{part}")
            stats["quarantined"] = _tally(quarantined, "error_kind")
    write_text(json.dumps(stats), f"{job.out}/batches/{job.index:06d}.json")
    return stats


def _tally(table: pa.Table, column: str) -> dict[str, int]:
    counts = pl.from_arrow(table.select([column])).to_series().value_counts()
    return {str(k): int(v) for k, v in counts.iter_rows()}


def normalize_answer(stage: Stage, answer: pl.DataFrame) -> pl.DataFrame:
    """A whole-dataset answer in the form batches join: ``_row`` plus the stage's columns."""
    from sluice.apply import _expect

    _expect(stage, ROW in answer.columns, f"its whole-dataset answer lacks {ROW!r}")
    if isinstance(stage, Filter):
        fill = [pl.col(c).cast(pl.String) if c in answer.columns else pl.lit(None, pl.String).alias(c) for c in DECISION]
        return answer.select(pl.col(ROW).cast(pl.Int64), *fill).sort(ROW)
    missing = [c for c in stage.adds if c not in answer.columns]
    _expect(stage, not missing, f"its whole-dataset answer lacks the columns it adds {missing}")
    return answer.select(pl.col(ROW).cast(pl.Int64), *stage.adds).sort(ROW)
