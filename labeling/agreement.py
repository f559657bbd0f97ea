"""Inter-annotator agreement: Krippendorff's alpha (nominal and interval), no dependencies.

``units`` maps a record to the values its annotators gave (missing answers simply absent).
Units with fewer than two values carry no agreement information and are skipped. Returns None
when there is nothing to compare or no variation at all (alpha is undefined then).

    >>> round(krippendorff_alpha({"a": [1, 1], "b": [2, 2], "c": [3, 3]}, "interval"), 3)
    1.0
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping


def _delta(metric: str):
    if metric == "nominal":
        return lambda a, b: 0.0 if a == b else 1.0
    if metric == "interval":
        return lambda a, b: (float(a) - float(b)) ** 2
    raise ValueError(f"unknown metric {metric!r}: nominal or interval")


def krippendorff_alpha(units: Mapping[Hashable, Iterable], metric: str = "nominal") -> float | None:
    delta = _delta(metric)
    coincidence: dict[tuple, float] = defaultdict(float)
    for values in units.values():
        vals = [v for v in values if v is not None]
        m = len(vals)
        if m < 2:
            continue
        counts = Counter(vals)
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nk - 1) if c == k else nc * nk
                if pairs:
                    coincidence[(c, k)] += pairs / (m - 1)
    if not coincidence:
        return None
    n_c: dict = defaultdict(float)
    for (c, _k), o in coincidence.items():
        n_c[c] += o
    n = sum(n_c.values())
    if n <= 1:
        return None
    d_o = sum(o * delta(c, k) for (c, k), o in coincidence.items()) / n
    d_e = sum(n_c[c] * n_c[k] * delta(c, k) for c in n_c for k in n_c) / (n * (n - 1))
    if d_e == 0:
        return None
    return 1.0 - d_o / d_e
