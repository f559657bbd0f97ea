"""Which row of a duplicate cluster is kept, and the decision for the others.

Policies: ``quality`` (highest value of a quality score column), ``longest`` (most message
characters), ``earliest`` (oldest ``created_at``, then first in the input); ``auto`` uses the
quality column when the data has it, else ``longest``. Ties always fall back to earliest, so the
choice is deterministic.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from sluice.stage import StageConfig

KeepPolicy = Literal["auto", "quality", "longest", "earliest"]


class KeepOptions(StageConfig):
    keep: KeepPolicy = Field("auto", description="which row of a cluster survives: auto | quality | longest | earliest")
    quality_column: str = Field("quality_score", description="score column used by keep: quality (higher is better)")


def message_chars() -> pl.Expr:
    return pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum().fill_null(0)


def resolve_policy(batch: pl.DataFrame, opts: KeepOptions) -> str:
    if opts.keep == "auto":
        has = opts.quality_column in batch.columns and batch[opts.quality_column].null_count() < batch.height
        return "quality" if has else "longest"
    return opts.keep


def rank_columns(batch: pl.DataFrame, opts: KeepOptions) -> tuple[list[pl.Expr], list[bool]]:
    """Sort keys (best first) for the resolved policy; ``_row`` must exist."""
    from sluice.errors import RecipeError

    policy = resolve_policy(batch, opts)
    keys: list[pl.Expr] = []
    desc: list[bool] = []
    if policy == "quality":
        if opts.quality_column not in batch.columns:
            raise RecipeError(f"keep: quality needs the column {opts.quality_column!r}, which the data lacks",
                              hint="run the quality scorer first, set quality_column, or use keep: longest")
        keys.append(pl.col(opts.quality_column).cast(pl.Float64))
        desc.append(True)
    elif policy == "longest":
        keys.append(message_chars())
        desc.append(True)
    if "created_at" in batch.columns:
        keys.append(pl.col("created_at"))
        desc.append(False)
    keys.append(pl.col("_row"))
    desc.append(False)
    return keys, desc


def decide_clusters(batch: pl.DataFrame, cluster: pl.Expr, opts: KeepOptions, reason: str,
                    detail: pl.Expr | None = None) -> pl.DataFrame:
    """One kept row per non-null ``cluster`` value; the others get ``reason`` and ``duplicate_of``."""
    keys, desc = rank_columns(batch, opts)
    frame = batch.with_row_index("_row").with_columns(cluster.alias("_c"))
    ranked = (frame.filter(pl.col("_c").is_not_null())
              .sort(keys, descending=desc, nulls_last=True)
              .group_by("_c", maintain_order=True)
              .agg(pl.col("_row").first().alias("_kept_row"), pl.col("id").first().alias("_kept_id")))
    joined = frame.select("_row", "_c", *([detail.alias("_detail")] if detail is not None else [])) \
        .join(ranked, on="_c", how="left", maintain_order="left")
    dup = pl.col("_kept_row").is_not_null() & (pl.col("_row") != pl.col("_kept_row"))
    return joined.select(
        pl.when(dup).then(pl.lit(reason)).alias("reason"),
        pl.when(dup).then(pl.col("_kept_id")).alias("duplicate_of"),
        pl.when(dup).then(pl.col("_detail") if detail is not None else pl.lit(None, pl.String)).alias("detail"),
    )
