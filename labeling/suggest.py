"""Suggestions that claim no more than they know.

- ``quality`` (type ``model``): the scorer's own value on an absolute scale, never a rank within
  the pushed sample — a learned scorer's calibrated P(good) (``score_total`` in 0..1 → 1 + 4p)
  or predicted rating (1..5), or DEITA's quality of the last turn (1..6 → 1..5). The offline
  heuristic (``heuristic-v1``) is not calibrated against any judgment: it suggests nothing.
- ``verdict`` (type ``human``): the end user's thumb, when present.
- Contradictions are not pre-filled: a quality suggestion ≥ ``good_at`` with a thumb down, or
  ≤ ``bad_at`` with a thumb up, is dropped (the human signal stays) and counted.

Each suggestion names its agent: name and version (the scorer, its model, the stage
fingerprint and sluice version), and the push manifest records them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from .form import PREFILLED

HEURISTIC = "heuristic"
_AGENT = re.compile(r"[^a-zA-Z0-9\-_:./\s]")  # Argilla's agent alphabet


@dataclass
class Agent:
    type: str
    name: str
    version: str

    def label(self) -> str:
        return _AGENT.sub("-", f"{self.name} {self.version}".strip())[:200]


@dataclass
class Suggester:
    """Builds the suggestions of each row; counts what it made and what it left out."""

    agents: dict[str, Agent] = field(default_factory=dict)  # scorer value → agent
    good_at: float = 4
    bad_at: float = 2
    counts: Counter = field(default_factory=Counter)

    @classmethod
    def for_version(cls, version, store) -> Suggester:
        """Agents from the ``quality_score`` stage recorded in the lineage's manifests."""
        stage, config, manifest = _quality_stage(version, store)
        agents = {}
        if stage is not None:
            model = config.get("quality_model") or config.get("scorer") or ""
            ver = f"{model} fp:{stage.get('fingerprint', '')[:12]} sluice:{manifest['tool']['version']}".strip()
            agents = {"*": Agent("model", "sluice quality_score", ver)}
        return cls(agents)

    def row(self, row: dict) -> dict[str, tuple]:
        """{question: (value, Agent)} for the row — only questions in ``PREFILLED``."""
        out = {}
        rating, scorer = self.rating(row)
        if rating is not None and "*" in self.agents:
            base = self.agents["*"]
            out["quality"] = (rating, Agent(base.type, f"{base.name} {scorer}", base.version))
        elif scorer and scorer.startswith(HEURISTIC):
            self.counts["quality_not_suggested_uncalibrated_heuristic"] += 1
        thumb = (row.get("feedback") or {}).get("thumb")
        if thumb in (1, -1):
            out["verdict"] = ("good" if thumb == 1 else "bad", Agent("human", "end-user thumb", "feedback.thumb"))
        if "quality" in out and "verdict" in out:
            q, v = out["quality"][0], out["verdict"][0]
            if (q >= self.good_at and v == "bad") or (q <= self.bad_at and v == "good"):
                del out["quality"]
                self.counts["quality_dropped_contradicts_thumb"] += 1
        for q in out:
            self.counts[f"{q}_suggested"] += 1
        assert set(out) <= set(PREFILLED)
        return out

    @staticmethod
    def rating(row: dict) -> tuple[int | None, str | None]:
        """(1..5 rating from the scorer's absolute value, scorer name) or (None, scorer)."""
        scorer = row.get("scorer")
        if not scorer or scorer.startswith(HEURISTIC):
            return None, scorer
        if scorer.startswith("learned"):
            v = row.get("score_total")
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return None, scorer
            value = 1 + 4 * v if 0 <= v <= 1 else v
        else:
            per_turn = row.get("score_quality") or []
            users = sum(m["role"] == "user" for m in row.get("messages") or [])
            last = per_turn[-1] if per_turn and len(per_turn) == users else None  # the turn under review
            if last is None or (isinstance(last, float) and math.isnan(last)):
                return None, scorer
            value = 1 + (last - 1) * 4 / 5  # DEITA's 1..6 onto 1..5
        return min(5, max(1, round(value))), scorer


def _quality_stage(version, store):
    for v in store.lineage(version):
        configs = (v.manifest.get("recipe") or {}).get("stages") or []
        for i, s in enumerate(v.manifest.get("stages") or []):
            if s.get("name") == "quality_score":
                return s, (configs[i] if i < len(configs) else {}), v.manifest
    return None, {}, {}
