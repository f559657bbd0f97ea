"""Calibrate on labelled text: run a recipe's privacy stages over labelled examples and measure
them — behind ``sluice pii eval LABELS`` and ``benchmarks/eval_pii.py``.

LABELS is JSONL, one example a line: ``{"text": "...", "spans": [{"entity_type": "PERSON",
"start": 11, "end": 21}, ...]}`` (offsets in code points; ``type``/``label`` and ``[start, end,
type]`` lists are read too). Each text becomes a one-message conversation, the recipe's
``pii_detect``/``redact_pii`` run over it with their settings, and the report gives, per gold type:

* ``recall`` — gold spans overlapped by a finding of the same type (after ``ALIASES``);
* ``redacted`` — gold spans overlapped by any finding (what redaction removes, whatever the type);
* ``surviving`` — gold values still present verbatim in the redacted text (the leak measure);

and per finding type, ``precision``: findings overlapping a gold span of their type. Reports hold
counts and rates only, never values.
"""

from __future__ import annotations

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
           "SSN": "US_SSN"}
PATTERN_TYPES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"})
# what "overall" counts: names, addresses, places, organisations and the pattern types
OVERALL_TYPES = PATTERN_TYPES | {"PERSON", "STREET_ADDRESS", "LOCATION", "ORGANIZATION"}


@dataclass
class Labelled:
    text: str
    spans: list[tuple[int, int, str]]


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


def load_labels(path: str | Path) -> list[Labelled]:
    """Read LABELS (see module doc); every problem names the file and line, never the text."""
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
            out.append(Labelled(row["text"], spans))
    if not out:
        raise SluiceError(f"{path}: no examples")
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


def score(examples: list[Labelled], findings: list[list], redacted: list[str]) -> dict:
    """Per-type recall / redacted / surviving (gold) and precision (findings); see module doc."""
    gold: dict[str, Counter] = {}
    found: dict[str, Counter] = {}
    for ex, fs, out in zip(examples, findings, redacted):
        for s, e, t in ex.spans:
            g = gold.setdefault(t, Counter())
            g["n"] += 1
            g["recalled"] += any(ft == t and fs_ < e and s < fe for fs_, fe, ft, *_ in fs)
            g["redacted"] += any(fs_ < e and s < fe for fs_, fe, *_ in fs)
            g["surviving"] += ex.text[s:e] in out
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

    return {"examples": len(examples), "by_gold_type": per_type, "by_finding_type": per_found,
            "pattern_types": group(PATTERN_TYPES), "overall": group(OVERALL_TYPES),
            "findings_outside_gold": sum(c["n"] - c["on_gold"] for c in found.values())}


def evaluate(labels: str | Path, stages: list | None = None) -> dict:
    """The report for LABELS under a recipe's privacy stages (the defaults without a recipe)."""
    examples = load_labels(labels)
    detect, redact = privacy_stages(stages or [])
    findings, redacted = run(examples, detect, redact)
    report = score(examples, findings, redacted)
    report["engine"] = detect.describe()
    return report
