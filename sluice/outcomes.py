"""Loud outcomes of a run: a stage that removed most of its input, an empty result.

One rule, read by the CLI (a warning under the funnel), the data card (a "Warnings" section) and
the runner (an empty result fails unless the recipe says ``allow_empty: true``). Works on the
stage stats as the manifest stores them (``name``, ``rows_in``, ``kept``, ``rejected``,
``quarantined``), so the card needs nothing but the manifest.
"""

from __future__ import annotations

from typing import Any

from sluice.errors import DataError

#: a stage removing more than this share of its input is reported
HEAVY_SHARE = 0.5


def _reasons(stage: dict[str, Any]) -> str:
    counts = {**stage.get("rejected", {}), **{f"quarantined: {k}": n for k, n in stage.get("quarantined", {}).items()}}
    return ", ".join(f"{r} {n:,}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "no reason recorded"


def heavy_stages(stages: list[dict[str, Any]], share: float = HEAVY_SHARE) -> list[str]:
    """One line per stage that removed more than ``share`` of its input, naming its reasons."""
    out = []
    for s in stages:
        removed = s["rows_in"] - s["kept"]
        if s["rows_in"] and removed / s["rows_in"] > share:
            out.append(f"{s['name']} removed {removed:,} of {s['rows_in']:,} rows ({removed / s['rows_in']:.0%}): "
                       f"{_reasons(s)}")
    return out


def check_not_empty(recipe_name: str, rows_in: int, stages: list[dict[str, Any]], allow_empty: bool) -> None:
    """Fail a run whose result has no rows (unless allowed), naming the stages that removed them."""
    kept = stages[-1]["kept"] if stages else rows_in
    if kept or not rows_in or allow_empty:
        return
    raise DataError(f"recipe {recipe_name!r} kept none of its {rows_in:,} input rows; nothing was published",
                    problems=heavy_stages(stages, 0.0) or [f"{s['name']}: {_reasons(s)}" for s in stages],
                    hint="loosen the stages named above (`sluice stages` lists their settings), "
                         "or set `allow_empty: true` in the recipe to publish an empty version")
