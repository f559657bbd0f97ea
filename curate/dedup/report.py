"""Duplicate reports from a published version: cluster sizes, largest clusters, counts per stage.

Built from the version's ``rejected`` part (every duplicate names its kept row in
``duplicate_of``) and its manifest accounting, so it works for any run. Example text is shown
only when the lineage shows PII redaction (``sluice.privacy``); otherwise it is withheld.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from sluice.privacy import redaction_of
from sluice.store import Store, Version

from .normalize import key_text

DUP_REASONS = ("exact_duplicate", "near_duplicate", "semantic_duplicate")
BUCKETS = ((2, 2), (3, 4), (5, 8), (9, 16), (17, 64), (65, None))


def _example(df: pl.DataFrame, ids: list[str], chars: int) -> dict[str, str]:
    rows = df.filter(pl.col("id").is_in(ids)).select("id", key_text("first_user").str.slice(0, chars).alias("t"))
    return dict(zip(rows["id"].to_list(), rows["t"].to_list()))


def duplicate_report(version: Version, store: Store, *, top: int = 5, chars: int = 160) -> dict[str, Any]:
    acc = version.manifest["accounting"]
    rejected = pl.from_arrow(version.read("rejected")) if version.num_rows("rejected") else pl.DataFrame()
    redaction = redaction_of(version, store)
    out: dict[str, Any] = {"ref": version.ref, "rows_in": acc["rows_in"], "kept": acc["kept"],
                           "rejected": acc["rejected"], "redacted": redaction.redacted, "stages": {}}
    if not rejected.height or "duplicate_of" not in rejected.columns:
        return out
    data = pl.from_arrow(version.read(columns=["id", "messages"])) if redaction.redacted else None
    for (stage, reason), part in rejected.filter(pl.col("reason").is_in(DUP_REASONS)).group_by(
            "stage", "reason", maintain_order=True):
        sizes = part.group_by("duplicate_of").agg(pl.len().alias("removed")).with_columns(
            (pl.col("removed") + 1).alias("size")).sort("size", "duplicate_of", descending=[True, False])
        hist = []
        for lo, hi in BUCKETS:
            n = sizes.filter((pl.col("size") >= lo) & (pl.col("size") <= (hi or 1 << 62))).height
            hist.append({"size": f"{lo}" if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}", "clusters": n})
        largest = sizes.head(top).to_dicts()
        if data is not None:
            pool = pl.concat([data, rejected.select("id", "messages")], how="vertical_relaxed")
            texts = _example(pool, [c["duplicate_of"] for c in largest], chars)
            for c in largest:
                c["example"] = texts.get(c["duplicate_of"])
        out["stages"][stage] = {"reason": reason, "clusters": sizes.height, "removed": part.height,
                                "histogram": hist, "largest": largest}
    return out
