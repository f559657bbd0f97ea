"""Rephrased eval items: nearest items by embedding, confirmed by a verifier (semantic decontamination).

The word test of decontaminate.py finds an item verbatim, lightly edited or embedded; a rewording
("LLM-decontaminator": Yang et al. 2023, *Rethinking Benchmark and Contamination for Language
Models with Rephrased Samples*) shares too few word bigrams to be seen. So, with ``semantic`` set
on the ``contamination`` stage, each row's ``top_k`` nearest items by cosine (``nearest``: one
matrix product over the eval set's vectors, computed once in ``setup`` — eval sets are small)
that reach ``threshold`` are handed to a verifier, nearest first, and so are the items found by
their numbers or function name alone (``Fingerprints``: a translation keeps both, while the English
embedder cannot match its words):

- ``offline`` (default): an item that states a math problem (at least ``MIN_NUMBERS`` numbers) is
  confirmed when every one of its numbers, with multiplicity, is in the row (digits or number
  words: a rewording keeps the quantities, or the answer would change) and the row lists no more
  than twice as many numbers plus two — ``numbers``; a code item (``def name(``: its last one, earlier
  ones are helpers) when the row names the same function (``name(``, or the bare name when no English word can be it) — ``signature``; any other item only when
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
from collections import Counter, defaultdict

import numpy as np

MIN_NUMBERS = 2  # fewer numbers than this cannot tell one word problem from another
MIN_FINGERPRINT_NUMBERS = 3  # an item found by its numbers alone (no embedding neighbour) states this many
MAX_EXTRA = 1  # ... and the row at most this many numbers more

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
# small number words of French, Spanish and German too (translated word problems); words that are
# also common English words ("once", "elf", "sept") are left out
_FOREIGN = {"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "huit": 8, "neuf": 9, "onze": 11, "douze": 12,
            "douzaine": 12, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
            "nueve": 9, "diez": 10, "doce": 12, "docena": 12, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5,
            "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "zwölf": 12, "dutzend": 12}
WORD_NUMBERS = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS, "hundred": 100, "thousand": 1000,
                "dozen": 12, **_FOREIGN}
# digits with thousands separators (1,200 / 1.200 / 1 200) or a decimal part (2.5 / 2,5), or a word
_TOKEN = re.compile(r"[0-9]{1,3}(?:([,. \u00a0\u202f])[0-9]{3}(?![0-9]))(?:\1[0-9]{3}(?![0-9]))*(?:[.,][0-9]+)?"
                    r"|[0-9]+(?:[.,][0-9]+)?|[^\W\d_]+")
_DIGITS = "0123456789"
_DEF = re.compile(r"\bdef\s+([A-Za-z_]\w*)\s*\(")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_CODE = re.compile(r"^\s*(?:return|for|if|while|import|def)\b.*|[=!<>]=|\bdef\b", re.M)


def numbers(text: str) -> Counter:
    """The numbers a text states: digits (``1,200`` = ``1200``, ``2.50`` = ``2.5``) and number words,
    ``twenty five`` as 25; a number word right before ``hundred``/``thousand`` multiplies it."""
    out: Counter = Counter()
    pending: float | None = None
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        low = tok.lower()
        if tok[0] in _DIGITS:
            value: float | None = _digits(tok, m.group(1))
        else:
            value = WORD_NUMBERS.get(low)
        if value is None:
            if pending is not None:
                out[_fmt(pending)] += 1
            pending = None
            continue
        if pending is not None and low in ("hundred", "thousand"):
            pending *= value
        elif pending is not None and pending in _TENS.values() and value < 10 and tok[0] not in _DIGITS:
            pending += value
        else:
            if pending is not None:
                out[_fmt(pending)] += 1
            pending = value
    if pending is not None:
        out[_fmt(pending)] += 1
    return out


def _digits(tok: str, sep: str | None) -> float:
    """``1,200`` / ``1.200`` / ``1 200`` (thousands) → 1200; ``2.5`` / ``2,5`` (decimals) → 2.5."""
    if sep:
        head, _, tail = tok.partition(sep)
        rest = tail.split(sep)
        last = rest[-1]
        if len(last) > 3:  # 1,200.50 / 1.200,50: a decimal part after the last group
            rest[-1], dec = last[:3], last[4:]
        else:
            dec = ""
        return float(head + "".join(rest) + ("." + dec if dec else ""))
    return float(tok.replace(",", "."))


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def function_names(text: str) -> set[str]:
    return set(_DEF.findall(text))


def entry_point(text: str) -> str | None:
    """The function a code prompt asks for: its last ``def`` (earlier ones are helpers, as in HumanEval),
    when the text has a docstring (a solution's helper functions ask for nothing)."""
    names = _DEF.findall(text)
    return names[-1] if names and ('"""' in text or "'''" in text) else None


def parameters(text: str, name: str) -> set[str]:
    """Parameter names of ``name(...)`` wherever the text defines or calls it."""
    out: set[str] = set()
    for args in re.findall(rf"\b{re.escape(name)}\s*\(([^)]*)\)", text):
        out.update(a.split(":")[0].split("=")[0].strip() for a in args.split(",") if a.strip())
    return out


_CODE_NAME = re.compile(r"_|\d|[a-z][A-Z]")  # a name no English word can be: below_zero, fib4, isPrime


def _specific(need: Counter) -> bool:
    """Numbers that do not turn up by chance: at least two that are fractions or above 12 and not 20, 30 … 100."""
    return sum(1 for n in need if float(n) != int(float(n)) or float(n) > 12 and float(n) not in _COMMON) >= 2


_COMMON = {20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0}


class Fingerprints:
    """Eval items by their numbers and function names: candidates that need no embedding neighbour,
    so a translated item (whose words the English embedder cannot match) is still verified. A math
    item is a candidate when it states at least MIN_FINGERPRINT_NUMBERS numbers, two of them
    specific (a fraction, or above 12 and not 20, 30 … 100), and the row holds them all and at most
    MAX_EXTRA more; a code item when the row holds its function name, that name is no English word,
    and the row holds one of its parameter names too."""

    def __init__(self, texts: list[str]):
        self.need: list[Counter | None] = []
        self.by_number: dict[str, list[int]] = defaultdict(list)
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.params: dict[int, set[str]] = {}
        for i, text in enumerate(texts):
            name = entry_point(text)
            need = None if name or _CODE.search(text) else numbers(text)
            self.need.append(need if need and sum(need.values()) >= MIN_FINGERPRINT_NUMBERS else None)
            if name and _CODE_NAME.search(name):
                self.by_name[name].append(i)
                self.params[i] = parameters(text, name)
            for num in self.need[-1] or ():
                self.by_number[num].append(i)

    def candidates(self, row: str) -> set[int]:
        have = numbers(row)
        hits = Counter(i for num in have for i in self.by_number.get(num, ()))
        # the same numbers, at most MAX_EXTRA others: found by numbers alone needs more than the verifier
        out = {i for i, n in hits.items() if n == len(self.need[i]) and not self.need[i] - have
               and sum((have - self.need[i]).values()) <= MAX_EXTRA and _specific(self.need[i])}
        for name in set(_IDENT.findall(row)) & self.by_name.keys():
            # the name and one of its parameter names: a shared generic name (find_max) is not enough
            out.update(i for i in self.by_name[name] if self.params[i] & set(_IDENT.findall(row)))
        return out


def _names_function(row: str, name: str) -> bool:
    """The row names the function: ``name(`` — or the bare name when it is no English word (``_``, digits
    or a capital inside: ``below_zero``, ``fib4``, ``isPrime``)."""
    if re.search(rf"\b{re.escape(name)}\s*\(", row):
        return True
    return bool(_CODE_NAME.search(name)) and name in set(_IDENT.findall(row))


def verify_offline(row: str, item: str, cosine: float, text_threshold: float) -> str | None:
    """The offline verdict on one (row, item) candidate pair: the rule that confirms it, or None."""
    name = entry_point(item)
    if name:
        return "signature" if _names_function(row, name) else None
    if _CODE.search(item):  # a code body (a canonical solution): its numbers are no word problem's
        return None
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
