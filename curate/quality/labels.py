"""Labels for fitting and measuring quality scorers: a column, or a dotted path into ``metadata``
(a JSON object) or ``feedback`` (a struct): ``judge_score``, ``metadata.helpful``, ``feedback.thumb``,
``feedback.rating``.

``label_values`` returns a Float64 series (booleans as 1/0, a thumb as 1/0 for +1/-1, null where
a row has no label); ``binary`` turns it into the 0/1 the lift and AUROC figures use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from sluice.errors import DataError

HINT = ("give a column (e.g. judge_score) or a dotted path: metadata.<key> (a key of the metadata JSON), "
        "feedback.thumb, feedback.rating")


def columns_for(field: str) -> tuple[str, ...]:
    """The columns a label field reads."""
    return (field.split(".", 1)[0],)


def label_values(df: pl.DataFrame, field: str) -> pl.Series:
    head, _, rest = field.partition(".")
    if head not in df.columns:
        raise DataError(f"label {field!r}: no column {head!r} in the data", hint=HINT)
    col = df[head]
    if rest and head == "metadata" and col.dtype == pl.String:
        raw = col.str.json_path_match(f"$.{rest}")
        low = raw.str.to_lowercase()
        values = (pl.when(low == "true").then(1.0).when(low == "false").then(0.0)
                  .otherwise(raw.cast(pl.Float64, strict=False)))
        out = pl.select(values.alias(field)).to_series()
    elif rest:
        if not isinstance(col.dtype, pl.Struct) or rest not in [f.name for f in col.dtype.fields]:
            raise DataError(f"label {field!r}: {head!r} has no field {rest!r}", hint=HINT)
        out = col.struct.field(rest)
    else:
        out = col
    if out.dtype == pl.Boolean:
        out = out.cast(pl.Float64)
    elif not out.dtype.is_numeric():
        raise DataError(f"label {field!r} is {out.dtype}, not boolean or numeric", hint=HINT)
    out = out.cast(pl.Float64)
    if field == "feedback.thumb":
        out = (out > 0).cast(pl.Float64)
    return out.rename(field)


def is_boolean(values: pl.Series) -> bool:
    present = values.drop_nulls().drop_nans()
    return bool(len(present)) and set(present.unique().to_list()) <= {0.0, 1.0}


def binary(values: pl.Series, threshold: float | None = None) -> pl.Series:
    """0/1 per row (null stays null): the value itself for a boolean label, value ≥ threshold otherwise."""
    if threshold is None:
        if not is_boolean(values):
            raise DataError(f"label {values.name!r} is numeric", hint="give a threshold: rows at or above it count "
                                                                      "as positive (e.g. --threshold 4)")
        return values
    return (values >= threshold).cast(pl.Float64)


def lift(selected: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """Label rate of the selected rows against all labelled rows (0/1 values, NaN = unlabelled)."""
    have = ~np.isnan(values)
    base = float(values[have].mean()) if have.any() else float("nan")
    sel = values[selected & have]
    rate = float(sel.mean()) if len(sel) else float("nan")
    return {"labelled_in": int(have.sum()), "input_rate": base, "labelled_selected": int(len(sel)),
            "selected_rate": rate, "lift": rate / base if base else float("nan")}
