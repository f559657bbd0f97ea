"""Planted near duplicates with known Jaccard levels — to measure MinHash LSH, not to curate.

From real documents (e.g. alpaca instructions) make edited copies — typos, reordering,
insertions, truncation — and compute each copy's *exact* Jaccard similarity with its original
over the same shingles the dedup uses. Copies at ≥ ``threshold + margin`` should be found,
copies at ≤ ``threshold - margin`` should not; the band in between (where any estimator is a
coin flip) is not planted. ``evaluate`` turns predicted clusters into precision / recall / F1
over pairs, judging every predicted pair by its exact Jaccard.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import combinations

from .minhash import shingles

EDITS = ("typos", "reorder", "insert", "truncate")


def jaccard_exact(a: str, b: str, n: int) -> float:
    sa, sb = set(shingles(a, n)), set(shingles(b, n))
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _typos(words: list[str], rng: random.Random, k: int) -> list[str]:
    words = list(words)
    for i in rng.sample(range(len(words)), min(k, len(words))):
        w = words[i]
        j = rng.randrange(len(w))
        words[i] = w[:j] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[j + 1:] + ("x" if len(w) == 1 else "")
    return words


def _reorder(words: list[str], rng: random.Random, k: int) -> list[str]:
    words = list(words)
    for _ in range(k):  # move a chunk of words elsewhere
        size = rng.randint(3, 8)
        i = rng.randrange(max(1, len(words) - size))
        chunk, rest = words[i:i + size], words[:i] + words[i + size:]
        j = rng.randrange(len(rest) + 1)
        words = rest[:j] + chunk + rest[j:]
    return words


def _insert(words: list[str], rng: random.Random, k: int) -> list[str]:
    words = list(words)
    for _ in range(k):
        words.insert(rng.randrange(len(words) + 1), rng.choice(words))
    return words


def _truncate(words: list[str], rng: random.Random, k: int) -> list[str]:
    return words[: max(1, len(words) - k)]


_EDIT = {"typos": _typos, "reorder": _reorder, "insert": _insert, "truncate": _truncate}


@dataclass
class Planted:
    texts: list[str]                                  # originals first, then copies (normalized)
    source: list[int]                                 # index of the original a copy came from (self for originals)
    jaccard: list[float]                              # exact Jaccard with the original (1.0 for originals)
    edit: list[str]                                   # edit kind ("original" for originals)
    positives: set[tuple[int, int]] = field(default_factory=set)  # (original, copy) pairs that must be found


def plant(originals: list[str], *, n: int = 5, threshold: float = 0.8, margin: float = 0.05,
          copies_frac: float = 0.5, seed: int = 0, min_words: int = 30) -> Planted:
    """Originals (normalized texts) with edited copies at known exact Jaccard levels."""
    rng = random.Random(seed)
    base = [t for t in originals if len(t.split(" ")) >= min_words]
    out = Planted(list(base), list(range(len(base))), [1.0] * len(base), ["original"] * len(base))
    for i, text in enumerate(base):
        if rng.random() >= copies_frac:
            continue
        words = text.split(" ")
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(EDITS)
            positive = rng.random() < 0.7
            # edit magnitude by a rough model of shingles lost, re-drawn until outside the margin band
            for _attempt in range(8):
                scale = rng.uniform(0.005, 0.025) if positive else rng.uniform(0.06, 0.2)
                k = max(1, round(scale * len(words) * (4 if kind == "truncate" else 1)))
                copy = " ".join(_EDIT[kind](words, rng, k))
                j = jaccard_exact(text, copy, n)
                if j >= threshold + margin or j <= threshold - margin:
                    break
            else:
                continue
            out.texts.append(copy)
            out.source.append(i)
            out.jaccard.append(j)
            out.edit.append(kind)
            if j >= threshold + margin:
                out.positives.add((i, len(out.texts) - 1))
    return out


def evaluate(planted: Planted, clusters: list[int | None], *, n: int = 5, threshold: float = 0.8) -> dict:
    """Pair precision / recall / F1 of predicted ``clusters`` (None: no cluster) on ``planted``.

    A predicted pair is correct when its exact Jaccard ≥ threshold (so real duplicates already
    in the data count as correct, not as false positives); recall is over the planted positives.
    """
    groups: dict[int, list[int]] = {}
    for row, c in enumerate(clusters):
        if c is not None:
            groups.setdefault(c, []).append(row)
    predicted = {(a, b) for rows in groups.values() for a, b in combinations(sorted(rows), 2)}
    correct = sum(jaccard_exact(planted.texts[a], planted.texts[b], n) >= threshold for a, b in predicted)
    found = sum(1 for a, b in planted.positives if clusters[a] is not None and clusters[a] == clusters[b])
    precision = correct / len(predicted) if predicted else 1.0
    recall = found / len(planted.positives) if planted.positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_edit: dict[str, list[int]] = {}
    for a, b in planted.positives:
        by_edit.setdefault(planted.edit[b], []).append(int(clusters[a] is not None and clusters[a] == clusters[b]))
    negatives = [(s, i) for i, s in enumerate(planted.source) if planted.edit[i] != "original" and (s, i) not in planted.positives]
    false_merges = sum(1 for s, i in negatives if clusters[s] is not None and clusters[s] == clusters[i])
    return {"docs": len(planted.texts), "positives": len(planted.positives), "negatives": len(negatives),
            "predicted_pairs": len(predicted), "precision": precision, "recall": recall, "f1": f1,
            "negatives_merged": false_merges,
            "recall_by_edit": {k: sum(v) / len(v) for k, v in sorted(by_edit.items())}}
