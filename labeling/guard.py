"""What may be shown to annotators: rows the redaction covered, and a payload that scans clean.

Two checks, both counted per reason and recorded in the push manifest:

1. **Coverage** (``coverage_refusals``), from the privacy certificate of the lineage
   (``sluice.privacy.certificate``: ``languages`` and ``fields`` it covered). A row is refused
   when its ``lang`` is not a covered language (reason ``language_not_covered``; no ``lang`` at
   all: ``language_unknown``), or when it would show a field the redaction did not cover (reason
   ``field_not_covered``: message text ``content``, ``tool_calls``, ``tool_results``, the end
   user's edit in ``feedback`` — the field groups of ``sluice.curate.pii.fields``). A record that
   does not say what it covered covers nothing (``coverage_unknown``): the check fails closed.
   ``--allow-uncovered`` pushes such rows anyway; the override is recorded.
2. **Payload scan** (``PayloadScan``): the exact texts about to be sent — after rendering — are
   analyzed again with the PII engine that the lineage's ``pii_detect`` ran (the settings the
   certificate records); a record with a finding is refused (reason ``payload_pii``, entity types only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl

from . import render

LANGUAGE_NOT_COVERED = "language_not_covered"
LANGUAGE_UNKNOWN = "language_unknown"
FIELD_NOT_COVERED = "field_not_covered"
COVERAGE_UNKNOWN = "coverage_unknown"
PAYLOAD_PII = "payload_pii"
ANY_LANGUAGE = ("*", "any")


def _covers(fields: tuple[str, ...], needed: str) -> bool:
    """A group covers itself and its parts (``feedback`` covers ``feedback.edited``); a part covers
    what is shown of its group (``tool_calls.arguments`` → ``tool_calls``: a tool's name is no
    personal data); ``x[].y`` is read as ``x.y``."""
    norm = [f.replace("[]", "").replace("[*]", "") for f in fields]
    return any(needed == f or needed.startswith(f + ".") or f.startswith(needed + ".") for f in norm)


def shown_fields(row: dict, kind: str) -> list[str]:
    """The field groups (``sluice.curate.pii.fields.GROUPS``) that a pushed record of the row shows."""
    if kind == "preference":
        msgs = list(row.get("prompt") or []) + list(row.get("chosen") or []) + list(row.get("rejected") or [])
        needed = ["content"]
    else:
        msgs = row.get("messages") or []
        needed = ["content"]
        if (row.get("feedback") or {}).get("edited"):
            needed.append("feedback")
    if any(m.get("tool_calls") for m in msgs):
        needed.append("tool_calls")
    if any(m.get("role") == "tool" for m in msgs):
        needed.append("tool_results")
    return needed


def coverage_refusals(frame: pl.DataFrame, kind: str, redaction) -> dict[str, tuple[str, str]]:
    """{row id: (reason, detail)} for every row the redaction record does not cover."""
    languages = getattr(redaction, "languages", None)
    fields = getattr(redaction, "fields", None)
    out: dict[str, tuple[str, str]] = {}
    if languages is None or fields is None:
        detail = "the redaction record does not say which languages and fields it covered"
        return {rid: (COVERAGE_UNKNOWN, detail) for rid in frame["id"].to_list()}
    any_language = any(lang in ANY_LANGUAGE for lang in languages)
    cols = [c for c in ("id", "lang", "messages", "feedback", "prompt", "chosen", "rejected") if c in frame.columns]
    for row in frame.select(cols).iter_rows(named=True):
        lang = row.get("lang")
        missing = [f for f in shown_fields(row, kind) if not _covers(tuple(fields), f)]
        if missing:
            out[row["id"]] = (FIELD_NOT_COVERED, ",".join(missing))
        elif not lang and not any_language:
            out[row["id"]] = (LANGUAGE_UNKNOWN, "the row has no lang (run the language stage)")
        elif not any_language and lang not in languages:
            out[row["id"]] = (LANGUAGE_NOT_COVERED, lang)
    return out


def summarize(refused: dict[str, tuple[str, str]]) -> dict[str, dict[str, int]]:
    """Counts per reason and detail (a language, a field list), for messages and the manifest."""
    out: dict[str, Counter] = {}
    for reason, detail in refused.values():
        out.setdefault(reason, Counter())[detail] += 1
    return {r: dict(c.most_common()) for r, c in out.items()}


@dataclass
class PayloadScan:
    """Re-analyze the exact payload with the engine the lineage's ``pii_detect`` ran."""

    engine: dict  # EngineConfig settings (as recorded in the manifest)

    @classmethod
    def for_redaction(cls, redaction, store=None) -> PayloadScan:
        """The ``pii_detect`` settings the certificate records (``sluice.privacy.certificate``; the
        defaults without one)."""
        return cls(dict(getattr(redaction, "detect_settings", None) or {}))

    def __post_init__(self):
        from sluice.curate.pii.detector import Detector
        from sluice.curate.pii.engine import EngineConfig

        allowed = set(EngineConfig.model_fields)
        self.config = EngineConfig(**{k: v for k, v in self.engine.items() if k in allowed})
        self.detector = Detector(self.config)

    def findings(self, texts: list[str]) -> Counter:
        """Entity types found in the texts (counts; never the values), by the rules redaction acts on
        (``Detector.findings``: "AI" is no place there, so it is none here). A finding that lies within
        placeholders (NER reads ``[LOCATION_1]`` as a place) is no personal data and is not counted."""
        texts = [t for t in texts if t and t.strip()]
        found: Counter = Counter()
        for text, results in zip(texts, self.detector.findings(texts)):
            masked = render.SHOWN.sub(lambda m: " " * len(m.group(0)), text)
            found.update(r.entity_type for r in results
                         if r.score >= self.config.score_threshold and any(c.isalnum() for c in masked[r.start:r.end]))
        return found

    def describe(self) -> dict:
        return {"engine": self.detector.info.as_dict(), "score_threshold": self.config.score_threshold}

