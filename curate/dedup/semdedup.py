"""semdedup / semantic_dedup — SemDedup (Abbas et al., 2023): semantic duplicates in embedding space.

``semdedup`` (score, whole dataset) reads ``messages`` (and ``embedding`` when an earlier stage
added it, else it embeds the key text with the project's one loader, ``sluice.curate.quality.embed``:
default the static model distilled from the embedded all-MiniLM-L6-v2, at its full length),
clusters the unit-normed embeddings with k-means (scikit-learn), orders each cluster, re-scores
the rows that have a neighbour at cosine ≥ ``verify_floor`` with ``verify`` (all-MiniLM-L6-v2: the
static model ranks paraphrases worse than the transformer, so it only proposes candidates; set
``verify: null`` when the vectors already come from a transformer), and adds
  ``dup_sem_cluster`` — the k-means cluster;
  ``dup_sem_sim`` — the highest cosine similarity to a compatible row ranked *earlier* in its
  cluster (null for the first row of a cluster);
  ``dup_sem_nearest`` — the id of that row;
  ``dup_sem_blocked`` — the highest cosine to an earlier row the facts guard refused (else null).
Order ``paper`` ranks by distance to the centroid, farthest first (the paper keeps the least
prototypical item of a duplicate group); ``quality`` ranks by the quality score, best first.

The facts guard (``guard``): two rows where each has a number (or a capitalized name) the other
lacks — "What is 17 times 23?" / "What is 18 times 23?", "capital of Austria" / "of Australia" —
are template variants with different facts, never duplicates, however close their vectors. An
added detail ("in 2002", "General Moseley") is not a substitution and does not block.

The polarity check (``polarity``, on by default) is the second opinion on the same candidate
pairs: it also refuses pairs where one negates what the other states (a different count of
negation tokens: "the refund was not approved" / "was approved"), where each has a number the
other lacks counted with repeats ("5+6" / "6+6"), or where the same words trade places across a
direction word ("from Lyon to Paris" / "from Paris to Lyon", "a cat bigger than a dog"). A token
check, run only on pairs close enough to matter (BENCHMARKS.md, "Curation round two (issue #32)").
Its token alignment (``aligned_change``) reads what changed between two near-identical rows: a moved
negation ("not wholly convincing" / "wholly not convincing"), a traded quantifier ("won" / "almost
won"), an antonym by prefix ("clean" / "unclean") and, with ``minimal_pairs``, a content word added,
dropped or traded ("too hot" / "too cold"; not another form of the same word: "tying" / "ties", "fell"
/ "falls", WordNet's forms) — BENCHMARKS.md, "SemDedup round three"; two blocks of the same words
trading places anywhere ("exchange": "high-seas vessels … used as coastal" / "coastal vessels … used
as high-seas") and a negation idiom its preposition decides ("at no time" / "in no time") —
"SemDedup round four: verifier precision (#32.1)".

``semantic_dedup`` (decide, whole dataset) rejects rows with ``dup_sem_sim ≥ 1 − eps`` as
``semantic_duplicate``; ``duplicate_of`` follows ``dup_sem_nearest`` to the first kept row (a
chain of removed rows always ends at a kept one, since each link points earlier). Changing
``eps`` reuses the scores: ``sluice dedup semantic-curve REF`` shows the removed fraction per eps
over the stage's input. The default eps comes from the precision/recall curve on labelled
paraphrase pairs (``DEV_CURVE``; ``benchmarks/eval_paraphrase.py``).

    - stage: semdedup
      cluster_size: 1000     # k = ceil(rows / cluster_size)
      order: paper           # paper | quality
    - stage: semantic_dedup
      eps: 0.075             # cosine ≥ 0.925 is a duplicate
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
import math
import re
import time
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from sluice.errors import DataError
from sluice.stage import ROW, Filter, Requirement, Scorer, StageConfig

from .normalize import Key, key_text

log = logging.getLogger(__name__)

#: Precision/recall of ``semantic_dedup`` per eps for the default setup (static first pass, MiniLM
#: verify, facts guard, polarity check with the token alignment, minimal pairs, exchanges and lemmas)
#: on 498 real labelled pairs: MRPC / QQP / STS-B paraphrases and non-paraphrases, NaN-NLI and
#: GLUE-diagnostic contradictions — ``python benchmarks/bench_semdedup_polarity.py`` (BENCHMARKS.md,
#: "SemDedup round four: verifier precision (#32.1)").
DEV_CURVE: list[dict] = [
    {"eps": 0.01, "precision": 1.0, "recall": 0.016}, {"eps": 0.02, "precision": 1.0, "recall": 0.031},
    {"eps": 0.03, "precision": 1.0, "recall": 0.039}, {"eps": 0.04, "precision": 1.0, "recall": 0.087},
    {"eps": 0.05, "precision": 1.0, "recall": 0.134}, {"eps": 0.06, "precision": 1.0, "recall": 0.157},
    {"eps": 0.075, "precision": 0.967, "recall": 0.228}, {"eps": 0.09, "precision": 0.892, "recall": 0.26},
    {"eps": 0.1, "precision": 0.875, "recall": 0.276}, {"eps": 0.125, "precision": 0.846, "recall": 0.346},
    {"eps": 0.15, "precision": 0.85, "recall": 0.402}, {"eps": 0.2, "precision": 0.816, "recall": 0.488},
    {"eps": 0.25, "precision": 0.788, "recall": 0.528}, {"eps": 0.3, "precision": 0.709, "recall": 0.575}]
#: the eps of DEV_CURVE with the most recall at precision ≥ 0.95 (0.967: 29 of 127 paraphrases, 1 of
#: 371 real negatives): semantic dedup must not drop distinct data
DEFAULT_EPS = 0.075
#: static cosine from which MiniLM re-scores a row: on the labelled pairs, the verified setup then
#: flags 53 of the 54 paraphrases MiniLM alone flags at DEFAULT_EPS, at the same precision
VERIFY_FLOOR = 0.75


class SemDedupConfig(StageConfig):
    key: Key = Field("conversation", description="which text is embedded (when no embedding column exists) and "
                                                 "checked by the facts guard")
    embedding_column: str = Field("embedding", description="reuse this column of vectors when the data has it")
    model: str = Field("static", description="static (model2vec distilled from the embedded all-MiniLM-L6-v2) or a "
                                             "sentence-transformers id or local path; used when no embedding column")
    source: str = Field("all-MiniLM-L6-v2", description="transformer a static model is distilled from (default: "
                                                       "the embedded all-MiniLM-L6-v2)")
    max_chars: int = Field(2000, gt=0, description="characters of text embedded and checked")
    max_tokens: int | None = Field(None, gt=0, description="tokens per text the model reads (default: its own "
                                                           "maximum)")
    embed_batch_size: int = Field(64, gt=0, description="texts per embedding batch (a resource knob)")
    verify: str | None = Field("all-MiniLM-L6-v2", description="transformer that re-scores the rows a static "
                                                               "model finds close (null: trust the first pass)")
    verify_floor: float = Field(VERIFY_FLOOR, gt=0, lt=1, description="first-pass cosine from which a row is "
                                                                      "re-scored by verify")
    guard: Literal["none", "numbers", "numbers_and_names"] = Field(
        "numbers_and_names", description="never pair rows that substitute a number (or a capitalized name) for "
                                         "another: template variants with different facts")
    polarity: bool = Field(True, description="never pair rows where one negates the other, the two sides of a "
                                            "direction word are swapped (from Lyon to Paris / from Paris to Lyon), two "
                                            "blocks of the same words trade places, or the token alignment finds a "
                                            "moved negation, a traded quantifier or an antonym")
    minimal_pairs: bool = Field(True, description="with polarity: never pair near-identical rows that add, drop or "
                                                  "trade a content word (the water is too hot / too cold)")
    cluster_size: int = Field(1000, gt=1, description="target rows per k-means cluster")
    n_clusters: int | None = Field(None, gt=0, description="k-means k; overrides cluster_size")
    order: Literal["paper", "quality"] = Field("paper", description="who is kept in a group: paper "
                                               "(farthest from centroid) or quality (highest score)")
    quality_column: str = Field("score_total", description="score column for order: quality")
    seed: int = Field(0, description="k-means seed")


#: k-means is fitted on a sample of this many rows per cluster (the rest are only assigned); SemDedup
#: needs clusters that keep near-duplicates together, not an optimal partition
SAMPLE_PER_CLUSTER = 32
#: Lloyd iterations of the fit (it stops earlier when no sampled row changes cluster)
KMEANS_ITERS = 10


def fit_centroids(sample: np.ndarray, k: int, seed: int, iters: int = KMEANS_ITERS) -> np.ndarray:
    """Spherical k-means on unit rows ``sample``: ``k`` unit centroids. Seeded, deterministic; starts
    from :func:`spread_seeds`; a cluster that empties keeps its previous centroid."""
    k = max(1, min(k, len(sample)))
    cent = spread_seeds(sample, k, seed)
    labels = None
    for _ in range(iters):
        new = assign(sample, cent)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        sums = np.zeros_like(cent)
        np.add.at(sums, labels, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        cent = np.where(norms > 0, sums / np.maximum(norms, 1e-12), cent).astype(np.float32)
    return cent


def spread_seeds(sample: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` starting centroids, each the sampled row farthest (lowest best cosine) from those chosen
    so far, from a seeded first row: one pass over the sample per centroid, so no two start in the
    same tight group (random starts do, and Lloyd's iterations rarely separate them)."""
    first = int(np.random.default_rng(seed).integers(len(sample)))
    chosen = [first]
    best = sample @ sample[first]
    for _ in range(1, k):
        nxt = int(np.argmin(best))
        chosen.append(nxt)
        np.maximum(best, sample @ sample[nxt], out=best)
    return sample[chosen].astype(np.float32, copy=True)


def assign(emb: np.ndarray, cent: np.ndarray, block: int = 8192) -> np.ndarray:
    """Nearest centroid (highest cosine) of each unit row; ties go to the lower cluster id. Runs on
    any slice of rows alone, so a distributed run assigns each batch where it lies."""
    out = np.empty(len(emb), dtype=np.int32)
    for i in range(0, len(emb), block):
        out[i:i + block] = np.argmax(emb[i:i + block] @ cent.T, axis=1)
    return out


def kmeans_sample(n: int, k: int, seed: int) -> np.ndarray:
    """Row indices (sorted) k-means is fitted on: ``SAMPLE_PER_CLUSTER`` per cluster, all rows when fewer."""
    m = min(n, max(k, SAMPLE_PER_CLUSTER * k))
    return np.arange(n) if m == n else np.sort(np.random.default_rng(seed).choice(n, m, replace=False))


def kmeans(emb: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit-normed centroids): fitted on a sample (:func:`kmeans_sample`), every row assigned."""
    k = max(1, min(k, len(emb)))
    cent = fit_centroids(emb[kmeans_sample(len(emb), k, seed)], k, seed)
    return assign(emb, cent), cent


def earlier_max(emb: np.ndarray, order: np.ndarray, block: int = 2048, compatible=None, candidates: int = 8,
                floor: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows ``order[j]`` of one cluster: max cosine with any ``order[i]``, i < j, that row, and the
    highest cosine the guard skipped (NaN when none).

    ``compatible(i, j)`` (optional) vetoes a pair: each row then takes the most similar of its
    ``candidates`` nearest earlier rows that is compatible; rows whose nearest is below ``floor``
    (no eps reaches it) skip the check."""
    e = emb[order]
    n = len(order)
    best = np.full(n, np.nan, dtype=np.float32)
    arg = np.full(n, -1, dtype=np.int64)
    blocked = np.full(n, np.nan, dtype=np.float32)
    for c0 in range(1, n, block):
        c1 = min(n, c0 + block)
        sims = e[:c1] @ e[c0:c1].T                      # rows i < c1, columns j in [c0, c1)
        mask = np.arange(c1)[:, None] >= np.arange(c0, c1)[None, :]
        sims[mask] = -np.inf                             # only i < j
        arg[c0:c1] = order[sims.argmax(axis=0)]
        best[c0:c1] = sims.max(axis=0)
        if compatible is not None:
            _guard(sims, order, c0, compatible, min(candidates, c1), floor, best, arg, blocked)
    return best, arg, blocked


def _guard(sims, order, c0, compatible, k, floor, best, arg, blocked) -> None:
    """Walk each column's k nearest earlier rows, best first, to the first compatible one."""
    for col in np.flatnonzero(best[c0:c0 + sims.shape[1]] >= floor):
        j = c0 + col
        if compatible(arg[j], order[j]):  # the nearest earlier row passes: nothing to walk
            continue
        column = sims[:, col]
        cand = np.argpartition(-column, k - 1)[:k]
        cand = cand[np.argsort(-column[cand], kind="stable")]
        best[j], arg[j] = np.nan, -1
        for i in cand:
            s = column[i]
            if s == -np.inf:
                break
            if compatible(order[i], order[j]):
                best[j], arg[j] = s, order[i]
                break
            if np.isnan(blocked[j]):
                blocked[j] = s


def semdedup_scores(emb: np.ndarray, k: int, seed: int, rank: np.ndarray | None = None,
                    compatible=None, verify=None, floor: float = 0.75) -> dict[str, np.ndarray]:
    """Cluster labels, earlier-max similarity and nearest row for unit-normed ``emb``.

    ``rank``: higher is kept first (e.g. a quality score); default: distance to the centroid.
    ``verify(rows) -> vectors`` (optional): rows with a same-cluster neighbour at cosine ≥ ``floor``
    are scored again with those vectors (a stronger model, among themselves, same clusters and
    order); every other row keeps its first-pass similarity, which is below ``floor``.
    """
    labels, cent = kmeans(emb, k, seed)
    return cluster_scores(emb, labels, cent, rank, compatible, verify, floor)


def cluster_scores(emb: np.ndarray, labels: np.ndarray, cent: np.ndarray, rank: np.ndarray | None = None,
                   compatible=None, verify=None, floor: float = 0.75) -> dict[str, np.ndarray]:
    """:func:`semdedup_scores` once the rows are assigned: needs only the rows of whole clusters (the
    bounded form calls it one partition of clusters at a time)."""
    if rank is None:
        rank = 1.0 - np.einsum("ij,ij->i", emb, cent[labels])  # cosine distance: farthest first
    out = within_clusters(emb, labels, cent, rank, compatible)
    rows = np.flatnonzero(close_rows(emb, labels, floor)) if verify is not None else np.empty(0, dtype=np.int64)
    if len(rows):
        sub_ok = None if compatible is None else (lambda i, j: compatible(rows[i], rows[j]))
        sub = within_clusters(verify(rows), labels[rows], cent, rank[rows], sub_ok)
        out["sim"][rows], out["blocked"][rows] = sub["sim"], sub["blocked"]
        out["nearest"][rows] = np.where(sub["nearest"] >= 0, rows[np.maximum(sub["nearest"], 0)], -1)
    return {"cluster": labels.astype(np.int32), "verified": rows, **out}


def close_rows(emb: np.ndarray, labels: np.ndarray, floor: float, block: int = 2048) -> np.ndarray:
    """Rows with another row of their cluster at cosine ≥ ``floor``."""
    close = np.zeros(len(emb), dtype=bool)
    by_cluster = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(labels[by_cluster]) != 0, True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        idx = by_cluster[lo:hi]
        e = emb[idx]
        for c0 in range(0, len(idx), block):
            c1 = min(len(idx), c0 + block)
            sims = e @ e[c0:c1].T
            sims[np.arange(c0, c1), np.arange(c1 - c0)] = -np.inf  # not itself
            close[idx[c0:c1]] = sims.max(axis=0) >= floor
    return close


def within_clusters(emb: np.ndarray, labels: np.ndarray, cent: np.ndarray | None,
                    rank: np.ndarray | None = None, compatible=None) -> dict[str, np.ndarray]:
    """Order each cluster (``rank`` high first, default farthest from centroid) → earlier-max sim, nearest."""
    if rank is None:
        rank = 1.0 - np.einsum("ij,ij->i", emb, cent[labels])  # cosine distance: farthest first
    sim = np.full(len(emb), np.nan, dtype=np.float32)
    blocked = np.full(len(emb), np.nan, dtype=np.float32)
    nearest = np.full(len(emb), -1, dtype=np.int64)
    by_cluster = np.lexsort((np.arange(len(emb)), -rank, labels))
    bounds = np.flatnonzero(np.r_[True, np.diff(labels[by_cluster]) != 0, True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        order = by_cluster[lo:hi]
        sim[order], nearest[order], blocked[order] = earlier_max(emb, order, compatible=compatible)
    return {"sim": sim, "nearest": nearest, "blocked": blocked}


# -- the facts guard: template variants with different numbers or names are different rows -------
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n\"“(\[]\s*)$")


def facts(text: str, names: bool = True) -> tuple[frozenset, frozenset]:
    """(numbers, names) of a text: digit runs (separators dropped) and capitalized words that do
    not open a sentence, lower-cased, possessive 's removed."""
    numbers = frozenset(re.sub(r"[,]", "", m) for m in _NUMBER.findall(text))
    if not names:
        return numbers, frozenset()
    found = set()
    for m in _WORD.finditer(text):
        w = m.group()
        if w[0].isupper() and w != "I" and not _SENTENCE_START.search(text[max(0, m.start() - 3):m.start()]):
            found.add(re.sub(r"['’]s$", "", w).lower())
    return numbers, frozenset(found)


def substituted(a: frozenset, b: frozenset) -> bool:
    """Each side has something the other lacks: a replacement, not an added detail."""
    return bool(a - b) and bool(b - a)


# -- the polarity check: negation and direction, which a cosine on pooled vectors cannot see -------
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
#: negation tokens ("n't" is split off its verb: "isn't" counts as "is" + "not")
NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "cannot",
                       "without", "n't"})
#: words whose two sides are not interchangeable ("from Lyon to Paris", "bigger than", "A before B")
DIRECTIONS = frozenset({"from", "to", "into", "onto", "than", "before", "after", "over", "under", "above", "below",
                        "versus", "vs", "against", "toward", "towards", "by", "beat", "beats", "defeated", "follows",
                        "precedes", "owes", "pays", "sends", "sent", "gives", "gave", "sold", "sells", "sues",
                        "married", "replaced", "replaces", "taller", "larger", "bigger", "smaller", "older", "younger"})
_COORDINATION = frozenset({"and", "or", "&", "with"})
_STOP = frozenset({"the", "a", "an", "of", "in", "on", "at", "for", "is", "are", "was", "were", "be", "been", "do",
                   "does", "did", "it", "this", "that", "these", "those", "i", "you", "we", "they", "he", "she", "my",
                   "your", "our", "their", "his", "her", "its", "me", "us", "them", "what", "how", "why", "which",
                   "who", "when", "where", "can", "could", "will", "would", "should", "shall", "may", "might", "must",
                   "has", "have", "had", "as", "so", "if", "then", "there", "here", "s", "'s", "also", "just", "very"})


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, ``n't`` split off its verb ("can't" → "ca", "n't"; "cannot" stays)."""
    out = []
    for m in _TOKEN.finditer(text.lower().replace("’", "'")):
        w = m.group()
        if w.endswith("n't"):
            out += [w[:-3], "n't"]
        else:
            out.append(w)
    return out


def polarity(text: str) -> tuple[int, list[str], list[str], Counter, Counter, Counter, list[str]]:
    """(negation tokens, content words, all tokens, numbers with their counts, tokens with their counts
    as the alignment reads them, what each negation applies to, the tokens as the alignment reads
    them in order) of a text."""
    toks = tokens(text)
    # "No. 2 Ford" is a rank, not a negation
    negations = sum(t in NEGATIONS and not (t == "no" and k + 1 < len(toks) and toks[k + 1].isdigit())
                    for k, t in enumerate(toks))
    content = [t for t in toks if t not in _STOP and t not in NEGATIONS and t not in DIRECTIONS
               and t not in _COORDINATION]
    numbers = Counter(re.sub(r"[,]", "", m) for m in _NUMBER.findall(text))
    numbers.update(t for t in toks if t in NUMBER_WORDS)
    plain = _plain(toks)
    return negations, content, toks, numbers, Counter(plain), _scopes(plain), plain


def _swapped(a: tuple, b: tuple) -> bool:
    """The same content words, two blocks of them trading places ("from New York to Boston" / "from
    Boston to New York", "from most to least popular" / "from least popular to most"), with a
    direction word between the blocks in both texts and no coordination ("A and B" = "B and A")."""
    (_, ca, ta, _), (_, cb, tb, _) = a[:4], b[:4]
    shared = [w for w in ca if ca.count(w) == 1 and cb.count(w) == 1]
    if len(shared) < 2:
        return False
    other = sorted(shared, key=cb.index)
    diff = [k for k, (x, y) in enumerate(zip(shared, other)) if x != y]
    if not diff:
        return False
    lo, hi = diff[0], diff[-1] + 1
    wa, wb = shared[lo:hi], other[lo:hi]
    for nx in range(1, len(wa)):
        for ny in range(1, len(wa) - nx + 1):
            x, y, mid = wa[:nx], wa[len(wa) - ny:], wa[nx:len(wa) - ny]
            if wb == y + mid + x and _across(ta, x[-1], y[0]) and _across(tb, y[-1], x[0]):
                return True
    return False


def _across(toks: list[str], u: str, v: str) -> bool:
    """A direction word, and no coordination, between words ``u`` and ``v`` of ``toks``."""
    i, j = sorted((toks.index(u), toks.index(v)))
    gap = set(toks[i + 1:j])
    return bool(gap & DIRECTIONS) and not gap & _COORDINATION


#: words that set how much or how often a statement holds: trading one for another (or adding one)
#: changes what is claimed ("all" / "most" / "none", "routinely" / "rarely", "won" / "almost won")
QUANTIFIERS = frozenset({"all", "every", "everyone", "everybody", "everything", "each", "most", "many", "much", "few",
                         "little", "lots", "several", "less", "fewer", "least", "only", "even", "almost", "nearly",
                         "barely", "hardly", "scarcely", "seldom", "rarely", "sometimes", "often", "usually",
                         "always", "routinely", "frequently", "infrequently", "occasionally", "both", "either"})
#: number words count as numbers ("one month" / "two months")
NUMBER_WORDS = frozenset({"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                          "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
                          "hundred", "thousand", "million", "billion", "dozen", "half", "twice", "once"})
#: words a request adds or drops without changing it ("please", "thanks")
_FILLER = frozenset({"please", "thanks", "thank", "kindly", "hi", "hello", "hey", "really", "actually", "basically"})
#: negative affixes turn a word into its opposite ("affordable" / "unaffordable", "violent" / "nonviolent")
_NEG_PREFIX = ("un", "in", "im", "ir", "il", "non", "dis", "anti")
#: the alignment reads pairs where at most this share of tokens changed: a negation or quantifier moved
#: or traded there changes the claim; a reworded pair (more changed) is left to the other checks
ALIGNED = 0.5
#: a minimal pair (at most this share changed, or two tokens) that adds, drops or trades a content word says something else
MINIMAL_PAIR = 0.25


def _opposite(x: str, y: str) -> bool:
    """``y`` is ``x`` with a negative prefix (or the other way round): "possible" / "impossible"."""
    x, y = sorted((x, y), key=len)
    return len(x) >= 3 and any(y == p + x or y == p + "-" + x for p in _NEG_PREFIX)


def _scopes(toks: list[str]) -> Counter:
    """What each negation applies to: the two tokens after it ("not very confidently" / "very not
    confidently", "not on Friday" / "not on Saturday") and a preposition before it, which makes an
    idiom of it: "at no time" (never) / "in no time" (quickly), "by no means" / "for no means"."""
    return Counter((toks[k - 1] if k and toks[k - 1] in _IDIOM_BEFORE else "", *toks[k + 1:k + 3])
                   for k, t in enumerate(toks) if t in NEGATIONS)


#: prepositions that make an idiom of the negation after them ("at no time", "in no time", "by no means")
_IDIOM_BEFORE = frozenset({"at", "in", "on", "by", "for", "of", "with", "under", "from", "to", "if"})


_CONTRACTED = {"n't": ("not",), "ca": ("can",), "wo": ("will",), "sha": ("shall",), "cannot": ("can", "not")}


def _plain(toks: list[str]) -> list[str]:
    """Contractions spelled out, so "doesn't" and "does not" align; "No. 2" is a rank, not a negation."""
    out = [p for t in toks for p in _CONTRACTED.get(t, (t,))]
    return [("no." if t == "no" and k + 1 < len(out) and out[k + 1].isdigit() else t) for k, t in enumerate(out)]


def _content(w: str) -> bool:
    """A word the minimal-pair rule reads: not a stopword or filler, and not a number (numbers are the
    facts guard's and the number rule's: an added "in 2002" is a detail)."""
    return w not in _STOP and w not in _FILLER and not w.isdigit()


def _stem(w: str) -> str:
    w = w[:-2] if w.endswith("'s") else w
    return w[:4] if len(w) > 4 else w


#: WordNet's detachment rules (morphy), every part of speech: "ties" → "tie", "tying" ← "tie" + "ing"
_DETACH = (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""),
           ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
           ("er", ""), ("est", ""), ("er", "e"), ("est", "e"))


@functools.lru_cache(maxsize=1)
def irregular_forms() -> dict[str, tuple[str, ...]]:
    """WordNet's exception lists (irregular forms → base forms: "fell" → "fall", "children" →
    "child"), as the embedded spaCy model ships them (``setup.sh``'s pii extra); empty without it,
    when only :data:`_DETACH` and the 4-letter stem match forms."""
    try:
        from spacy.lookups import Lookups

        from ..pii.nlp import embedded_path

        path = embedded_path()
        if path is None:
            return {}
        table = Lookups().from_disk(path / "lemmatizer" / "lookups").get_table("lemma_exc")
        out: dict[str, set] = {}
        for pos in table.values():
            for form, bases in pos.items():
                out.setdefault(form, set()).update(bases)
        return {k: tuple(sorted(v)) for k, v in out.items()}
    except (ImportError, OSError, KeyError, ValueError):
        return {}


def _forms(w: str, lemmas: bool = True) -> set[str]:
    """What a word may be an inflection of: its 4-letter stem and, with ``lemmas``, its WordNet base
    forms (irregular forms, then the detachment rules: "tying" / "ties" → "tie", "fell" → "fall")."""
    w = w[:-2] if w.endswith("'s") else w
    out = {_stem(w)}
    if lemmas:
        out.add(w)
        out.update(irregular_forms().get(w, ()))
        out.update(w[:-len(old)] + new for old, new in _DETACH if w.endswith(old) and len(w) - len(old) >= 2)
    return out


def aligned_change(a: tuple, b: tuple, substitutions: bool = True, lemmas: bool = True) -> str | None:
    """The token-alignment check, for pairs where at most ``ALIGNED`` of the tokens changed: the
    tokens one text has and the other lacks (counted with repeats), and where each negation points.
    ``negation`` (a negation token traded or moved: "not wholly convincing" / "wholly not
    convincing"), ``quantifier`` (a quantity or frequency word added, dropped or traded: "won" /
    "almost won"), ``antonym`` (a word and its negative-prefixed form: "clean" / "unclean") and, with
    ``substitutions``, ``substitution`` (a minimal pair — at most ``MINIMAL_PAIR`` of the tokens, or
    two, changed — that adds, drops or trades a content word with no shared stem: "too hot" / "too
    cold", "getting so complicated" / "so complicated"; with ``lemmas`` a word traded for another form
    of itself — "tying" / "ties", "fell" / "falls" — is no substitution); None when none of these.
    Words that only move are the direction and exchange rules' ("A and B" / "B and A")."""
    (ca, sa), (cb, sb) = a[4:6], b[4:6]
    longest = max(sum(ca.values()), sum(cb.values()))
    if not longest:
        return None
    gone, came = ca - cb, cb - ca
    changed = max(sum(gone.values()), sum(came.values()))
    if changed > ALIGNED * longest:
        return None
    if NEGATIONS & (gone.keys() | came.keys()) or sa != sb:
        return "negation"
    if (gone.keys() ^ came.keys()) & QUANTIFIERS:
        return "quantifier"
    if any(_opposite(x, y) for x in gone for y in came):
        return "antonym"
    if not substitutions or not changed or changed > max(2, MINIMAL_PAIR * longest):
        return None
    x = {w: _forms(w, lemmas) for w in gone if _content(w)}
    y = {w: _forms(w, lemmas) for w in came if _content(w)}
    fx = set().union(*x.values()) if x else set()
    fy = set().union(*y.values()) if y else set()
    unmatched = [w for w, f in x.items() if not f & fy] + [w for w, f in y.items() if not f & fx]
    return "substitution" if unmatched else None


def exchanged(a: list[str], b: list[str]) -> bool:
    """Two blocks of words trade places around a fixed middle, everything else in place: ``a`` is
    P X M Y S and ``b`` is P Y M X S, with X ≠ Y, a middle M that is not only ``and``/``or``, and
    a content word in X or Y ("high-seas vessels … used as coastal" / "coastal vessels … used as
    high-seas", "Mary left before John entered" / "John entered before Mary left"). The direction
    rule needs a direction word between the blocks; this one needs the same words, all of them."""
    if a == b or len(a) != len(b) or len(a) > 200 or Counter(a) != Counter(b):
        return False
    lo = 0
    while a[lo] == b[lo]:
        lo += 1
    hi = len(a)
    while a[hi - 1] == b[hi - 1]:
        hi -= 1
    ma, mb = a[lo:hi], b[lo:hi]
    n = len(ma)
    for nx in range(1, n - 1):
        if ma[:nx] != mb[n - nx:]:
            continue
        for ny in range(1, n - nx):
            x, y, mid = ma[:nx], ma[n - ny:], ma[nx:n - ny]
            if (mb[:ny] == y and mb[ny:n - nx] == mid and set(mid) - _COORDINATION
                    and any(_content(w) for w in x + y)):
                return True
    return False


def polarity_clash(a: tuple, b: tuple, alignment: bool = True, substitutions: bool = True,
                   exchanges: bool = True, lemmas: bool = True) -> str | None:
    """Why two texts that embed alike may still say different things: ``negation`` (one negates
    what the other states: a different count of negation tokens), ``number`` (each has a number
    the other lacks, counted with repeats: "5+6" / "6+6", which the facts guard's sets allow),
    ``direction`` (the same words on opposite sides of a direction word), with ``exchanges``
    ``exchange`` (the same words, two blocks of them trading places: :func:`exchanged`) and, with
    ``alignment``, what the token alignment finds (:func:`aligned_change`); None when none of these."""
    if a[0] != b[0]:
        return "negation"
    if (a[3] - b[3]) and (b[3] - a[3]):
        return "number"
    if _swapped(a, b):
        return "direction"
    if exchanges and exchanged(a[6], b[6]):
        return "exchange"
    if alignment:
        return aligned_change(a, b, substitutions, lemmas)
    return None


def facts_guard(texts: list[str], names: bool = True, polarity_check: bool = False, numbers: bool = True,
                substitutions: bool = True):
    """``compatible(i, j)``: False when rows i and j substitute a number or a name for another (and,
    with ``polarity_check``, when one negates the other or swaps the two sides of a direction word)."""
    f = [facts(t, names) for t in texts] if numbers else None
    seen: dict[int, tuple] = {}  # polarity features, computed only for rows in a candidate pair

    def pol(i: int) -> tuple:
        if i not in seen:
            seen[i] = polarity(texts[i])
        return seen[i]

    def compatible(i: int, j: int) -> bool:
        if f is not None:
            (ni, ei), (nj, ej) = f[i], f[j]
            if substituted(ni, nj) or substituted(ei, ej):
                return False
        return not polarity_check or polarity_clash(pol(i), pol(j), substitutions=substitutions) is None
    return compatible


class SemDedupScorer(Scorer):
    """See the module docstring."""

    name = "semdedup"
    Config = SemDedupConfig
    whole_dataset = True
    reads = ("id", "messages")
    adds = ("dup_sem_cluster", "dup_sem_sim", "dup_sem_nearest", "dup_sem_blocked")
    requires = (Requirement("sklearn", "dedup"), Requirement("model2vec", "dedup"))
    version = 5  # 3: the polarity check (negation, direction) joins the facts guard; 4: the token alignment,
    # k-means fitted on a sample (spherical, numpy) and every row assigned; 5: exchanges, negation idioms,
    # WordNet forms in the minimal-pair rule

    def fingerprint(self, upstream: str) -> str:
        # batch size changes how fast, never what
        saved, self.config = self.config, self.config.model_copy(update={"embed_batch_size": 64})
        try:
            return super().fingerprint(upstream)
        finally:
            self.config = saved

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timings: dict[str, float] = {}
        self.identity: dict = {}

    def columns(self, available) -> list[str]:
        """Projection: what the stage reads (the texts feed the facts guard and verify), the embedding
        column when one exists, and the quality column when it orders by quality."""
        c = self.config
        have = set(available)
        extra = [c.embedding_column] + ([c.quality_column] if c.order == "quality" else [])
        return super().columns(available) + [col for col in extra if col in have]

    def describe(self) -> dict:
        out = {"model": self.identity} if self.identity else {}
        if self.config.polarity and self.config.minimal_pairs:  # what the minimal-pair rule knows of word forms
            out["word_forms"] = "wordnet exceptions + rules" if irregular_forms() else "rules (no spaCy model)"
        return out

    def embeddings(self, batch: pl.DataFrame, texts: list[str]) -> np.ndarray:
        c = self.config
        if c.embedding_column in batch.columns:
            col = batch[c.embedding_column]
            if col.null_count():
                raise DataError(f"column {c.embedding_column!r} has {col.null_count()} null vectors",
                                hint="re-run the embedding stage, or set embedding_column to a column without nulls")
            emb = np.asarray(col.to_list(), dtype=np.float32)
            self.identity = {"embedding_column": c.embedding_column}
            return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        from sluice.curate.quality.embed import embed_texts, load_model, model_identity

        model = load_model(c.model, max_tokens=c.max_tokens, source=c.source)
        self.identity = model_identity(model)
        return embed_texts(model, texts, c.embed_batch_size)

    def verifier(self, texts: list[str]):
        """rows → the verify transformer's vectors; None when the first pass is already that model."""
        c = self.config
        if not c.verify or self.identity.get("kind") == "transformer":
            return None
        from sluice.curate.quality.embed import embed_texts, load_model, model_identity

        model = load_model(c.verify, max_tokens=c.max_tokens)
        self.identity = {**self.identity, "verify": model_identity(model), "verify_floor": c.verify_floor}
        return lambda rows: embed_texts(model, [texts[i] for i in rows], c.embed_batch_size)

    EMPTY = {"dup_sem_cluster": pl.Int32, "dup_sem_sim": pl.Float32, "dup_sem_nearest": pl.String,
             "dup_sem_blocked": pl.Float32}

    def texts(self, batch: pl.DataFrame) -> list[str]:
        c = self.config
        return batch.select(key_text(c.key).str.slice(0, c.max_chars)).to_series().to_list()

    def rank(self, batch: pl.DataFrame) -> np.ndarray | None:
        """Who is kept first: the quality score for ``order: quality``; None (farthest from centroid) else."""
        c = self.config
        if c.order != "quality":
            return None
        if c.quality_column not in batch.columns:
            raise DataError(f"order: quality needs the column {c.quality_column!r}, which the data lacks",
                            hint="run the quality scorer first, set quality_column, or use order: paper")
        return batch[c.quality_column].cast(pl.Float64).fill_null(-math.inf).to_numpy()

    def guard(self, texts: list[str]):
        c = self.config
        if c.guard == "none" and not c.polarity:
            return None
        return facts_guard(texts, names=c.guard == "numbers_and_names", numbers=c.guard != "none",
                           polarity_check=c.polarity, substitutions=c.minimal_pairs)

    def k(self, rows: int) -> int:
        c = self.config
        return max(1, min(rows, c.n_clusters or math.ceil(rows / c.cluster_size)))

    @staticmethod
    def answer(ids: pl.Series, s: dict) -> pl.DataFrame:
        has = pl.Series(s["nearest"] >= 0)
        nearest = pl.select(pl.when(has).then(ids.gather(np.maximum(s["nearest"], 0)))).to_series()
        return pl.DataFrame({"dup_sem_cluster": s["cluster"], "dup_sem_sim": pl.Series(s["sim"]).fill_nan(None),
                             "dup_sem_nearest": nearest,
                             "dup_sem_blocked": pl.Series(s["blocked"]).fill_nan(None)})

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        if not batch.height:
            return pl.DataFrame(schema=self.EMPTY)
        t0 = time.perf_counter()
        texts = self.texts(batch)
        emb = self.embeddings(batch, texts)
        t1 = time.perf_counter()
        rank = self.rank(batch)
        k = self.k(batch.height)
        s = semdedup_scores(emb, k, c.seed, rank, self.guard(texts), self.verifier(texts), c.verify_floor)
        t2 = time.perf_counter()
        self.timings = {"embed": t1 - t0, "cluster+dedup+verify": t2 - t1}
        self.count("verified_rows", len(s["verified"]))
        log.info("semdedup: %d rows, k=%d, embed %.1fs, cluster+dedup %.1fs (%d rows verified)", batch.height, k,
                 t1 - t0, t2 - t1, len(s["verified"]))
        return self.answer(batch["id"], s)

    # -- bounded form: embed per batch, k-means on a sample, assign per spilled batch, dedup per
    # -- partition of whole clusters (the shuffle by cluster id); decisions equal score()'s
    bounded = True

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Per row: position, id, the guard's text, the unit vector (and the quality rank)."""
        texts = self.texts(batch)
        emb = self.embeddings(batch, texts)
        out = batch.select(ROW, "id").with_columns(
            pl.lit(json.dumps(self.identity, sort_keys=True)).alias("identity"),
            pl.Series("text", texts, dtype=pl.String),
            pl.Series("vec", emb, dtype=pl.Array(pl.Float32, emb.shape[1])))
        rank = self.rank(batch)
        return out if rank is None else out.with_columns(pl.Series("rank", rank, dtype=pl.Float64))

    def combine(self, parts) -> pl.DataFrame:
        import tempfile

        import pyarrow.parquet as pq

        from sluice.executors.batch import filesystem
        from sluice.executors.spill import Parts

        c = self.config
        n = parts.num_rows() if parts.files else 0
        if not n:
            return pl.DataFrame(schema={ROW: pl.Int64, **self.EMPTY})
        fs, path = filesystem(parts.files[0])  # what embedded the rows (the workers know; the manifest needs it)
        self.identity = json.loads(pq.read_table(path, columns=["identity"], filesystem=fs)["identity"][0].as_py())
        k = self.k(n)
        # 1. k-means on a sample: the rows kmeans() would sample, in row order
        sample = kmeans_sample(n, k, c.seed)
        fit = parts.read([ROW, "vec"], pl.col(ROW).is_in(pl.Series(sample).implode())).sort(ROW)
        cent = fit_centroids(fit["vec"].to_numpy(), k, c.seed)
        del fit
        with tempfile.TemporaryDirectory(prefix="sluice-semdedup-") as tmp:
            # 2. assignment, one spilled batch at a time (what map_batches does on a cluster)
            files = []
            for i, f in enumerate(parts.files):
                fs, path = filesystem(f)
                table = pl.from_arrow(pq.read_table(path, filesystem=fs))
                table = table.with_columns(pl.Series("cluster", assign(table["vec"].to_numpy(), cent)))
                files.append(str(Path(tmp) / f"assigned-{i:05d}.parquet"))
                pq.write_table(table.to_arrow(), files[-1])
            # 3. per-cluster dedup, shuffled by cluster id: a partition holds every row of its clusters
            answers, verified = [], 0
            cols = [ROW, "id", "text", "vec", "cluster"] + (["rank"] if c.order == "quality" else [])
            for part in Parts(files, parts.rows_per_partition).partitions("cluster", cols):
                if not part.height:
                    continue
                part = part.sort(ROW)
                texts = part["text"].to_list()
                rank = part["rank"].to_numpy() if c.order == "quality" else None
                s = cluster_scores(part["vec"].to_numpy(), part["cluster"].to_numpy(), cent, rank,
                                   self.guard(texts), self.verifier(texts), c.verify_floor)
                verified += len(s["verified"])
                answers.append(self.answer(part["id"], s).with_columns(part[ROW]))
        self.count("verified_rows", verified)
        log.info("semdedup (bounded): %d rows, k=%d, %d partitions, %d rows verified", n, k, len(answers), verified)
        return pl.concat(answers).select(ROW, *self.EMPTY)


class SemanticDedupConfig(StageConfig):
    eps: float = Field(DEFAULT_EPS, gt=0, lt=1, description="rows with cosine ≥ 1 − eps to an earlier-ranked row are "
                                                            "dropped (default chosen on labelled paraphrase pairs)")


def semantic_curve(sims: pl.Series, eps: list[float], blocked: pl.Series | None = None) -> list[dict]:
    """Removed rows and fraction for each eps (the paper's way of choosing eps); with ``blocked``,
    also the rows the facts guard kept at that eps."""
    n = len(sims)
    filled = sims.fill_null(-1.0)
    rows = []
    for e in eps:
        removed = int((filled >= 1 - e).sum())
        row = {"eps": e, "removed": removed, "fraction": removed / n if n else 0.0}
        if blocked is not None:
            row["guard_kept"] = int(((blocked.fill_null(-1.0) >= 1 - e) & (filled < 1 - e)).sum())
        rows.append(row)
    return rows


def stage_input_sims(version) -> tuple[pl.DataFrame, int] | None:
    """``dup_sem_sim``/``dup_sem_blocked`` of every row that reached ``semantic_dedup`` in a published
    version — the kept rows plus the rows it and later stages rejected — and that stage's rows in.
    None when the version holds no SemDedup scores."""
    from sluice.fs import read_schema  # the store may be an object store (s3://)

    files = version.files()
    if not files or "dup_sem_sim" not in (names := read_schema(files[0]).names):
        return None
    stages = [s["name"] for s in version.manifest.get("stages", [])]
    at = max((i for i, n in enumerate(stages) if n == "semantic_dedup"), default=None)
    later = set(stages[at:]) if at is not None else set()
    cols = ["dup_sem_sim"] + (["dup_sem_blocked"] if "dup_sem_blocked" in names else [])
    kept = pl.from_arrow(version.read(columns=cols))
    frames = [kept]
    rejected = version.read("rejected", columns=None)
    if rejected.num_rows and "dup_sem_sim" in rejected.column_names:
        rej = pl.from_arrow(rejected.select(["stage"] + cols))
        frames.append(rej.filter(pl.col("stage").is_in(list(later))).drop("stage"))
    sims = pl.concat(frames, how="vertical_relaxed")
    rows_in = next((s["rows_in"] for s in version.manifest.get("stages", [])[at:at + 1]), sims.height) \
        if at is not None else sims.height
    return sims, rows_in


def run_curve(version) -> dict | None:
    """For the run report: removed fraction per eps over the stage's input, the eps the run used,
    and the dev-set precision/recall of the default setup at the same eps (``DEV_CURVE``)."""
    found = stage_input_sims(version)
    if found is None:
        return None
    sims, rows_in = found
    used = next((s.get("eps", DEFAULT_EPS) for s in version.manifest.get("recipe", {}).get("stages", [])
                 if s.get("stage") == "semantic_dedup"), DEFAULT_EPS)
    grid = sorted({*(r["eps"] for r in DEV_CURVE), used} or {used})
    blocked = sims["dup_sem_blocked"] if "dup_sem_blocked" in sims.columns else None
    return {"eps_used": used, "rows_in": rows_in, "curve": semantic_curve(sims["dup_sem_sim"], grid, blocked),
            "dev": DEV_CURVE}


class SemanticDedup(Filter):
    name = "semantic_dedup"
    Config = SemanticDedupConfig
    whole_dataset = True
    reads = ("id", "dup_sem_sim", "dup_sem_nearest")
    reasons = {"semantic_duplicate": "SemDedup: cosine ≥ 1 − eps to an earlier-ranked row of its cluster"}

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        removed = (batch["dup_sem_sim"].fill_null(-1.0) >= 1 - self.config.eps).to_numpy()
        index = pl.DataFrame({"id": batch["id"], "row": np.arange(n)})
        near = batch.select(pl.col("dup_sem_nearest").alias("id")).join(index, on="id", how="left",
                                                                          maintain_order="left")["row"]
        ptr = np.arange(n)
        link = near.fill_null(-1).to_numpy()
        removed &= link >= 0  # the row it resembles was dropped by an earlier stage: nothing to point at
        if "dup_sem_blocked" in batch.columns:
            guarded = (batch["dup_sem_blocked"].fill_null(-1.0) >= 1 - self.config.eps).to_numpy() & ~removed
            self.count("facts_guard_kept", int(guarded.sum()))
        ptr[removed] = link[removed]
        while True:  # pointer jumping until every removed row points at a kept row
            nxt = ptr[ptr]
            if np.array_equal(nxt, ptr):
                break
            ptr = nxt
        frame = pl.DataFrame({"drop": removed, "kept": batch["id"].gather(ptr), "sim": batch["dup_sem_sim"],
                              "near": batch["dup_sem_nearest"]})
        drop = pl.col("drop")
        return frame.select(
            pl.when(drop).then(pl.lit("semantic_duplicate")).alias("reason"),
            pl.when(drop).then(pl.col("kept")).alias("duplicate_of"),
            pl.when(drop).then(pl.format("cos≈{} to {}", pl.col("sim").round(3), pl.col("near"))).alias("detail"))
