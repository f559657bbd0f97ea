"""Judge replies → ratings, and ratings → preference pairs. Pure functions, no model.

``read_ratings`` parses with distilabel's UltraFeedback task first (``format_output``); when its
strict per-section regex does not yield one rating per text, ``parse_ratings`` reads the UltraFeedback rubric's reply format (``Rating: 4`` /
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
- ``above_margin`` — ``close`` pairing: even the closest lower rating is more than ``max_margin`` below

Pairing (``make_pair``): chosen is the best-rated answer; rejected is the worst (``best_worst``),
a random lower-rated one (``best_random``), or — ``close``, hard negatives — the lower-rated
answer nearest to the best that is still at least ``min_margin`` below it: pairs whose answers
are almost equally good teach a preference model more than easy ones.
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


def read_ratings(task, reply: str | None, inp: dict) -> list[float]:
    """Ratings of ``inp["generations"]`` from a judge reply: distilabel's UltraFeedback task parses
    it; its misses (markdown, JSON, reordered sections) go to ``parse_ratings``, which never guesses."""
    n = len(inp["generations"])
    try:
        ratings = task.format_output(reply, inp).get("ratings") or []
    except (IndexError, ValueError, TypeError):  # its regex found "Rating:" without a number
        ratings = []
    if len(ratings) == n and all(isinstance(r, (int, float)) and SCALE[0] <= r <= SCALE[1] for r in ratings):
        return [float(r) for r in ratings]
    return parse_ratings(reply, n)


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
              max_margin: float | None = None, rng: random.Random | None = None) -> Pair:
    """Pick (chosen, rejected) indices from ratings; JudgeParseError with a reason code if none."""
    if len(ratings) < 2:
        raise JudgeParseError("too_few_candidates", f"{len(ratings)} rated answer(s); a pair needs 2")
    best = max(range(len(ratings)), key=lambda i: (ratings[i], -i))
    lower = [i for i, r in enumerate(ratings) if r < ratings[best]]
    if not lower:
        raise JudgeParseError("tie", f"all {len(ratings)} answers rated {ratings[best]:g}")
    if strategy == "close":
        far_enough = [i for i in lower if ratings[best] - ratings[i] >= min_margin]
        if not far_enough:
            raise JudgeParseError("below_margin", f"no answer is min_margin {min_margin:g} below the best")
        other = max(far_enough, key=lambda i: (ratings[i], -i))
        if max_margin is not None and ratings[best] - ratings[other] > max_margin:
            raise JudgeParseError("above_margin", f"closest margin {ratings[best] - ratings[other]:g} "
                                                  f"> max_margin {max_margin:g}")
    elif strategy == "best_worst":
        other = min(lower, key=lambda i: (ratings[i], i))
    elif strategy == "best_random":
        other = (rng or random.Random(0)).choice(lower)
    else:
        raise ValueError(f"unknown pairing strategy {strategy!r}")
    if ratings[best] - ratings[other] < min_margin:
        raise JudgeParseError("below_margin",
                              f"margin {ratings[best] - ratings[other]:g} < min_margin {min_margin:g}")
    return Pair(best, other, ratings[best], ratings[other])
