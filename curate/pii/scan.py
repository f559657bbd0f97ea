"""Leak scan with a second opinion, and reports of findings.

``scan()`` backs ``sluice pii scan REF``. It reads the same texts redaction covers
(``fields.texts``: message content, tool results and arguments, tool definitions, feedback,
metadata values *and keys*, ``source`` and ``source_id``) and looks for what is left with a detector
that is **not** the one that redacted (``SecondOpinion``): the redactor is Presidio with a spaCy
NER model and Faker's name lists; a leak check that re-runs it finds nothing it missed. The second
opinion shares no model with it:

* **first names from the US census** (1990 first-name lists, public domain, shipped by the MIT
  ``names`` package), any case, unless the word is also an English dictionary word (WordNet's
  lemma index, as spaCy ships it) — "rajesh" is not in the census, "hubert" and "Lauren" are;
* **person cues**, in English, Spanish, German and French: greetings and thanks ("hi", "thanks",
  "dear", "hola", "merci"), introductions ("my name is", "I'm", "me llamo", "ich heiße", "je
  m'appelle"), titles ("Mr", "Dr", "Sra", "Herr", "Mme"): the name-like word after one;
* **runs of capitalised unknown words** mid-sentence (two or more, none a dictionary word,
  no inner capitals: "Lee Joon Gi", not "FastAPI SQLAlchemy");
* **@handles** (not Python decorators) and **contact patterns** written independently of the
  redactor's: e-mail, phone-like digit runs, card numbers (Luhn) and IBANs (mod 97).

Text inside redaction placeholders (``<PERSON_1>``) is never a finding. Each finding names the row
id, the field key (``m2.content``, ``meta/#3~k`` — a metadata key, by position —, ``src.source``) and the code-point offsets; the
value itself is never reported — only its shape (``Xxxxxx``). ``--detector redactor`` runs the
redactor's own engine instead (counts only, as before); ``both`` runs the two.

``findings_report()`` aggregates the ``pii_findings`` column pii_detect adds (counts only).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from sluice.errors import MissingDependency
from sluice.store import Store

from . import fields

DETECTORS = ("second", "redactor", "both")
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*(?:_\d+|:[0-9a-f]{4,})>")
_WORD = re.compile(r"[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*")
_HANDLE = re.compile(r"(?<![\w@./])@([A-Za-z][A-Za-z0-9_]{1,29})\b(?![.(])")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{7,18}\d(?!\w)")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# cue words (lower case) after which a name-like word is a person; per language
_CUES_STRONG = ("my name is", "name's", "i'm", "i am", "call me", "this is", "named", "called", "signed",
                "me llamo", "mi nombre es", "soy", "ich heiße", "ich heisse", "mein name ist", "ich bin",
                "je m'appelle", "je m’appelle", "je suis", "mon nom est")
_CUES_GREETING = ("hi", "hello", "hey", "dear", "thanks", "thank you", "cheers", "regards", "best", "love",
                  "hola", "querido", "querida", "gracias", "hallo", "lieber", "liebe", "danke", "bonjour", "salut",
                  "cher", "chère", "merci")
_TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "sr", "sra", "srta", "dña", "dn", "don",
           "doña", "herr", "frau", "m", "mme", "mlle", "monsieur", "madame")
_CUE = re.compile(r"(?<![\w'’])(" + "|".join(sorted((re.escape(c) for c in _CUES_STRONG + _CUES_GREETING), key=len,
                                                    reverse=True)) + r")[,:]?\s+$", re.IGNORECASE)
_TITLE = re.compile(r"(?<![\w'’])(" + "|".join(re.escape(t) for t in _TITLES) + r")\.?\s+$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(^|[.!?…:;\n]\s*|[\"“(]\s*)$")


@dataclass(frozen=True)
class Finding:
    field: str
    start: int
    end: int
    entity: str
    detector: str  # which rule found it (never the value)


def shape(value: str) -> str:
    """The value masked: letters → X/x, digits → 9, the rest kept (length and form, never the value)."""
    return re.sub(r"\d", "9", re.sub(r"[^\W\d_]", lambda m: "X" if m.group().isupper() else "x", value))


def _first_names() -> frozenset[str]:
    from .lexicon import first_names

    found = first_names()
    if not found:
        raise MissingDependency("the second-opinion scan needs the census name lists of the `names` package",
                                hint="pip install 'sluice[pii]' (names>=0.3)")
    return found


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    """English dictionary words (``lexicon.dictionary``) and chat words, lower case. Only stop words
    without the model: then every listed name counts."""
    from spacy.lang.en.stop_words import STOP_WORDS

    from .lexicon import dictionary

    return dictionary() | set(STOP_WORDS) | {"gonna", "wanna", "gotta", "ok", "okay", "yes", "no", "yeah", "lol",
                                             "pls", "please"}


def _in_dictionary(word: str, dictionary: frozenset[str]) -> bool:
    w = word.lower().replace("’", "'")
    return w in dictionary or (w.endswith("s") and w[:-1] in dictionary) or \
        (w.endswith("es") and w[:-2] in dictionary) or (w.endswith("'s") and w[:-2] in dictionary)


def _inner_caps(word: str) -> bool:
    body = re.sub(r"^(Mc|Mac|De|Di|Da|Le|La|O['’])", "", word)
    return any(c.isupper() for c in body[1:])


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for d in reversed(digits):
        n = int(d) * (2 if alt else 1)
        total += n - 9 if n > 9 else n
        alt = not alt
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "")
    s = s[4:] + s[:4]
    return len(value) >= 15 and int("".join(str(int(c, 36)) for c in s)) % 97 == 1


class SecondOpinion:
    """Name cues, census first names, capitalised runs, handles and contact patterns (module doc)."""

    name = "second-opinion"

    def __init__(self):
        self.first = _first_names()
        self.dictionary = _dictionary()

    def describe(self) -> dict:
        return {"detector": self.name, "first_names": len(self.first), "dictionary_words": len(self.dictionary),
                "rules": ["census_first_name", "person_cue", "title", "capitalised_run", "handle", "email",
                          "phone", "card_luhn", "iban_mod97"],
                "shares_model_with_redactor": False}

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, entity, rule) of every finding in ``text``, placeholders excluded."""
        masked = _PLACEHOLDER.sub(lambda m: " " * len(m.group()), text)
        out: list[tuple[int, int, str, str]] = []
        for rx, entity, rule, check in ((_EMAIL, "EMAIL_ADDRESS", "email", None),
                                        (_IBAN, "IBAN_CODE", "iban_mod97", _iban_ok),
                                        (_CARD, "CREDIT_CARD", "card_luhn", lambda v: _luhn(re.sub(r"\D", "", v))),
                                        (_PHONE, "PHONE_NUMBER", "phone", None)):
            for m in rx.finditer(masked):
                if check is None or check(m.group()):
                    if rule == "phone" and (not 9 <= len(re.sub(r"\D", "", m.group())) <= 15 or
                                            _date_like(m.group())):
                        continue
                    out.append((m.start(), m.end(), entity, rule))
        for m in _HANDLE.finditer(masked):
            line_start = masked.rfind("\n", 0, m.start()) + 1
            line_end = masked.find("\n", m.end())
            rest = masked[m.end():line_end if line_end >= 0 else len(masked)]
            if masked[line_start:m.start()].strip() or not _DECORATOR_REST.match(rest):  # not a decorator line
                out.append((m.start(1), m.end(1), "PERSON", "handle"))
        words = list(_WORD.finditer(masked))
        run: list[re.Match] = []
        for i, m in enumerate(words):
            word = m.group()
            before = masked[:m.start()]
            initial = bool(_SENTENCE_END.search(before[-3:] if len(before) >= 3 else before)) or i == 0
            known = _in_dictionary(word, self.dictionary)
            cap = word[0].isupper() and not word.isupper() and not _inner_caps(word)
            rule = None
            title_word = word.lower() in _TITLES
            name_like = not known or word.lower() in self.first  # "hey marguerite": a daisy, and a name
            if len(word) >= 2 and name_like and not title_word and (_CUE.search(before[-20:]) or
                                                                    _TITLE.search(before[-12:])):
                rule = "person_cue"
            elif cap and not title_word and _TITLE.search(before[-12:]):
                rule = "title"
            elif cap and not known and not initial and len(word) >= 3 and _WEAK_CUE.search(before[-8:]):
                rule = "person_cue"
            elif (i == 0 or before.rstrip(" ").endswith("\n")) and len(word) >= 3 and \
                    (word.lower() in self.first or (cap and not known)) and _VOCATIVE.match(masked[m.end():]):
                rule = "vocative"
            elif len(word) >= 3 and word.lower() in self.first and not known and not word.isupper():
                rule = "census_first_name"
            elif cap and known and not initial and word.lower() in self.first and \
                    not _in_dictionary(word, frozenset(_CASED_COMMON)):
                rule = "census_first_name"
            if rule:
                out.append((m.start(), m.end(), "PERSON", rule))
            if cap and not known and not initial and len(word) >= 2:
                if run and masked[run[-1].end():m.start()].strip() == "":
                    run.append(m)
                else:
                    run = [m]
                if len(run) == 2:
                    out.append((run[0].start(), run[-1].end(), "PERSON", "capitalised_run"))
                elif len(run) > 2:
                    out[-1] = (run[0].start(), run[-1].end(), "PERSON", "capitalised_run")
            else:
                run = []
        return _merge(out)


_DECORATOR_REST = re.compile(r"^(?:\.[\w.]+)?(?:\(.*\))?\s*$")  # @app.route("/x") alone on its line
_WEAK_CUE = re.compile(r"(?<![\w'’])(and|with|to|from|ask|tell|told|met|meet|cc|ping|by|y|con|und|mit|et|avec)\s+$",
                       re.IGNORECASE)
_VOCATIVE = re.compile(r"^(?:\s*[,!]|\s+(?:you|your|u|ur|i|why|what|how|are|is|thanks|thank|please|pls)\b)",
                       re.IGNORECASE)
# capitalised dictionary words that are first names in the census but, mid-sentence, mostly are not
_CASED_COMMON = ("will", "may", "june", "april", "august", "art", "bill", "sunday", "monday", "christian", "page")


def _date_like(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}", value.strip()))


def _merge(found: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    out: list[tuple[int, int, str, str]] = []
    for f in sorted(found, key=lambda f: (f[0], -f[1])):
        if out and f[0] < out[-1][1]:
            last = out[-1]
            out[-1] = (last[0], max(last[1], f[1]), last[2], last[3])
        else:
            out.append(f)
    return out


def scan(store: Store, ref: str, config=None, *, min_score: float = 0.5, limit: int | None = None,
         batch_size: int = 5_000, detector: str = "second", max_listed: int = 1_000) -> dict:
    """Residual findings of ``ref`` (module doc): counts per entity, rule and field group, and up to
    ``max_listed`` findings with row id, field key, offsets and the value's shape."""
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}")
    version = store.resolve(ref)
    second = SecondOpinion() if detector in ("second", "both") else None
    redactor = None
    if detector in ("redactor", "both"):
        from .detector import Detector
        from .engine import EngineConfig

        redactor = Detector(config or EngineConfig())
    by_entity, by_rule, by_group, by_role = Counter(), Counter(), Counter(), Counter()
    listed: list[dict] = []
    rows = texts = hit_rows = 0
    for batch in version.iter_batches(batch_size):
        frame = pl.from_arrow(batch)
        for row in frame.iter_rows(named=True):
            if limit is not None and rows >= limit:
                break
            rows += 1
            items = fields.texts(row)
            texts += len(items)
            hits: list[tuple[str, str, str, int, int, str, str]] = []
            if second is not None:
                for key, role, text in items:
                    hits += [(key, role, text, s, e, ent, rule) for s, e, ent, rule in second.find(text)]
            if redactor is not None:
                for (key, role, text), results in zip(items, redactor.findings([t for _, _, t in items])):
                    hits += [(key, role, text, r.start, r.end, r.entity_type, "redactor") for r in results
                             if r.score >= min_score and not _PLACEHOLDER.fullmatch(text[r.start:r.end])]
            for key, role, text, s, e, ent, rule in hits:
                by_entity[ent] += 1
                by_rule[rule] += 1
                by_group[fields.group_of(key)] += 1
                by_role[role] += 1
                if len(listed) < max_listed:
                    listed.append({"row": row.get("id"), "field": key, "start": s, "end": e, "entity": ent,
                                   "rule": rule, "shape": shape(text[s:e])})
            hit_rows += bool(hits)
        if limit is not None and rows >= limit:
            break
    engines = {}
    if second is not None:
        engines["second"] = second.describe()
    if redactor is not None:
        engines["redactor"] = redactor.info.as_dict()
    return {"ref": version.ref, "detector": detector, "rows": rows, "texts": texts,
            "findings": sum(by_entity.values()), "rows_with_findings": hit_rows,
            "by_entity": dict(by_entity.most_common()), "by_rule": dict(by_rule.most_common()),
            "by_field": dict(by_group.most_common()), "by_role": dict(by_role), "listed": listed,
            "listed_all": len(listed) == sum(by_entity.values()), "engines": engines}


def findings_report(frame: pl.DataFrame) -> dict:
    """Counts per entity type and per role from a ``pii_findings`` column (no values)."""
    f = frame.select(pl.col("pii_findings").explode()).unnest("pii_findings").drop_nulls("entity")
    by_entity = dict(f.group_by("entity").len().sort("len", descending=True).iter_rows())
    by_role = dict(f.group_by("role").len().iter_rows())
    by_both = {f"{e}/{r}": n for e, r, n in f.group_by("entity", "role").len().iter_rows()}
    return {"findings": f.height, "by_entity": by_entity, "by_role": by_role, "by_entity_role": by_both}
