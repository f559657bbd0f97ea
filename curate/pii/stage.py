"""pii_detect → redact_pii → pii_filter: find PII, replace it, drop high-risk rows.

Manifest: ``pii_detect`` counts findings per ``ENTITY/role`` (counts only) and records what ran
(``stages[].info``): its class and version, the engine (``ner`` or ``pattern-only``, the model,
the languages NER covers), recognizers, entities and the field groups covered or opted out.
``redact_pii`` records its class and version. The privacy guard certifies from these records
(``sluice.privacy.redaction_of``), never from a stage's name.

``pii_detect`` (score) reads every text-bearing field (``fields.py``: message content, tool
results, participant names, tool-call arguments, message extras, tool definitions, feedback,
every string in metadata) unless opted out with ``skip_fields``, and adds (a message's ``name``,
the participant, is PERSON as a whole unless ``participant_names: false``)
  ``pii_findings``: list of {field, role, entity, start, end, score, recognizer} — offsets (code
  points) into the text *before* redaction, never the values;
  ``pii_error``: null, or the error class of a row that could not be analyzed;
  ``pii_digest``: a hash of the row's texts, so redaction can prove it sees what was analyzed;
  ``pii_uncovered``: null, or the languages (codes only) of the row's texts that no NER model
  covers, when the policy is ``uncovered: quarantine`` (``engine.EngineConfig``).
``redact_pii`` (transform) rewrites ``messages``, ``tools``, ``feedback`` and ``metadata`` at the
  findings. Fails closed: a row with ``pii_error``, changed text, text in a language without NER
  (``pii_uncovered``), or any error while redacting is quarantined (error kinds
  ``pii_detect_failed``, ``pii_text_changed``, ``pii_language_uncovered``, ``pii_redact_failed``).
``pii_filter`` (decide) reads ``pii_findings``; drops rows with a finding of a listed type:
  reason ``pii_high_risk``. Place it after redact_pii so even rejected rows hold no raw PII.

    - stage: pii_detect
      nlp: auto                        # embedded en_core_web_sm NER; or spacy:en_core_web_lg, blank, …
      allow_list: [support@bluebird.example]
      recognizers:
        - {entity: CUSTOMER_ID, patterns: ['\\bCUST-\\d{6}\\b'], context: [customer]}
      skip_fields: [metadata/trace_id]   # explicit, recorded opt-out
    - stage: redact_pii
      operators: {PERSON: surrogate, CREDIT_CARD: mask, EMAIL_ADDRESS: hash}
      default: placeholder             # <PERSON_1>, numbered per conversation
    - stage: pii_filter
      entities: [PRIVATE_KEY, US_SSN]
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Literal

import polars as pl
from pydantic import Field

from sluice.errors import RecipeError
from sluice.stage import Filter, Requirement, Resources, Scorer, StageConfig, Transform

from . import fields
from . import tools as tool_structure
from .engine import EngineConfig
from .operators import Operator, Redactor

FINDING = pl.Struct({"field": pl.String, "role": pl.String, "entity": pl.String, "start": pl.Int32,
                     "end": pl.Int32, "score": pl.Float32, "recognizer": pl.String})
REQUIRES = (Requirement("presidio_analyzer", "pii"), Requirement("spacy", "pii"), Requirement("faker", "pii"))


class DetectConfig(EngineConfig, StageConfig):
    skip_fields: tuple[fields.Group | str, ...] = Field(
        (), description="field groups NOT analyzed (explicit opt-out, recorded in the manifest): "
                        f"{', '.join(fields.GROUPS)}, or metadata/<key>; default: every text-bearing field")
    participant_names: bool = Field(True, description="a message's `name` (the participant, on system, user and "
                                                      "assistant messages) is PERSON as a whole")


class PiiDetect(Scorer):
    name = "pii_detect"
    Config = DetectConfig
    reads = ("messages",)
    adds = ("pii_findings", "pii_error", "pii_digest", "pii_uncovered")
    requires = REQUIRES
    # one spaCy NER pipeline per worker: 612 MiB RSS after setup() with the default NER model (measured here); a GPU
    # node pool sets `resources: {gpus: 1}` in the recipe (never run on a GPU: README, "Running on a cluster")
    resources = Resources(cpus=1, memory=1 << 30)
    version = 12  # 12: names in a list with a found name (#27 round six); 11: names echoed within a text, French/Spanish/German titles before a name, form labels protect a name from the noise rules, tz cities are no informal first names (#27 round six); 10: CamelCase handles kept, informal English names to level 7 (#27 round five); 9: handles, informal English names, place labels and postcodes, German fallback spans cut to capitalised runs (#27 round four); 8: country names redacted unless keep_places; 7: per-language policy (declared fallbacks, rows of a language without NER marked pii_uncovered); 6: 6: source, source_id and JSON keys analyzed, operational metadata left alone, thresholds recorded; 5: tool schemas and constrained call arguments are not analyzed (tools.py); 4: US military mail, secondary-address parts, cued phones, places after cues, legal-form companies; "AI" is no entity

    def setup(self) -> None:
        from .detector import Detector

        self.detector = Detector(self.config)
        info = self.detector.info
        # languages a NER model reads (its own or a declared fallback); with uncovered: quarantine, a
        # row with text in any other language is marked and redact_pii quarantines it. Pattern-only
        # detection (no NER at all) is graded weak as a whole instead.
        self.quarantine = info.ner and self.config.uncovered == "quarantine"
        self.covered = frozenset(k for k, v in info.languages.items() if v.get("ner"))

    def describe(self) -> dict:
        """The engine and recognizers that ran and the fields covered (manifest ``stages[].info``)."""
        if getattr(self, "detector", None) is None:
            self.setup()
        skip = tuple(self.config.skip_fields)
        covered = [g for g in fields.GROUPS if g not in skip]
        c = self.config
        return {**self.detector.info.as_dict(), **stage_identity(self), "fields": covered, "skipped_fields": list(skip),
                "participant_names": c.participant_names, "score_threshold": c.score_threshold, "keep_places": c.keep_places,
                "allow_list": len(c.allow_list), "custom_recognizers": [r.entity for r in c.recognizers]}

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Every row's texts are gathered first and analyzed together (``Detector.findings``: once
        per distinct text, NER batched across rows); a row is then given its findings. Should the
        batch's analysis fail, each row is analyzed alone, so the error marks only the rows it
        comes from (fail closed, as before)."""
        if getattr(self, "detector", None) is None:
            self.setup()
        cols = [c for c in fields.TEXT_COLUMNS if c in batch.columns]
        rows = list(batch.select(cols).iter_rows(named=True))
        texts: list = []
        for row in rows:
            try:
                texts.append(fields.texts(row, self.config.skip_fields))
            except Exception as e:  # fail closed: redact_pii quarantines the row; no text in the error
                texts.append(e)
        known: dict = {}
        try:
            wanted = [t for items in texts if not isinstance(items, Exception)
                      for k, _, t in items if not fields.is_participant_name(k)]
            known = dict(zip(wanted, self.detector.findings(wanted)))
        except Exception:  # analyzed again row by row below: the error lands on its row
            known = {}
        findings, errors, digests, uncovered = [], [], [], []
        for row, items in zip(rows, texts):
            try:
                if isinstance(items, Exception):
                    raise items
                found, unc = self._row(items, known)
                findings.append(found)
                errors.append(None)
                digests.append(fields.digest(row))
            except Exception as e:  # fail closed: redact_pii quarantines the row; no text in the error
                findings.append(None)
                errors.append(type(e).__name__)
                digests.append(None)
                unc = None
            uncovered.append(unc)
        return pl.DataFrame({"pii_findings": pl.Series(findings, dtype=pl.List(FINDING)),
                             "pii_error": pl.Series(errors, dtype=pl.String),
                             "pii_digest": pl.Series(digests, dtype=pl.String),
                             "pii_uncovered": pl.Series(uncovered, dtype=pl.String)})

    def _row(self, items: list, known: dict) -> tuple[list[dict], str | None]:
        """A row's findings (from ``known``, the batch's analysis, or analyzed now) and the
        languages of its texts that no NER model covers (with ``uncovered: quarantine``)."""
        from .nlp import text_language

        names = [it for it in items if fields.is_participant_name(it[0])]
        items = [it for it in items if not fields.is_participant_name(it[0])]
        langs = {text_language(t) for _, _, t in items} if self.quarantine else set()
        unc = ",".join(sorted(langs - self.covered)) or None
        mine = [t for _, _, t in items]
        results = [known[t] for t in mine] if all(t in known for t in mine) else self.detector.findings(mine)
        found = [{"field": k, "role": role, "entity": r.entity_type, "start": r.start, "end": r.end,
                  "score": r.score, "recognizer": (r.recognition_metadata or {}).get("recognizer_name", "")}
                 for (k, role, _), rs in zip(items, results) for r in rs]
        if self.config.participant_names:
            found += [{"field": k, "role": role, "entity": "PERSON", "start": 0, "end": len(t),
                       "score": 1.0, "recognizer": "participant_name"} for k, role, t in names]
        for f in found:
            self.count(f"{f['entity']}/{f['role']}")  # counts per type and role, for the manifest
        return found, unc


class RedactConfig(StageConfig):
    operators: dict[str, Operator] = Field(default_factory=dict, description="entity type → operator")
    default: Operator = Field("placeholder", description="operator for types not in `operators`")
    key_env: str = Field("SLUICE_PII_KEY", description="env var holding the key for hash and dataset-wide surrogates")
    mask_keep_last: int = Field(0, ge=0, description="characters the mask operator keeps at the end")
    min_score: float = Field(0.0, ge=0, le=1, description="ignore findings scored below this")
    sweep: bool = Field(True, description="also replace further verbatim occurrences of a found value in the "
                                          "conversation (values of 4+ characters)")
    numbers: Literal["surrogate", "drop"] = Field(
        "surrogate", description="a JSON integer found to be PII: an integer surrogate of the same length (keyed "
                                 "like hash), or drop its key; a value never changes type")
    pseudonyms: Literal["conversation", "dataset"] = Field(
        "conversation", description="conversation: <PERSON_1>, numbered per conversation (nothing links two rows); "
                                    "dataset: the same value gets the same placeholder/surrogate in every row "
                                    "(keyed hash: $key_env, else the store's salt file, never in the data)")
    salt_file: str | None = Field(None, description="salt for dataset-wide pseudonyms when $key_env is unset "
                                                    "[default: <store root>/.secrets/pii_salt, created once]")


class RedactPii(Transform):
    name = "redact_pii"
    Config = RedactConfig
    reads = ("messages", "pii_findings", "pii_error", "pii_digest")
    optional_reads = ("pii_uncovered",)
    rewrites = ("messages", "tools", "feedback", "metadata", "source", "source_id")
    requires = REQUIRES
    version = 4  # 4: source, source_id and JSON keys; integers stay integers; tool schemas and schema-constrained call arguments kept, typed surrogates (tools.py)

    def describe(self) -> dict:
        """What the privacy guard certifies from the manifest (sluice.privacy.redaction_of)."""
        return {**stage_identity(self), "operators": dict(self.config.operators), "default": self.config.default,
                "min_score": self.config.min_score, "numbers": self.config.numbers}

    def setup(self) -> None:
        key = os.environ.get(self.config.key_env)
        needs_key = "hash" in (self.config.default, *self.config.operators.values())
        if needs_key and not key:
            raise RecipeError(f"the hash operator needs a key in ${self.config.key_env}",
                              hint=f"export {self.config.key_env}=<a long random secret> (keep it out of the recipe)")
        if not key and self.config.pseudonyms == "dataset":
            key = store_salt(self.config.salt_file)
        self.key = key.encode() if isinstance(key, str) else key

    def fingerprint(self, upstream: str) -> str:
        """The key (or salt) is part of what the output depends on: a new one is a new checkpoint.
        Only a one-way id of it enters the fingerprint."""
        if not hasattr(self, "key"):
            self.setup()
        key_id = hashlib.sha256(b"sluice-key-id\x00" + self.key).hexdigest()[:16] if self.key else None
        return super().fingerprint(f"{upstream}|key={key_id}")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "key"):
            self.setup()
        cols = [c for c in (*fields.TEXT_COLUMNS, "pii_findings", "pii_error", "pii_digest", "pii_uncovered")
                if c in batch.columns]
        out = {c: [] for c in self.rewrites}
        err, kind = [], []
        for row in batch.select(cols).iter_rows(named=True):
            try:
                new = self.redact_row(row)
                err.append(None), kind.append(None)
            except Exception as e:  # fail closed; the message names the error class only, never text
                new = {"messages": [], "source": ""}
                reject = isinstance(e, _Reject)
                err.append(e.args[0] if reject else f"redaction failed ({type(e).__name__})")
                kind.append(e.kind if reject else "pii_redact_failed")
            for c in self.rewrites:
                out[c].append(new.get(c))
        s = batch.schema
        return pl.DataFrame({
            **{c: pl.Series(out[c], dtype=s[c] if c in s else pl.String) for c in self.rewrites},
            "_error": pl.Series(err, dtype=pl.String), "_error_kind": pl.Series(kind, dtype=pl.String)})

    def redact_row(self, row: dict) -> dict:
        if row.get("pii_error") or row.get("pii_findings") is None:
            raise _Reject(f"PII detection failed ({row.get('pii_error') or 'no findings'})", "pii_detect_failed")
        if fields.digest(row) != row.get("pii_digest"):
            raise _Reject("text changed between pii_detect and redact_pii", "pii_text_changed")
        if row.get("pii_uncovered"):  # language codes only, never text
            raise _Reject(f"text in a language no NER model covers ({row['pii_uncovered']}): held back by "
                          "pii_detect's language policy (uncovered: quarantine; declare a fallback model to "
                          "redact it)", "pii_language_uncovered")
        c = self.config
        by_field: dict[str, list] = {}
        for f in row["pii_findings"]:
            if f["score"] >= c.min_score:
                by_field.setdefault(f["field"], []).append((f["start"], f["end"], f["entity"], f["score"]))
        items = fields.texts(row)
        redactor = Redactor(c.operators, c.default, self.key, c.mask_keep_last, dataset=c.pseudonyms == "dataset")
        new: dict[str, str] = {}
        for key, _, text in items:
            spans = by_field.pop(key, None)
            if spans:
                if max(e for _, e, _, _ in spans) > len(text):
                    raise _Reject("a finding lies outside its text", "pii_text_changed")
                new[key] = redactor.apply(text, spans)
        if by_field:
            raise _Reject("findings name fields the row does not have", "pii_text_changed")
        if c.sweep and redactor.memo:
            self._sweep(items, new, redactor)
        tool_structure.conform(row, new, {k: t for k, _, t in items})  # typed surrogates; calls stay valid
        number = redactor.number if c.numbers == "surrogate" else (lambda value: None)
        return fields.rebuild(row, new, number)

    @staticmethod
    def _sweep(items, new: dict[str, str], redactor: Redactor) -> None:
        values = sorted({v for v in redactor.originals if len(v) >= 4}, key=len, reverse=True)
        if not values:
            return
        rx = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in values) + r")(?!\w)", re.IGNORECASE)
        lookup = {v.casefold(): redactor.originals[v] for v in values}
        for key, _, text in items:
            current = new.get(key, text)
            swept = rx.sub(lambda mt: lookup.get(mt.group().casefold(), mt.group()), current)
            if swept != current:
                new[key] = swept


def store_salt(path: str | None = None) -> bytes:
    """The salt of dataset-wide pseudonyms: a random secret kept in the store, outside every version
    (``<root>/.secrets/pii_salt``, mode 0600), created once; every worker reads the same one."""
    from pathlib import Path

    from sluice.store import default_root

    file = Path(path) if path else default_root() / ".secrets" / "pii_salt"
    file.parent.mkdir(parents=True, exist_ok=True)
    if not file.exists():  # written whole, then linked into place: a reader never sees half a salt
        tmp = file.with_name(f".{file.name}.{os.getpid()}.{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32).hex().encode())
        try:
            os.link(tmp, file)
        except FileExistsError:
            pass  # another worker won the race: its salt is the salt
        finally:
            tmp.unlink()
    salt = file.read_bytes().strip()
    if len(salt) < 32:
        raise RecipeError(f"the pseudonym salt in {file} is too short or half-written",
                          hint="delete it to create a new one (pseudonyms then change), or set $SLUICE_PII_KEY")
    return salt


def stage_identity(stage) -> dict:
    """The class that ran, as the privacy guard checks it (never the stage's name)."""
    cls = type(stage)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "version": stage.version}


class _Reject(Exception):
    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


class FilterConfig(StageConfig):
    entities: tuple[str, ...] = Field(("PRIVATE_KEY",), description="entity types whose presence drops the row")
    min_score: float = Field(0.0, ge=0, le=1, description="only findings scored at least this count")


class PiiFilter(Filter):
    name = "pii_filter"
    Config = FilterConfig
    reads = ("pii_findings",)
    reasons = {"pii_high_risk": "the row held PII of a type configured as high risk (pii_filter.entities)"}

    def decide(self, batch: pl.DataFrame) -> pl.Series:
        c = self.config
        e = pl.element().struct
        hit = pl.col("pii_findings").list.eval(
            (e.field("entity").is_in(list(c.entities)) & (e.field("score") >= c.min_score))).list.any()
        return batch.select(pl.when(hit.fill_null(False)).then(pl.lit("pii_high_risk"))
                            .otherwise(pl.lit(None, pl.String)).alias("reason")).to_series()
