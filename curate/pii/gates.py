"""The gates of the fast path, shared by ``engine`` (which builds the registry and the enhancer)
and ``detector`` (which runs them): a recognizer is asked about a text only when the text holds
what every one of its matches contains, and Presidio's context enhancer is skipped when it cannot
change a score. See ``detector``'s module doc for why none of this changes a finding."""

from __future__ import annotations

import re

import regex
from presidio_analyzer import RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer, LemmaContextAwareEnhancer

from .phone import ReplayPhoneRecognizer, replay_supported

# recognizer → a regex that every match of every one of its patterns contains, written with the
# patterns' own character classes and compiled with the same module and flags (regex, DOTALL |
# MULTILINE | IGNORECASE). A text with no match of the gate gets no finding from the recognizer.
GATES = {
    "EmailRecognizer": r"[@]",
    "UrlRecognizer": r"[a-z0-9.\-][.][a-z]",
    "CreditCardRecognizer": r"\d{4}[- ]?\d{3}",  # 4-digit prefix group, then a group of 3-4
    "UsBankRecognizer": r"[0-9]{8}",
    "UsLicenseRecognizer": r"[A-Z][0-9]|[0-9][A-Z]|\][0-9]|[0-9]{6}",  # every alternative joins a letter
    "UsItinRecognizer": r"9\d{2}[- ]?\d",                          # (or "]", a typo upstream) to a digit
    "UsPassportRecognizer": r"[0-9]{8}",
    "UsSsnRecognizer": r"[0-9]{2}[- .]?[0-9]{4}",
    "NhsRecognizer": r"[0-9]{3}[- ]?[0-9]{3}",
    "CryptoRecognizer": r"[13][a-zA-HJ-NP-Z0-9]{25}",
    "IbanRecognizer": r"[A-Z]{2}[0-9]{2}",
    # IPv4: octet "." octet "." …; IPv6: "::", or (full form) ":" then a hex digit
    "IpRecognizer": r"[0-9]\.[0-9]{1,3}\.[0-9]|:[:0-9A-F]",
    "MedicalLicenseRecognizer": r"\d{7}",
}
# gates every alternative of which holds a digit: not even searched in a text without one
DIGIT_GATES = {"CreditCardRecognizer", "UsBankRecognizer", "UsLicenseRecognizer", "UsItinRecognizer",
               "UsPassportRecognizer", "UsSsnRecognizer", "NhsRecognizer", "CryptoRecognizer", "IbanRecognizer",
               "MedicalLicenseRecognizer"}
# A digit as the gates' regex module sees one, and as Python's re (libphonenumber's) does.
DIGIT = {"regex": regex.compile(r"\d"), "re": re.compile(r"\d")}


class GatedRegistry(RecognizerRegistry):
    """A registry that, while ``only`` is set, serves just those recognizers: the ones that found
    something in the text at hand. Presidio asks the registry once per analyze call and uses the
    list for running recognizers, context and score thresholds. All of these concern only the
    results of recognizers that ran, so leaving out one that found nothing changes nothing."""

    only: list | None = None
    gates: dict | None = None

    def gate_known(self) -> None:
        """Gate the recognizers known so far: id → (gate regex or None, the digit kind it needs or None)."""
        flags = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE
        self.gates = {}
        for i, r in enumerate(self.recognizers):
            if r.name == "PhoneRecognizer" and type(r).__name__ == "PhoneRecognizer":
                if replay_supported():
                    r = self.recognizers[i] = ReplayPhoneRecognizer.like(r)
                self.gates[id(r)] = (None, "re")  # libphonenumber's candidates hold a digit
            elif getattr(r, "sluice_gate", None):
                gate, digits = r.sluice_gate
                self.gates[id(r)] = (regex.compile(gate, flags), "regex" if digits else None)
            elif r.name in GATES:
                self.gates[id(r)] = (regex.compile(GATES[r.name], flags), "regex" if r.name in DIGIT_GATES else None)

    def get_recognizers(self, language, entities=None, all_fields=False, ad_hoc_recognizers=None):
        if self.only is not None and not ad_hoc_recognizers:
            return self.only
        return super().get_recognizers(language, entities, all_fields, ad_hoc_recognizers)


def context_absent(recognizer, lowered: str) -> bool:
    """True when Presidio's lemma enhancer cannot raise this recognizer's scores in this text.

    The enhancer raises a score when one of the recognizer's context words is a substring of a
    lemma near the result. With sluice's tokenizer a lemma is its token lower-cased, a piece of the
    lower-cased text; so an ASCII context word that does not occur in ``lowered`` never matches."""
    words = [w.lower() for w in getattr(recognizer, "context", None) or ()]
    return all(w.isascii() and w not in lowered for w in words)


def score_fixed(result, recognizer, lowered: str) -> bool:
    """True when context enhancement leaves this result's score as it is: it is already the
    maximum, or its recognizer's context words are absent from the text."""
    return result.score >= ContextAwareEnhancer.MAX_SCORE or context_absent(recognizer, lowered)


class GatedEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer, skipped (and spaCy with it) when it cannot change a
    score (``score_fixed`` holds for every result)."""

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        if not raw_results:
            return []
        if not context:
            by_id = {r.id: r for r in recognizers}
            lowered = text.lower()
            key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
            if all(score_fixed(res, by_id.get(res.recognition_metadata.get(key)), lowered) for res in raw_results):
                return raw_results  # unchanged (Presidio returns copies; nothing else holds these)
        return super().enhance_using_context(text, raw_results, nlp_artifacts, recognizers, context)
