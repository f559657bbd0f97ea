"""The Presidio analyzer, set up explicitly (Presidio's default engine tries to download
en_core_web_lg and fails offline), and a fast, findings-identical way to run it over many texts.

Engines (``nlp:`` in config):

* ``blank`` (default, offline): a blank spaCy English tokenizer with lower-case lemmas (so
  Presidio's context words work) + Presidio's pattern recognizers + sluice's name-list PERSON
  recognizer, secrets and street addresses. PERSON recall is list-based only — the CLI warns.
* ``spacy:<model or path>``: a spaCy pipeline with NER, e.g. ``spacy:en_core_web_lg``
  (install it with ``python -m spacy download en_core_web_lg`` or
  ``pip install en_core_web_lg@https://github.com/explosion/spacy-models/releases/...``).
  Never downloaded by sluice: a missing model is an error.
* ``transformers:<hub id or path>``: a token-classification model through Presidio's
  TransformersNlpEngine (blank spaCy tokenizer underneath).

``detector.Detector`` runs this engine over many texts, faster, with identical findings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sluice.errors import RecipeError

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

PREDEFINED = {"CreditCardRecognizer", "UsBankRecognizer", "UsLicenseRecognizer", "UsItinRecognizer",
              "UsPassportRecognizer", "UsSsnRecognizer", "NhsRecognizer", "CryptoRecognizer", "DateRecognizer",
              "EmailRecognizer", "IbanRecognizer", "IpRecognizer", "MedicalLicenseRecognizer",
              "MacAddressRecognizer", "UuidRecognizer", "PhoneRecognizer", "UrlRecognizer"}


class CustomRecognizer(BaseModel):
    """A recognizer of your own: a deny-list and/or regexes, with optional context words."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    entity: str = Field(description="entity type it reports, e.g. CUSTOMER_ID")
    name: str | None = Field(None, description="recognizer name (default: derived from the entity)")
    deny_list: tuple[str, ...] = Field((), description="exact words or phrases that are always this entity")
    patterns: tuple[str, ...] = Field((), description="regular expressions matching the entity")
    context: tuple[str, ...] = Field((), description="words near a match that raise its score")
    score: float = Field(0.85, ge=0, le=1, description="score of a match before context")


class EngineConfig(BaseModel):
    """What finds PII: the NLP engine, the recognizers and the entities to report."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    nlp: str = Field("auto", description="auto (the embedded NER model if installed, else blank) | blank "
                                         "(patterns and name lists only: weak) | spacy:<model or path> | "
                                         "transformers:<hub id or path>")
    entities: tuple[str, ...] | None = Field(
        ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN",
         "US_BANK_NUMBER", "US_PASSPORT", "US_DRIVER_LICENSE", "US_ITIN", "UK_NHS", "CRYPTO", "MEDICAL_LICENSE",
         "STREET_ADDRESS", "API_KEY", "BEARER_TOKEN", "PRIVATE_KEY", "PASSWORD", "LOCATION", "ORGANIZATION"),
        description="entity types to report (null: every type a recognizer supports, incl. URL and DATE_TIME)")
    recognizers: tuple[CustomRecognizer, ...] = Field((), description="extra recognizers (deny-lists, regexes)")
    allow_list: tuple[str, ...] = Field((), description="values never reported (e.g. the support address)")
    score_threshold: float = Field(0.4, ge=0, le=1, description="minimum score of a finding")
    name_lists: bool = Field(True, description="add the name-list PERSON recognizer (Faker's locale lists)")
    language: Literal["en"] = Field("en", description="analysis language (Presidio recognizers are per language)")


@dataclass
class EngineInfo:
    """What ran: written into reports and printed by `sluice pii entities`."""

    nlp: str
    ner: bool
    recognizers: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    person_list_only: bool = False
    fallback: str | None = None  # why a weaker engine than asked for runs (``nlp: auto`` without NER)
    model: str | None = None  # name and version of the spaCy pipeline, when one runs

    def as_dict(self) -> dict:
        out = {"nlp": self.nlp, "ner": self.ner, "engine": "ner" if self.ner else "pattern-only",
               "ner_languages": ["en"] if self.ner else [], "model": self.model,
               "recognizers": self.recognizers, "entities": self.entities,
               "person_detection": "name lists only (no NER model)" if self.person_list_only else "ner"}
        if self.fallback:
            out["fallback"] = self.fallback  # the data card lists every stage's fallback
        return out


def _blank_nlp():
    import spacy

    from .nlp import lower_lemma_component

    nlp = spacy.blank("en")
    nlp.add_pipe(lower_lemma_component())
    return nlp


def resolve_nlp(spec: str) -> tuple[str, str | None]:
    """(the engine spec that runs, the fallback note or None) for ``auto``: the embedded NER model
    when installed, else the pattern-only blank pipeline, reported as a fallback."""
    if spec != "auto":
        return spec, None
    from .nlp import EMBEDDED, INSTALL_HINT, embedded_path

    if embedded_path() is not None:
        return f"spacy:{EMBEDDED}", None
    return "blank", (f"no NER model installed: PERSON, LOCATION and ORGANIZATION from name lists and patterns only "
                     f"(weak redaction); install the embedded model: {INSTALL_HINT}")


def ner_mapping():
    """Presidio's mapping of NER labels, with facilities (airports, bridges, streets) as LOCATION and
    the labels that are never personal data (amounts, numbers, works, laws, …) dropped."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration
    from presidio_analyzer.nlp_engine.ner_model_configuration import MODEL_TO_PRESIDIO_ENTITY_MAPPING

    return NerModelConfiguration(
        model_to_presidio_entity_mapping={**MODEL_TO_PRESIDIO_ENTITY_MAPPING, "FAC": "LOCATION"},
        labels_to_ignore=["CARDINAL", "ORDINAL", "MONEY", "PERCENT", "QUANTITY", "PRODUCT", "WORK_OF_ART", "LAW",
                          "LANGUAGE", "EVENT"])


def _lower_lemma_artifacts(engine, doc, language: str):
    """Presidio's NlpArtifacts of a doc, each token's lemma its lower-cased text (what the
    ``sluice_lower_lemma`` component sets), read in one pass instead of stored on the tokens."""
    from presidio_analyzer.nlp_engine import NlpArtifacts

    entities, scores = engine._get_updated_entities(engine._get_entities(doc), engine._get_scores_for_entities(doc))
    words = [(t.lower_, t.idx) for t in doc]
    return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[i for _, i in words],
                        lemmas=[w for w, _ in words], nlp_engine=engine, language=language, scores=scores)


def _nlp_engine(spec: str):
    """(Presidio NlpEngine, has NER, lemmas are lower-cased text)."""
    from presidio_analyzer.nlp_engine import SpacyNlpEngine, TransformersNlpEngine

    kind, _, target = spec.partition(":")
    if kind == "blank":
        class BlankEngine(SpacyNlpEngine):
            def load(self):
                self.nlp = {"en": _blank_nlp()}
        engine = BlankEngine(models=[{"lang_code": "en", "model_name": "blank"}])
        engine.load()
        return engine, False, True
    if kind == "spacy" and target:
        from .nlp import load_ner

        class NerEngine(SpacyNlpEngine):
            def load(self):  # NER's components only (nlp.load_ner)
                self.nlp = {"en": load_ner(target)}

            def _doc_to_nlp_artifact(self, doc, language):
                return _lower_lemma_artifacts(self, doc, language)
        engine = NerEngine(models=[{"lang_code": "en", "model_name": target}], ner_model_configuration=ner_mapping())
        engine.load()
        return engine, True, True
    if kind == "transformers" and target:
        from presidio_analyzer.nlp_engine.transformers_nlp_engine import FACTORY_NAME

        class BlankTransformersEngine(TransformersNlpEngine):
            def load(self):  # the blank tokenizer instead of a spaCy model Presidio would download
                nlp = _blank_nlp()
                c = self.ner_model_configuration
                nlp.add_pipe(FACTORY_NAME, config={"model": target, "stride": c.stride,
                                                   "alignment_mode": c.alignment_mode,
                                                   "aggregation_strategy": c.aggregation_strategy,
                                                   "spans_key": self.entity_key})
                self.nlp = {"en": nlp}
        engine = BlankTransformersEngine(models=[{"lang_code": "en",
                                                  "model_name": {"spacy": "blank", "transformers": target}}])
        engine.load()
        return engine, True, True
    raise RecipeError(f"unknown nlp engine {spec!r}",
                      hint="use auto, blank, spacy:<model or path> or transformers:<hub id or path>")


def _english_only(recognizer) -> None:
    """English NER on a text that is clearly another language tags ordinary words ("Du bist ein
    freundlicher Assistent" → two ORGANIZATIONs), so it answers nothing there. This happens inside
    the recognizer, before Presidio merges overlapping results: a cue or name-list finding on the
    same span ("Je m'appelle David Joseph-Bouvier") is then kept, not merged into a dropped one."""
    from .detector import not_english

    analyze = recognizer.analyze

    def english_analyze(text, entities, nlp_artifacts=None):
        return [] if not_english(text) else analyze(text, entities, nlp_artifacts)

    recognizer.analyze = english_analyze


def build_analyzer(config: EngineConfig, *, fast: bool = False):
    """(AnalyzerEngine, EngineInfo) for a config: Presidio's engine with sluice's recognizers.

    ``fast=True`` builds the engine ``Detector`` runs: the same recognizers and results, with
    libphonenumber's scan shared across regions, a registry that asks only the recognizers whose
    gate a text passes, and (with lower-case lemmas) context enhancement that skips texts where no
    context word occurs."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from .detector import GatedEnhancer, GatedRegistry
    from .names import name_recognizers
    from .patterns import pattern_recognizers
    from .recognizers import (NameListRecognizer, address_recognizer, custom_recognizers, extra_number_recognizers,
                              secret_recognizers)

    import logging

    # Presidio logs analyzed text (context words, decision traces) at DEBUG: never let that through.
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    spec, fallback = resolve_nlp(config.nlp)
    nlp_engine, ner, lower_lemmas = _nlp_engine(spec)
    registry = (GatedRegistry if fast else RecognizerRegistry)(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    if not ner:  # a blank pipeline has no NER: its recognizer could only ever return nothing
        registry.recognizers = [r for r in registry.recognizers if r.name in PREDEFINED]
    for r in registry.recognizers:
        if r.name == "SpacyRecognizer":
            _english_only(r)
    for r in [*secret_recognizers(), address_recognizer(), *extra_number_recognizers(), *pattern_recognizers()]:
        registry.add_recognizer(r)
    if config.name_lists:
        for r in [NameListRecognizer(), *name_recognizers()]:
            registry.add_recognizer(r)
    if fast:
        registry.gate_known()  # before custom recognizers join: a user's may reuse a name
    for r in custom_recognizers(config.recognizers):
        registry.add_recognizer(r)

    enhancer = GatedEnhancer() if fast and lower_lemmas else None
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"],
                              default_score_threshold=config.score_threshold, context_aware_enhancer=enhancer)
    supported = set(analyzer.get_supported_entities("en"))
    wanted = sorted(supported if config.entities is None else set(config.entities) & supported)
    wanted = sorted(set(wanted) | {r.entity for r in config.recognizers})
    active = [r.name for r in registry.recognizers if set(r.supported_entities) & set(wanted)]
    meta = nlp_engine.nlp["en"].meta if ner and hasattr(nlp_engine, "nlp") else {}
    model = f"{meta.get('lang', '?')}_{meta.get('name', '?')} {meta.get('version', '?')}" if meta else None
    info = EngineInfo(spec, ner, active, wanted, person_list_only=not ner and "PERSON" in wanted,
                      fallback=fallback, model=model)
    return analyzer, info
