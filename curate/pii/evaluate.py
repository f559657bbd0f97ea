"""Calibrate on labelled text: run a recipe's privacy stages over labelled examples and measure
them — behind ``sluice pii eval LABELS`` and ``benchmarks/eval_pii.py``.

LABELS is JSONL, one example a line: ``{"text": "...", "spans": [{"entity_type": "PERSON",
"start": 11, "end": 21}, ...]}`` (offsets in code points; ``type``/``label`` and ``[start, end,
type]`` lists are read too). The pii_dev format (``{"id", "text", "spans": [{"start", "end",
"label"}], "lang", "source"}``) is this format: ``lang`` groups the report by language, ``id``
names a row in the misses and picks its half (``split``: a hash of the id, so the ``holdout`` half
is never looked at while tuning). Each text becomes a one-message conversation, the recipe's
``pii_detect``/``redact_pii`` run over it with their settings, and the report gives, per gold type:

* ``recall`` — gold spans overlapped by a finding of the same type (after ``ALIASES``);
* ``redacted`` — gold spans overlapped by any finding (what redaction removes, whatever the type);
* ``surviving`` — gold values still present verbatim in the redacted text (the leak measure);

and per finding type, ``precision``: findings overlapping a gold span of their type; the overall
``precision`` is findings overlapping any gold span (a finding on nothing labelled is
over-redaction). ``misses`` lists the most frequent surviving values masked (``J••• W••••``: first
letter of each word, length kept) with a row id: never the values.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sluice.errors import SluiceError

# gold label → the type sluice reports for it
ALIASES = {"PER": "PERSON", "NAME": "PERSON", "FIRST_NAME": "PERSON", "LAST_NAME": "PERSON",
           "GPE": "LOCATION", "LOC": "LOCATION", "CITY": "LOCATION", "COUNTRY": "LOCATION", "STATE": "LOCATION",
           "ORG": "ORGANIZATION", "ADDRESS": "STREET_ADDRESS", "EMAIL": "EMAIL_ADDRESS",
           "PHONE": "PHONE_NUMBER", "CREDIT_CARD_NUMBER": "CREDIT_CARD", "IBAN": "IBAN_CODE", "IP": "IP_ADDRESS",
           "SSN": "US_SSN", "RECIPIENT": "PERSON"}
PATTERN_TYPES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"})
# what "overall" counts: names, addresses, places, organisations and the pattern types
OVERALL_TYPES = PATTERN_TYPES | {"PERSON", "STREET_ADDRESS", "LOCATION", "ORGANIZATION"}


SPLITS = ("tune", "holdout")


@dataclass
class Labelled:
    text: str
    spans: list[tuple[int, int, str]]
    lang: str = "und"
    id: str = ""

    @property
    def split(self) -> str:
        """``tune`` or ``holdout``: half of the rows each, by a hash of the row's id (its text if none)."""
        return SPLITS[hashlib.sha256((self.id or self.text).encode()).digest()[0] & 1]


def canonical(entity: str) -> str:
    entity = entity.upper()
    return ALIASES.get(entity, entity)


def _span(raw, where: str) -> tuple[int, int, str]:
    if isinstance(raw, dict):
        entity = raw.get("entity_type") or raw.get("type") or raw.get("label") or raw.get("entity_value")
        start, end = raw.get("start", raw.get("start_position")), raw.get("end", raw.get("end_position"))
    elif isinstance(raw, (list, tuple)) and len(raw) == 3:
        start, end, entity = raw
    else:
        raise SluiceError(f"{where}: a span is {{entity_type, start, end}} or [start, end, type]")
    if not isinstance(entity, str) or not isinstance(start, int) or not isinstance(end, int):
        raise SluiceError(f"{where}: a span needs a string entity_type and integer start/end",
                          hint='write spans like {"entity_type": "PERSON", "start": 0, "end": 5}')
    return start, end, canonical(entity)


def load_labels(path: str | Path, split: str | None = None) -> list[Labelled]:
    """Read LABELS (see module doc), all rows or one ``split``'s; every problem names the file and
    line, never the text."""
    path = Path(path)
    if not path.is_file():
        raise SluiceError(f"no labels file at {path}", hint="pass a JSONL file of {text, spans} objects")
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except ValueError:
                raise SluiceError(f"{where}: not valid JSON", hint="one JSON object per line") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise SluiceError(f"{where}: expected an object with a string 'text'")
            spans = [_span(s, where) for s in row.get("spans") or ()]
            bad = [s for s in spans if not 0 <= s[0] < s[1] <= len(row["text"])]
            if bad:
                raise SluiceError(f"{where}: a span lies outside its text (start {bad[0][0]}, end {bad[0][1]})",
                                  hint="offsets count code points, end exclusive")
            lang = row.get("lang")
            out.append(Labelled(row["text"], spans, lang if isinstance(lang, str) and lang else "und",
                                str(row.get("id") if row.get("id") is not None else f"{path.name}:{n}")))
    if split is not None:
        if split not in SPLITS:
            raise SluiceError(f"unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
        out = [e for e in out if e.split == split]
    if not out:
        raise SluiceError(f"{path}: no examples" + (f" in split {split}" if split else ""))
    return out


def privacy_stages(stages: list) -> tuple:
    """(PiiDetect, RedactPii) of a recipe's stages; the defaults for whichever is absent."""
    from .stage import PiiDetect, RedactPii

    detect = next((s for s in stages if isinstance(s, PiiDetect)), None) or PiiDetect()
    redact = next((s for s in stages if isinstance(s, RedactPii)), None) or RedactPii()
    return detect, redact


def detect_all(examples: list[Labelled], detect, batch_size: int = 2_000) -> list:
    """The examples as one-message conversations, scored by ``detect`` (one frame per batch)."""
    import polars as pl
    import pyarrow as pa

    from sluice.schemas.messages import MESSAGES

    frames = []
    for i in range(0, len(examples), batch_size):
        messages = pa.array([[{"role": "user", "content": e.text}] for e in examples[i:i + batch_size]], type=MESSAGES)
        batch = pl.from_arrow(pa.table({"messages": messages}))
        frames.append(pl.concat([batch, detect.score(batch)], how="horizontal"))
    return frames


def redact_all(frames: list, redact) -> tuple[list[list], list[str]]:
    """(findings [(start, end, type, score)] per example, redacted text per example)."""
    findings, redacted = [], []
    for scored in frames:
        out = redact.transform(scored)
        for row, msgs in zip(scored["pii_findings"].to_list(), out["messages"].to_list()):
            findings.append([(f["start"], f["end"], f["entity"], f["score"]) for f in row or ()
                             if f["field"] == "m0.content" and f["score"] >= redact.config.min_score])
            redacted.append((msgs[0]["content"] or "") if msgs else "")
    return findings, redacted


def run(examples: list[Labelled], detect, redact) -> tuple[list[list], list[str]]:
    """(findings, redacted texts) of the examples through the two stages."""
    return redact_all(detect_all(examples, detect), redact)


def mask(value: str) -> str:
    """A value as reports may show it: the first character of each word, the rest as dots."""
    return " ".join(w[:1] + "•" * (len(w) - 1) for w in value.split())


def score(examples: list[Labelled], findings: list[list], redacted: list[str], n_misses: int = 10) -> dict:
    """Per-type recall / redacted / surviving (gold) and precision (findings); see module doc."""
    from .detector import public_place

    gold: dict[str, Counter] = {}
    found: dict[str, Counter] = {}
    private = Counter()  # "all" without countries and continents, which redaction keeps on purpose
    missed: Counter = Counter()
    where: dict[tuple, str] = {}
    for ex, fs, out in zip(examples, findings, redacted):
        for s, e, t in ex.spans:
            g = gold.setdefault(t, Counter())
            g["n"] += 1
            g["recalled"] += any(ft == t and fs_ < e and s < fe for fs_, fe, ft, *_ in fs)
            g["redacted"] += any(fs_ < e and s < fe for fs_, fe, *_ in fs)
            survived = ex.text[s:e] in out
            g["surviving"] += survived
            if t in OVERALL_TYPES and not public_place(ex.text[s:e]):
                private["n"] += 1
                private["surviving"] += survived
            if survived and t in OVERALL_TYPES:
                missed[(t, ex.text[s:e])] += 1
                where.setdefault((t, ex.text[s:e]), ex.id)
        for fs_, fe, ft, *_ in fs:
            c = found.setdefault(ft, Counter())
            c["n"] += 1
            c["correct"] += any(ft == t and fs_ < e and s < fe for s, e, t in ex.spans)
            c["on_gold"] += any(fs_ < e and s < fe for s, e, _ in ex.spans)
    rate = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
    per_type = {t: {"gold": c["n"], "recall": rate(c["recalled"], c["n"]), "redacted": rate(c["redacted"], c["n"]),
                    "surviving": rate(c["surviving"], c["n"])} for t, c in sorted(gold.items())}
    per_found = {t: {"findings": c["n"], "precision": rate(c["correct"], c["n"]),
                     "on_any_gold": rate(c["on_gold"], c["n"])} for t, c in sorted(found.items())}

    def group(types) -> dict:
        n = sum(gold[t]["n"] for t in gold if t in types)
        return {"gold": n, "surviving": rate(sum(gold[t]["surviving"] for t in gold if t in types), n)}

    n_found = sum(c["n"] for c in found.values())
    outside = sum(c["n"] - c["on_gold"] for c in found.values())
    worst = sorted(missed.items(), key=lambda kv: (-kv[1], -len(kv[0][1]), kv[0]))[:n_misses]
    # rows redact_pii held back (a language no NER covers: pii_language_uncovered): nothing of them
    # survives, because nothing of them is kept
    held = sum(1 for ex, out in zip(examples, redacted) if ex.text and not out)
    return {"examples": len(examples), "quarantined": held, "by_gold_type": per_type, "by_finding_type": per_found,
            "pattern_types": group(PATTERN_TYPES), "overall": group(OVERALL_TYPES),
            "overall_private": {"gold": private["n"], "surviving": rate(private["surviving"], private["n"])},
            "findings": n_found, "findings_outside_gold": outside, "precision": rate(n_found - outside, n_found),
            "misses": [{"entity": t, "masked": mask(v), "chars": len(v), "times": k, "row": where[(t, v)]}
                       for (t, v), k in worst]}


def by_language(examples: list[Labelled], findings: list[list], redacted: list[str], n_misses: int = 10) -> dict:
    """``score`` of each language's examples (the ``lang`` of each row), and of all of them."""
    langs = sorted({e.lang for e in examples})
    out = {}
    for lang in langs:
        idx = [i for i, e in enumerate(examples) if e.lang == lang]
        out[lang] = score([examples[i] for i in idx], [findings[i] for i in idx], [redacted[i] for i in idx],
                          n_misses)
    return out


def evaluate(labels: str | Path, stages: list | None = None, split: str | None = None, n_misses: int = 10) -> dict:
    """The report for LABELS under a recipe's privacy stages (the defaults without a recipe): all
    rows, and per language when the rows carry more than one ``lang`` or any but ``und``."""
    examples = load_labels(labels, split)
    detect, redact = privacy_stages(stages or [])
    findings, redacted = run(examples, detect, redact)
    report = score(examples, findings, redacted, n_misses)
    if {e.lang for e in examples} != {"und"}:
        report["by_language"] = by_language(examples, findings, redacted, n_misses)
    report["split"] = split or "all"
    report["engine"] = detect.describe()
    return report
