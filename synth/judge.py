"""Judge replies → ratings, and ratings → preference pairs. Pure functions, no model.

``parse_ratings`` reads the UltraFeedback rubric's reply format (``Rating: 4`` /
``Rationale: …`` per text) and the variations judges actually produce: markdown bold,
``4/5``, ``4.0``, ``#### Output for Text 2`` headers out of order, a JSON object
``{"ratings": [...]}``, extra prose around it. It never guesses: a reply with the wrong number
of ratings or a rating outside the scale fails with a reason code.

Reason codes (a row dropped for one of these lands in ``rejected/`` with it):

- ``judge_unparseable`` — no rating could be read from the reply
- ``judge_wrong_count`` — the reply rates a different number of texts than it was given
- ``judge_out_of_range`` — a rating outside the rubric's 1–5 scale
- ``tie`` — every candidate got the same rating: no preference to learn
- ``below_margin`` — best minus the chosen lower rating is under ``min_margin``
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

SCALE = (1.0, 5.0)

_NUM = r"(-?\d+(?:\.\d+)?)"
_RATING = re.compile(r"\*{0,2}\s*rating\s*\*{0,2}\s*[:=]\s*\*{0,2}\s*" + _NUM + r"(?:\s*/\s*(\d+))?", re.I)
_HEADER = re.compile(r"(?:output\s+for\s+)?text\s*(\d+)\b", re.I)


class JudgeParseError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def parse_ratings(reply: str | None, n: int) -> list[float]:
    """The ``n`` ratings in ``reply`` (text order), or JudgeParseError with a reason code."""
    if not reply or not reply.strip():
        raise JudgeParseError("judge_unparseable", "empty reply")
    ratings = _from_json(reply, n)
    if ratings is None:
        ratings = _from_sections(reply, n)
    if ratings is None:
        found = [(_scaled(m)) for m in _RATING.finditer(reply)]
        if not found:
            raise JudgeParseError("judge_unparseable", f"no 'Rating: N' line for {n} texts")
        if len(found) != n:
            raise JudgeParseError("judge_wrong_count", f"{len(found)} ratings for {n} texts")
        ratings = found
    bad = [r for r in ratings if not SCALE[0] <= r <= SCALE[1]]
    if bad:
        raise JudgeParseError("judge_out_of_range", f"{len(bad)} rating(s) outside {SCALE[0]:g}-{SCALE[1]:g}")
    return ratings


def _scaled(m: re.Match) -> float:
    value, denom = float(m.group(1)), m.group(2)
    if denom and float(denom) not in (0.0, SCALE[1]):
        value = value / float(denom) * SCALE[1]  # "8/10" on a 5-point rubric
    return value


def _from_json(reply: str, n: int) -> list[float] | None:
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(reply[start:end + 1])
    except ValueError:
        return None
    values = data.get("ratings") if isinstance(data, dict) else None
    if not isinstance(values, list):
        return None
    try:
        ratings = [float(v) for v in values]
    except (TypeError, ValueError):
        raise JudgeParseError("judge_unparseable", "non-numeric rating in JSON reply") from None
    if len(ratings) != n:
        raise JudgeParseError("judge_wrong_count", f"{len(ratings)} ratings for {n} texts")
    return ratings


def _from_sections(reply: str, n: int) -> list[float] | None:
    """Ratings under explicit ``Text k`` headers, placed by k (judges sometimes reorder)."""
    headers = list(_HEADER.finditer(reply))
    if len(headers) < n:
        return None
    by_text: dict[int, float] = {}
    for i, h in enumerate(headers):
        stop = headers[i + 1].start() if i + 1 < len(headers) else len(reply)
        m = _RATING.search(reply, h.end(), stop)
        k = int(h.group(1))
        if m and 1 <= k <= n and k not in by_text:
            by_text[k] = _scaled(m)
    if len(by_text) != n:
        return None  # headers without ratings (e.g. an echo of the template): fall back to plain order
    return [by_text[k] for k in range(1, n + 1)]


@dataclass(frozen=True)
class Pair:
    chosen: int
    rejected: int
    score_chosen: float
    score_rejected: float


def make_pair(ratings: list[float], *, strategy: str = "best_worst", min_margin: float = 1.0,
              rng: random.Random | None = None) -> Pair:
    """Pick (chosen, rejected) indices from ratings; JudgeParseError('tie'|'below_margin') if none."""
    if len(ratings) < 2:
        raise JudgeParseError("too_few_candidates", f"{len(ratings)} rated answer(s); a pair needs 2")
    best = max(range(len(ratings)), key=lambda i: (ratings[i], -i))
    lower = [i for i, r in enumerate(ratings) if r < ratings[best]]
    if not lower:
        raise JudgeParseError("tie", f"all {len(ratings)} answers rated {ratings[best]:g}")
    if strategy == "best_worst":
        other = min(lower, key=lambda i: (ratings[i], i))
    elif strategy == "best_random":
        other = (rng or random.Random(0)).choice(lower)
    else:
        raise ValueError(f"unknown pairing strategy {strategy!r}")
    if ratings[best] - ratings[other] < min_margin:
        raise JudgeParseError("below_margin",
                              f"margin {ratings[best] - ratings[other]:g} < min_margin {min_margin:g}")
    return Pair(best, other, ratings[best], ratings[other])
