"""Paired statistics for comparing two models item by item on the same golden set.

One rule in one place: the eval gate and the benchmark experiments both decide "is B better than
A" from per-item scores with :func:`paired_bootstrap`, so a gain inside the noise reads the same
everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedCI:
    """Mean per-item difference (candidate − reference) with a percentile bootstrap interval."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n,
                "confidence": self.confidence}

    def __str__(self) -> str:
        pct = round(self.confidence * 100)
        return f"{self.mean:+.4f} ({pct}% CI {self.low:+.4f} … {self.high:+.4f}, n={self.n})"


def paired_bootstrap(reference: list[float], candidate: list[float], *, n_boot: int = 2000,
                     confidence: float = 0.95, seed: int = 0) -> PairedCI:
    """Percentile bootstrap CI of mean(candidate − reference) over items, resampling items.

    The two lists are aligned item by item (same golden item at the same index). Deterministic for
    a given seed. With fewer than two items the interval is unbounded (−inf … +inf), so any rule
    that asks for a lower bound above zero fails closed.
    """
    import numpy as np

    if len(reference) != len(candidate):
        raise ValueError(f"paired scores differ in length: {len(reference)} vs {len(candidate)}")
    diffs = np.asarray(candidate, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    n = int(diffs.size)
    if n == 0:
        return PairedCI(math.nan, -math.inf, math.inf, 0, confidence)
    mean = float(diffs.mean())
    if n < 2:
        return PairedCI(mean, -math.inf, math.inf, n, confidence)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, 500):  # chunks bound memory at 500 × n indices
        stop = min(n_boot, start + 500)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedCI(mean, float(low), float(high), n, confidence)
