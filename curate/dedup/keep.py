"""Which row of a duplicate cluster is kept, and the decision for the others.

Policies: ``quality`` (highest value of a quality score column), ``longest`` (most message
characters), ``earliest`` (oldest ``created_at``, then first in the input); ``auto`` uses the
quality column when rows of a cluster have it, else ``longest``. Ties always fall back to
earliest, so the choice is deterministic.

Two steps, so the same rule runs on one table or in bounded memory: :func:`members` turns a
batch into one small row per clustered row (position, id, cluster key, rank values — no
text), and :func:`decisions` ranks the members of whole clusters. A group-by of the cluster
key, so members can be shuffled by hash partition and decided one partition at a time
(:func:`combine_clusters`).
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from sluice.stage import ROW, StageConfig

KeepPolicy = Literal["auto", "quality", "longest", "earliest"]


class KeepOptions(StageConfig):
    keep: KeepPolicy = Field("auto", description="which row of a cluster survives: auto | quality | longest | earliest")
    quality_column: str = Field("score_total", description="score column used by keep: quality (higher is better)")


def message_chars() -> pl.Expr:
    return pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum().fill_null(0)


def keep_reads(opts: KeepOptions) -> tuple[str, ...]:
    """Columns the policy may read besides the cluster key (optional reads of the stage)."""
    return (*(("messages",) if opts.keep in ("auto", "longest") else ()), "created_at",
            *((opts.quality_column,) if opts.keep in ("auto", "quality") else ()))


def members(batch: pl.DataFrame, cluster: pl.Expr, opts: KeepOptions, row: pl.Expr,
            detail: pl.Expr | None = None) -> pl.DataFrame:
    """One row per row with a non-null cluster: ``_row``, ``_id``, ``_c`` and the rank values."""
    from sluice.errors import RecipeError

    cols = [row.cast(pl.Int64).alias("_row"), pl.col("id").alias("_id"), cluster.alias("_c")]
    if opts.keep in ("auto", "quality"):
        if opts.quality_column in batch.columns:
            cols.append(pl.col(opts.quality_column).cast(pl.Float64).alias("_q"))
        elif opts.keep == "quality":
            raise RecipeError(f"keep: quality needs the column {opts.quality_column!r}, which the data lacks",
                              hint="run the quality scorer first, set quality_column, or use keep: longest")
    if opts.keep in ("auto", "longest"):
        cols.append(message_chars().alias("_len"))
    if "created_at" in batch.columns:
        cols.append(pl.col("created_at").alias("_t"))
    if detail is not None:
        cols.append(detail.cast(pl.String).alias("_detail"))
    return batch.select(cols).filter(pl.col("_c").is_not_null())


def policy_of(opts: KeepOptions, has_quality: bool) -> str:
    if opts.keep == "auto":
        return "quality" if has_quality else "longest"
    return opts.keep


def decisions(frame: pl.DataFrame, policy: str, reason: str) -> pl.DataFrame:
    """``_row``, ``reason``, ``duplicate_of`` and ``detail`` of the dropped members of whole clusters."""
    keys = {"quality": [("_q", True)], "longest": [("_len", True)], "earliest": []}[policy]
    keys += [("_t", False)] if "_t" in frame.columns else []
    keys += [("_row", False)]
    ranked = (frame.sort([k for k, _ in keys], descending=[d for _, d in keys], nulls_last=True)
              .group_by("_c", maintain_order=True)
              .agg(pl.col("_row").first().alias("_kept_row"), pl.col("_id").first().alias("_kept_id")))
    detail = pl.col("_detail") if "_detail" in frame.columns else pl.lit(None, pl.String)
    return (frame.join(ranked, on="_c", how="left", maintain_order="left")
            .filter(pl.col("_row") != pl.col("_kept_row"))
            .select("_row", pl.lit(reason).alias("reason"), pl.col("_kept_id").alias("duplicate_of"),
                    detail.alias("detail")))


def _has_quality(frame: pl.DataFrame) -> bool:
    return "_q" in frame.columns and frame["_q"].null_count() < frame.height


def decide_clusters(batch: pl.DataFrame, cluster: pl.Expr, opts: KeepOptions, reason: str,
                    detail: pl.Expr | None = None) -> pl.DataFrame:
    """One kept row per non-null ``cluster`` value; the others get ``reason`` and ``duplicate_of``."""
    frame = members(batch, cluster, opts, pl.int_range(pl.len()), detail)
    dropped = decisions(frame, policy_of(opts, _has_quality(frame)), reason)
    rows = pl.DataFrame({"_row": pl.int_range(batch.height, dtype=pl.Int64, eager=True)})
    return rows.join(dropped, on="_row", how="left", maintain_order="left").select("reason", "duplicate_of", "detail")


def partial_clusters(batch: pl.DataFrame, cluster: pl.Expr, opts: KeepOptions,
                     detail: pl.Expr | None = None) -> pl.DataFrame:
    """The bounded form's map: the members of one batch (positions from the runner's ``__row``)."""
    return members(batch, cluster, opts, pl.col(ROW), detail)


def combine_clusters(parts, opts: KeepOptions, reason: str) -> pl.DataFrame:
    """The bounded form's reduce: members shuffled by hash of the cluster key, decided per partition."""
    names = list(parts.schema())
    if not names:
        return pl.DataFrame(schema={ROW: pl.Int64, "reason": pl.String, "duplicate_of": pl.String,
                                    "detail": pl.String})
    has_quality = "_q" in names and _has_quality(parts.read(["_q"]))
    policy = policy_of(opts, has_quality)
    out = [decisions(frame, policy, reason) for frame in parts.partitions("_c", names)]
    return pl.concat(out).rename({"_row": ROW})
