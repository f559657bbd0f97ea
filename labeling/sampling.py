"""Which rows go to review: random | lowest-score | uncertain | near-duplicate-boundary | rejected,
and their stratified forms ``stratified`` | ``stratified-lowest-score`` | ``stratified-uncertain``.

Each strategy names the columns it needs. When they are absent it falls back to ``random`` and
says so in the returned note (the CLI prints it; the push result records it) — never silently.

- ``random``: a seeded uniform sample.
- ``lowest-score``: the N rows with the lowest score (``score_column`` or the first numeric
  column named ``*score*``).
- ``uncertain``: the N rows whose score is closest to the median score.
- ``near-duplicate-boundary``: the N kept rows with the highest near-duplicate similarity
  (first numeric ``dup_*`` column): the ones the dedup threshold almost dropped.
- ``rejected``: a random sample of the version's ``rejected/`` rows (they keep all columns).
- ``stratified``, ``stratified-lowest-score``, ``stratified-uncertain``: the sample keeps the
  data's mix of ``lang`` × ``source`` (``stratify_by``): the N rows are first shared out over the
  languages in proportion to their rows (largest remainder, so each language is within one row of
  its exact share), then over the sources within each language the same way; within a stratum
  rows are drawn at random, lowest score first, or closest to the median score. A score-ordered
  sample alone follows the score's biases (the heuristic score ranks CJK text low); stratifying
  keeps a review sample representative while still favouring low scores inside each stratum.

Every sample says how it was drawn (``Sample.how``: strategy, strata, and the language mix of
the data and of the sample), and the push records it in its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

BASE = ("random", "lowest-score", "uncertain", "near-duplicate-boundary", "rejected")
STRATIFIED = ("stratified", "stratified-lowest-score", "stratified-uncertain")
STRATEGIES = BASE + STRATIFIED
STRATIFY_BY = ("lang", "source")
NUMERIC = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass
class Sample:
    frame: pl.DataFrame
    strategy: str  # the strategy that actually ran
    note: str | None = None
    how: dict = field(default_factory=dict)  # strata and language mix, for the manifest


def score_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c, t in frame.schema.items() if "score" in c.lower() and t in NUMERIC]


def sample(frame: pl.DataFrame, n: int | None, strategy: str, *, rejected: pl.DataFrame | None = None,
           score_column: str | None = None, seed: int = 0, stratify_by: tuple[str, ...] = STRATIFY_BY) -> Sample:
    """The rows to push, with ``how`` they were drawn (strategy, strata, language mix)."""
    picked = _pick(frame, n, strategy, rejected, score_column, seed, stratify_by)
    population = rejected if picked.strategy == "rejected" else frame
    picked.how = {"strategy": picked.strategy, "requested": strategy, "n": n, "seed": seed,
                  "note": picked.note, **picked.how,
                  "language_mix": {"data": mix(population), "sample": mix(picked.frame)}}
    return picked


def mix(frame: pl.DataFrame, column: str = "lang") -> dict[str, float]:
    """Share of each value of ``column`` (rounded to 4 places; null as "unknown")."""
    if column not in frame.columns or frame.height == 0:
        return {}
    counts = frame[column].fill_null("unknown").value_counts(sort=True)
    return {k: round(v / frame.height, 4) for k, v in counts.iter_rows()}


def _pick(frame, n, strategy, rejected, score_column, seed, stratify_by) -> Sample:
    if strategy not in STRATEGIES:
        from sluice.errors import InputError

        raise InputError(f"unknown sampling strategy {strategy!r}", hint=f"choose one of {', '.join(STRATEGIES)}")
    if strategy in STRATIFIED:
        return _stratified(frame, n, strategy, score_column, seed, stratify_by)
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


def allocate(sizes: dict, n: int) -> dict:
    """Share ``n`` over groups in proportion to ``sizes`` (largest remainder; ties by key)."""
    total = sum(sizes.values())
    if total == 0 or n <= 0:
        return {k: 0 for k in sizes}
    n = min(n, total)
    exact = {k: n * s / total for k, s in sizes.items()}
    out = {k: min(int(e), sizes[k]) for k, e in exact.items()}
    order = sorted(sizes, key=lambda k: (-(exact[k] - int(exact[k])), str(k)))
    while sum(out.values()) < n:
        for k in order:
            if sum(out.values()) < n and out[k] < sizes[k]:
                out[k] += 1
    return out


def _stratified(frame, n, strategy, score_column, seed, stratify_by) -> Sample:
    keys = [c for c in stratify_by if c in frame.columns]
    within = strategy.removeprefix("stratified").lstrip("-") or "random"
    notes = [f"no {c!r} column: not stratified by it" for c in stratify_by if c not in frame.columns]
    col = score_column or next(iter(score_columns(frame)), None)
    if within != "random" and (col is None or col not in frame.columns):
        notes.append(f"no score column ({score_column or '*score*'}): random within strata")
        within = "random"
    n = frame.height if n is None else min(n, frame.height)
    if not keys:
        base = _pick(frame, n, within, None, col, seed, ())
        return Sample(base.frame, strategy, "; ".join(notes + ["no stratum column: fell back to " + within]) or None,
                      {"strata": {}})
    data = frame.with_columns([pl.col(k).cast(pl.String).fill_null("unknown").alias(f"_s_{k}") for k in keys])
    first = f"_s_{keys[0]}"
    quotas: dict[tuple, int] = {}
    outer = allocate(dict(data.group_by(first).len().iter_rows()), n)
    rest = [f"_s_{k}" for k in keys[1:]]
    for value, q in outer.items():
        inner = data.filter(pl.col(first) == value)
        sizes = ({tuple(r[:-1]): r[-1] for r in inner.group_by(rest).len().iter_rows()} if rest
                 else {(): inner.height})
        for sub, qq in allocate(sizes, q).items():
            quotas[(value, *sub)] = qq
    parts = []
    for stratum, q in sorted(quotas.items()):
        if not q:
            continue
        cond = pl.lit(True)
        for k, v in zip(keys, stratum):
            cond = cond & (pl.col(f"_s_{k}") == v)
        rows = data.filter(cond).drop([f"_s_{k}" for k in keys])
        parts.append(_pick(rows, q, within, None, col, seed, ()).frame)
    picked = pl.concat(parts, how="vertical_relaxed") if parts else frame.head(0)
    how = {"strata": {" / ".join(s): q for s, q in sorted(quotas.items()) if q}, "stratify_by": keys,
           "within_strata": within + (f" by {col}" if within != "random" else "")}
    return Sample(picked, strategy, "; ".join(notes) or f"stratified by {' × '.join(keys)}, {within} within strata",
                  how)
