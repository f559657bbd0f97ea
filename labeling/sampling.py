"""Which rows go to review: random | lowest-score | uncertain | near-duplicate-boundary | rejected.

Each strategy names the columns it needs. When they are absent it falls back to ``random`` and
says so in the returned note (the CLI prints it; the push result records it) — never silently.

- ``random``: a seeded uniform sample.
- ``lowest-score``: the N rows with the lowest score (``score_column`` or the first numeric
  column named ``*score*``).
- ``uncertain``: the N rows whose score is closest to the median score.
- ``near-duplicate-boundary``: the N kept rows with the highest near-duplicate similarity
  (first numeric ``dup_*`` column): the ones the dedup threshold almost dropped.
- ``rejected``: a random sample of the version's ``rejected/`` rows (they keep all columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

STRATEGIES = ("random", "lowest-score", "uncertain", "near-duplicate-boundary", "rejected")
NUMERIC = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass
class Sample:
    frame: pl.DataFrame
    strategy: str  # the strategy that actually ran
    note: str | None = None


def score_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c, t in frame.schema.items() if "score" in c.lower() and t in NUMERIC]


def sample(frame: pl.DataFrame, n: int | None, strategy: str, *, rejected: pl.DataFrame | None = None,
           score_column: str | None = None, seed: int = 0) -> Sample:
    if strategy not in STRATEGIES:
        from sluice.errors import InputError

        raise InputError(f"unknown sampling strategy {strategy!r}", hint=f"choose one of {', '.join(STRATEGIES)}")
    if strategy == "rejected":
        if rejected is None or rejected.height == 0 or "messages" not in rejected.columns:
            return _random(frame, n, seed, "rejected", "the version has no rejected rows with messages")
        return Sample(_take_random(rejected, n, seed), "rejected")
    if n is None or n >= frame.height:
        if strategy == "random":
            return Sample(frame, "random")
        n = frame.height
    if strategy == "random":
        return Sample(_take_random(frame, n, seed), "random")
    if strategy in ("lowest-score", "uncertain"):
        col = score_column or next(iter(score_columns(frame)), None)
        if col is None or col not in frame.columns:
            return _random(frame, n, seed, strategy, f"no score column ({score_column or '*score*'}) in the data")
        scored = frame.filter(pl.col(col).is_not_null())
        if strategy == "lowest-score":
            return Sample(scored.sort([col, "id"]).head(n), strategy, f"by {col}")
        median = scored[col].median()
        return Sample(scored.with_columns((pl.col(col) - median).abs().alias("_d")).sort(["_d", "id"])
                      .head(n).drop("_d"), strategy, f"closest to the median of {col} ({median:.3g})")
    dup = [c for c, t in frame.schema.items() if c.startswith("dup_") and t in NUMERIC]
    if not dup:
        return _random(frame, n, seed, strategy, "no numeric dup_* similarity column (run near-dedup first)")
    return Sample(frame.filter(pl.col(dup[0]).is_not_null()).sort([dup[0], "id"], descending=[True, False]).head(n),
                  strategy, f"highest {dup[0]}")


def _take_random(frame: pl.DataFrame, n: int | None, seed: int) -> pl.DataFrame:
    if n is None or n >= frame.height:
        return frame
    return frame.sample(n=n, seed=seed, shuffle=False)


def _random(frame: pl.DataFrame, n: int | None, seed: int, wanted: str, why: str) -> Sample:
    return Sample(_take_random(frame, n, seed), "random", f"strategy {wanted!r} fell back to random: {why}")
