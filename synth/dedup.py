"""Deduplicate generated prompts against the seeds and each other.

Two prompts are duplicates when their normalized text is equal (case, punctuation and
whitespace ignored) or when the Jaccard similarity of their word 3-gram sets reaches
``threshold`` (Self-Instruct filters near-copies the same way, with ROUGE-L). Candidates are
only compared with prompts sharing a shingle (an inverted index), so the cost follows the
overlap, not n².
"""

from __future__ import annotations

import re
from collections import defaultdict


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def shingles(text: str, k: int = 3) -> frozenset[str]:
    words = normalize(text).split()
    if len(words) < k:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i:i + k]) for i in range(len(words) - k + 1))


class Deduper:
    """Feed seeds first (``add``), then ``check`` candidates in order: the first copy wins."""

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold
        self.exact: dict[str, str] = {}
        self.sets: dict[str, frozenset[str]] = {}
        self.index: dict[str, list[str]] = defaultdict(list)

    def add(self, key: str, text: str) -> None:
        self.exact.setdefault(normalize(text), key)
        sh = shingles(text)
        self.sets[key] = sh
        for s in sh:
            self.index[s].append(key)

    def check(self, text: str) -> str | None:
        """The key of an earlier prompt this one duplicates, or None."""
        norm = normalize(text)
        if norm in self.exact:
            return self.exact[norm]
        sh = shingles(text)
        if not sh:
            return None
        overlap: dict[str, int] = defaultdict(int)
        for s in sh:
            for key in self.index.get(s, ()):
                overlap[key] += 1
        for key, common in overlap.items():
            if common / (len(sh) + len(self.sets[key]) - common) >= self.threshold:
                return key
        return None
