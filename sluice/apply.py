"""One stage over one batch: the execution semantics every runner shares.

``apply_stage`` turns a stage's answer (new columns, reason codes, rewritten columns with
``_error``) into kept, rejected and quarantined Arrow tables, and checks the stage kept its
contract. The local runner calls it in process or in worker processes; a distributed runner
calls the same function on its own workers, so stage classes run unchanged everywhere.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from sluice.errors import SluiceError
from sluice.schemas import QUARANTINE
from sluice.stage import Filter, Scorer, Stage, Transform

# The set-up stage of this process (worker or driver), by checkpoint key: a stage arriving as
# class + config (pickled for a worker) is replaced by the copy already set up here, so each
# process sets each stage up once, however many batches it runs. One entry: stages run one
# after another, and an earlier stage's models need not stay loaded.
_LIVE: dict[str, Stage] = {}


Result = tuple[pa.Table, "pa.Table | None", "pa.Table | None", dict[str, int]]


def live_stage(stage: Stage, key: str) -> Stage:
    """The copy of ``stage`` set up in this process (``setup()`` runs on the first call only)."""
    live = _LIVE.get(key)
    if live is None:
        _LIVE.clear()
        stage.setup()
        live = _LIVE[key] = stage
    return live


def apply_stage(stage: Stage, key: str, table: pa.Table, first_row: int, answer: pl.DataFrame | None = None) -> Result:
    """Run one stage over one batch → (kept, rejected, quarantined, counters).

    ``answer`` is a whole-dataset stage's answer for these rows, computed beforehand (see
    sluice/stage.py); the stage's own method is then not called."""
    stage = live_stage(stage, key) if answer is None else stage
    stage.counters.clear()
    kept, rejected, quarantined = _apply(stage, table, first_row, answer)
    return kept, rejected, quarantined, dict(stage.counters)


def _apply(stage: Stage, table: pa.Table, first_row: int,
           answer: pl.DataFrame | None) -> tuple[pa.Table, pa.Table | None, pa.Table | None]:
    batch = pl.from_arrow(table)
    if isinstance(stage, Scorer):
        added = stage.score(batch) if answer is None else answer
        _expect(stage, added.height == batch.height, f"score() returned {added.height} rows for {batch.height}")
        _expect(stage, set(added.columns) == set(stage.adds),
                f"score() returned columns {added.columns}, declared adds={list(stage.adds)}")
        return to_arrow(batch.hstack(added.select(stage.adds)), table.schema), None, None
    if isinstance(stage, Filter):
        decision = stage.decide(batch) if answer is None else answer
        decision = decision.to_frame("reason") if isinstance(decision, pl.Series) else decision
        _expect(stage, decision.height == batch.height, "decide() must return one row per input row")
        unknown = set(decision["reason"].drop_nulls().unique().to_list()) - set(stage.reasons)
        _expect(stage, not unknown, f"decide() returned undeclared reasons {sorted(unknown)}")
        drop = decision["reason"].is_not_null()
        kept = batch.filter(~drop)
        rejected = batch.filter(drop).with_columns(
            pl.lit(stage.name).alias("stage"), decision.filter(drop)["reason"].alias("reason"),
            *[(decision.filter(drop)[c].cast(pl.String) if c in decision.columns else pl.lit(None, pl.String)).alias(c)
              for c in ("detail", "duplicate_of")])
        return to_arrow(kept, table.schema), to_arrow(rejected, table.schema), None
    if isinstance(stage, Transform):
        _expect(stage, answer is None, "a Transform cannot be a whole-dataset stage")
        out = stage.transform(batch)
        _expect(stage, out.height == batch.height, "transform() must return one row per input row")
        _expect(stage, set(stage.rewrites) <= set(out.columns),
                f"transform() did not return the columns it rewrites {list(stage.rewrites)}")
        # Only the declared columns are taken from the transform; every other column stays the input's.
        rewritten = batch.with_columns(out.select(stage.rewrites))
        if "_error" not in out.columns:
            return to_arrow(rewritten, table.schema), None, None
        bad = out["_error"].is_not_null()
        kinds = out["_error_kind"] if "_error_kind" in out.columns else pl.repeat(None, out.height, dtype=pl.String, eager=True)
        quarantine = _quarantine(stage, batch.filter(bad)["id"], out["_error"].filter(bad),
                                 kinds.filter(bad).fill_null(f"{stage.name}_failed"),
                                 pl.int_range(first_row, first_row + out.height, eager=True).filter(bad))
        return to_arrow(rewritten.filter(~bad), table.schema), None, quarantine
    raise SluiceError(f"{type(stage).__name__} is not a Scorer, Filter or Transform")


def _quarantine(stage: Stage, ids: pl.Series, errors: pl.Series, kinds: pl.Series, rows: pl.Series) -> pa.Table:
    """Quarantine rows for rows a transform could not process: ids and errors, no copy of the row."""
    n = len(ids)
    nulls = {name: pl.repeat(None, n, dtype=dtype, eager=True)
             for name, dtype in (("line", pl.Int64), ("field", pl.String), ("raw", pl.Binary), ("raw_size", pl.Int64))}
    frame = pl.DataFrame({"source_file": [f"stage:{stage.name}"] * n, "line": nulls["line"], "row": rows,
                          "stage": [stage.name] * n, "error_kind": kinds, "field": nulls["field"], "error": errors,
                          "raw": nulls["raw"], "raw_size": nulls["raw_size"], "id": ids})
    return frame.to_arrow().cast(QUARANTINE.schema)


def _small(t: pa.DataType) -> pa.DataType:
    """The canonical (32-bit offset) form of a type polars returned in its large form."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _small(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _small(f.type), f.nullable) for f in t])
    return t


def to_arrow(df: pl.DataFrame, like: pa.Schema) -> pa.Table:
    """A polars frame as Arrow with the input's column types (new columns in canonical form)."""
    table = df.to_arrow()
    known = {f.name: f.type for f in like}
    fields = [pa.field(f.name, known.get(f.name) or _small(f.type)) for f in table.schema]
    return table.cast(pa.schema(fields))


def _expect(stage: Stage, ok: bool, message: str) -> None:
    if not ok:
        raise SluiceError(f"stage {stage.name!r} broke its contract: {message}",
                          hint="this is a bug in the stage; see sluice/stage.py for the contract")
