"""Presidio's ``PhoneRecognizer`` with identical findings, without scanning each text once per region.

Presidio runs ``phonenumbers.PhoneNumberMatcher`` once for every supported region (eight by
default). Each run scans the whole text for candidates and tries to parse every candidate. Two
facts let ``ReplayPhoneRecognizer`` skip most of that work without changing a single finding.

1. **The scan does not depend on the region.** Until a region finds its first number, the
   matcher of every region calls ``_parse_and_verify`` with the same sequence of
   ``(candidate, offset)``. The matcher's own code records that sequence once per text, and each
   region replays it. When a region does find a number, a real matcher takes over from the
   position and retry budget the original would have had at that point.
2. **Short candidates cannot verify.** Under ``Leniency.VALID`` a match must pass
   ``is_valid_number``. That needs the national significant number's length to be one of the
   metadata's possible lengths for the number's country. Each digit of the number (or letter
   mapped to a digit) comes from its own letter or digit of the candidate, and so do the
   country code's digits when the text gives them. So a candidate with fewer letters and digits
   than ``min_chars(region, plus)`` (see ``Bounds``) is rejected without parsing. That is also
   what the parser would conclude.

The replay relies on the matcher's control flow. If the installed phonenumbers changes the
methods involved, ``replay_supported()`` returns False and sluice uses Presidio's recognizer
unchanged.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from functools import lru_cache

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatch, PhoneNumberMatcher
from phonenumbers import phonenumbermatcher
from phonenumbers.phonenumberutil import (COUNTRY_CODE_TO_REGION_CODE, COUNTRY_CODES_FOR_NON_GEO_REGIONS,
                                          SUPPORTED_REGIONS, NumberParseException)
from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

# sha256 of the matcher methods whose control flow the replay relies on (phonenumbers 9.0.43).
# Any other source: fall back to Presidio's own recognizer.
REPLAYED = ("_find", "_extract_match", "_extract_inner_match", "_parse_and_verify", "has_next", "next", "__iter__")
KNOWN_SOURCE = "e12714444c7d0d97b171c5862f427172b49c8938891f8669c0e9f5d1be1737e5"
PLUS = ("+", "\uff0b")


def _source_hash() -> str:
    src = "".join(inspect.getsource(getattr(PhoneNumberMatcher, name)) for name in REPLAYED)
    src += inspect.getsource(phonenumbermatcher._verify)
    return hashlib.sha256(src.encode()).hexdigest()


@lru_cache(maxsize=1)
def replay_supported() -> bool:
    return _source_hash() == KNOWN_SOURCE


def _shortest(metadata) -> int:
    return min(metadata.general_desc.possible_length, default=1)


@lru_cache(maxsize=None)
def _family_shortest(country_code: int) -> int:
    """Fewest national digits of a valid number of any region sharing this country code."""
    lengths = [_shortest(m) for r in COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
               if (m := PhoneMetadata.metadata_for_region_or_calling_code(country_code, r)) is not None]
    return min(lengths, default=1)


@lru_cache(maxsize=1)
def _with_country_code() -> int:
    """Fewest letters+digits of a valid number whose country code is written in the text."""
    best = min(len(str(PhoneMetadata.metadata_for_region(r).country_code)) + _shortest(PhoneMetadata.metadata_for_region(r))
               for r in SUPPORTED_REGIONS)
    for cc in COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        m = PhoneMetadata.metadata_for_nongeo_region(cc)
        if m is not None:
            best = min(best, len(str(cc)) + _shortest(m))
    return best


@lru_cache(maxsize=None)
def min_chars(region: str, plus: bool) -> int:
    """A lower bound on the letters+digits of a candidate that verifies for this matcher region.

    With a plus sign the country code may be any (its digits are in the text). Without one, the
    number is either in the region's own country code (any region sharing it) or dialled through
    the region's international prefix (at least one more digit, then a written country code)."""
    written = _with_country_code()
    metadata = PhoneMetadata.metadata_for_region(region) if region else None
    if metadata is None:
        return written  # an unknown region parses only numbers with a country code
    idd = metadata.international_prefix
    prefix = 0 if idd is None or re.match(idd, "") else 1
    home = min(_family_shortest(metadata.country_code), written + prefix)
    return min(home, written) if plus else home


def _shape(candidate: str, leniency) -> tuple[int, bool] | None:
    """(letters+digits, has a plus sign) of a candidate; None when no bound applies to it (a
    leniency that does not validate, or RFC 3966 input, whose phone-context can add digits)."""
    if leniency < Leniency.VALID or "phone-context" in candidate.lower():
        return None
    return sum(c.isalnum() for c in candidate), any(p in candidate for p in PLUS)


def _too_short(shape: tuple[int, bool] | None, region: str | None) -> bool:
    return shape is not None and shape[0] < min_chars(region, shape[1])


class _BoundedMatcher(PhoneNumberMatcher):
    """The stock matcher, rejecting candidates too short to verify before parsing them, and
    remembering verdicts: under ``Leniency.VALID``, ``_parse_and_verify`` reads only the
    candidate, the characters just before and after it, the region and the leniency."""

    verdicts: dict = {}

    def _parse_and_verify(self, candidate, offset):
        if _too_short(_shape(candidate, self.leniency), self.preferred_region):
            return None
        return self.verified(candidate, offset)

    def verified(self, candidate: str, offset: int):
        if self.leniency != Leniency.VALID:
            return super()._parse_and_verify(candidate, offset)
        end = offset + len(candidate)
        key = (self.preferred_region, candidate, self.text[offset - 1] if offset > 0 else None,
               self.text[end] if end < len(self.text) else None)
        if key in self.verdicts:
            number = self.verdicts[key]
            return None if number is None else PhoneNumberMatch(offset, candidate, number)
        hit = super()._parse_and_verify(candidate, offset)
        if len(self.verdicts) > 200_000:
            self.verdicts.clear()
        self.verdicts[key] = None if hit is None else hit.number
        return hit


class _Recorder(PhoneNumberMatcher):
    """Runs the matcher's scan with every candidate rejected, recording what would be parsed."""

    def __init__(self, text: str, leniency):
        super().__init__(text, None, leniency=leniency)
        self.attempts: list[tuple[str, int, int]] = []

    def _parse_and_verify(self, candidate, offset):
        self.attempts.append((candidate, offset, self._max_tries))
        return None


def matches(text: str, regions, leniency) -> list[list]:
    """Per region, exactly the matches ``PhoneNumberMatcher(text, region, leniency)`` yields."""
    recorder = _Recorder(text, leniency)
    recorder._find(0)
    shaped = [(c, o, t, _shape(c, leniency)) for c, o, t in recorder.attempts]  # once, not per region
    out = []
    for region in regions:
        matcher = _BoundedMatcher(text, region, leniency=leniency)
        found = []
        for candidate, offset, tries, shape in shaped:
            if _too_short(shape, region):
                continue
            hit = matcher.verified(candidate, offset)
            if hit is not None:  # the original returns here; continue as it would
                found.append(hit)
                matcher._max_tries, matcher._search_index = tries, hit.end
                found.extend(matcher)
                break
        out.append(found)
    return out


class ReplayPhoneRecognizer(PhoneRecognizer):
    """``PhoneRecognizer`` whose ``analyze`` returns the same results, scanning each text once."""

    @classmethod
    def like(cls, stock: PhoneRecognizer) -> "ReplayPhoneRecognizer":
        return cls(context=stock.context, supported_language=stock.supported_language,
                   supported_entity=stock.supported_entities[0], supported_regions=stock.supported_regions,
                   leniency=stock.leniency, name=stock.name)

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for region, found in zip(self.supported_regions, matches(text, self.supported_regions, self.leniency)):
            for match in found:
                try:  # the region named in the explanation, as Presidio words it
                    region = phonenumbers.region_code_for_number(phonenumbers.parse(text[match.start:match.end]))
                except NumberParseException:
                    pass
                results.append(self._get_recognizer_result(match, text, region, nlp_artifacts))
        return EntityRecognizer.remove_duplicates(results)
