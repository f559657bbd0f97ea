"""Rephrased eval items: nearest items by embedding, confirmed by a verifier (semantic decontamination).

The word test of decontaminate.py finds an item verbatim, lightly edited or embedded; a rewording
("LLM-decontaminator": Yang et al. 2023, *Rethinking Benchmark and Contamination for Language
Models with Rephrased Samples*) shares too few word bigrams to be seen. So, with ``semantic`` set
on the ``contamination`` stage, each row's ``top_k`` nearest items by cosine (``nearest``: one
matrix product over the eval set's vectors, computed once in ``setup`` — eval sets are small)
that reach ``threshold`` are handed to a verifier, nearest first:

- ``offline`` (default): an item that states a math problem (at least ``MIN_NUMBERS`` numbers) is
  confirmed when every one of its numbers, with multiplicity, is in the row (digits or number
  words: a rewording keeps the quantities, or the answer would change) and the row lists no more
  than twice as many numbers plus two — ``numbers``; a code item (``def name(``) when the row names
  the same function (``name(``, or the bare name when no English word can be it) — ``signature``; any other item only when
  its cosine reaches ``text_threshold`` — ``embedding``.
- ``llm``: the LLM-decontaminator judge through the guarded client (``sluice.synth.llm``):
  "are these the same question, rephrased or translated?"; a reply that is neither True nor
  False falls back to the offline verdict and is counted (``judge_unparsed``).

The confirmed item becomes ``contam_semantic`` (the verifier), ``contam_semantic_item`` (set:id)
and ``contam_semantic_sim`` (its cosine); ``decontaminate`` rejects such rows as
``contaminated_semantic`` (when the word test did not already reject them as ``contaminated``).
The defaults come from the curve in BENCHMARKS.md, "Semantic decontamination (issue #32 item 5)",
measured with benchmarks/bench_decontaminate_semantic.py.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

MIN_NUMBERS = 2  # fewer numbers than this cannot tell one word problem from another

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
WORD_NUMBERS = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS, "hundred": 100, "thousand": 1000,
                "dozen": 12}
_TOKEN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|[A-Za-z]+")
_DEF = re.compile(r"\bdef\s+([A-Za-z_]\w*)\s*\(")
_IDENT = re.compile(r"[A-Za-z_]\w*")


def numbers(text: str) -> Counter:
    """The numbers a text states: digits (``1,200`` = ``1200``, ``2.50`` = ``2.5``) and number words,
    ``twenty five`` as 25; a number word right before ``hundred``/``thousand`` multiplies it."""
    out: Counter = Counter()
    pending: float | None = None
    for tok in _TOKEN.findall(text):
        low = tok.lower()
        if tok[0].isdigit():
            value: float | None = float(tok.replace(",", ""))
        else:
            value = WORD_NUMBERS.get(low)
        if value is None:
            if pending is not None:
                out[_fmt(pending)] += 1
            pending = None
            continue
        if pending is not None and low in ("hundred", "thousand"):
            pending *= value
        elif pending is not None and pending >= 20 and pending % 10 == 0 and value < 10 and not tok[0].isdigit():
            pending += value
        else:
            if pending is not None:
                out[_fmt(pending)] += 1
            pending = value
    if pending is not None:
        out[_fmt(pending)] += 1
    return out


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def function_names(text: str) -> set[str]:
    return set(_DEF.findall(text))


def _names_function(row: str, name: str) -> bool:
    """The row names the function: ``name(`` — or the bare name when it is no English word (``_``, digits
    or a capital inside: ``below_zero``, ``fib4``, ``isPrime``)."""
    if re.search(rf"\b{re.escape(name)}\s*\(", row):
        return True
    return bool(re.search(r"_|\d|[a-z][A-Z]", name)) and name in set(_IDENT.findall(row))


def verify_offline(row: str, item: str, cosine: float, text_threshold: float) -> str | None:
    """The offline verdict on one (row, item) candidate pair: the rule that confirms it, or None."""
    names = function_names(item)
    if names:
        return "signature" if any(_names_function(row, n) for n in names) else None
    need = numbers(item)
    if sum(need.values()) >= MIN_NUMBERS:
        have = numbers(row)
        # every item number in the row, and the row no list of other numbers (a recipe, a table)
        return "numbers" if not need - have and sum(have.values()) <= 2 * sum(need.values()) + 2 else None
    return "embedding" if cosine >= text_threshold else None


def nearest(rows: np.ndarray, items: np.ndarray, k: int, threshold: float) -> list[list[tuple[int, float]]]:
    """For each row vector, its up to ``k`` nearest item vectors (cosine ≥ threshold), nearest first."""
    if not len(items) or not len(rows):
        return [[] for _ in range(len(rows))]
    sim = rows @ items.T
    k = min(k, sim.shape[1])
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    out = []
    for r in range(len(rows)):
        cand = sorted(((int(i), float(sim[r, i])) for i in top[r] if sim[r, i] >= threshold), key=lambda t: -t[1])
        out.append(cand)
    return out


# The LLM-decontaminator prompt (Yang et al. 2023, llm-decontaminator/detect_instruct.py), for
# rephrased and translated items.
JUDGE_PROMPT = (
    "I will now give you two texts. Please help me determine if the two texts are the same question, "
    "the second possibly rephrased or translated into another language. Disregard the wording, the "
    "language, names and the order of sentences; focus on whether they ask for the same thing with the "
    "same content. Answer with only one word: True if they are the same question, False if not.\n\n"
    "Part 1:\n{item}\n\nPart 2:\n{row}\n\nAnswer:")


def parse_judge(reply: str) -> bool | None:
    """True / False from the judge's reply; None when it says neither (or both)."""
    words = set(re.findall(r"\b(true|false)\b", reply.lower()))
    return None if len(words) != 1 else words == {"true"}
