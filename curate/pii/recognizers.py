"""Recognizers sluice adds to Presidio's: names from shipped lists, secrets, addresses, and
custom ones declared in YAML.

* ``NameListRecognizer`` — PERSON from the first/last-name lists that ship inside Faker's
  locales (no model, no download). Cues keep common words down: a full name (first + last,
  both capitalized) scores high; a lone capitalized first name scores medium unless it is also a
  common English word; a name right after a cue ("my name is", "I'm", "Dear", "Mr.") is taken
  even in lower case. Recall on names outside the lists is lower than a NER model's.
* ``secret_recognizers()`` — API keys (``sk-…``, ``AKIA…``, GitHub/Slack tokens), bearer tokens,
  private key blocks.
* ``address_recognizer()`` — street addresses (number + street words + street suffix,
  optionally the ``City, ST 12345`` line after a line break).
* ``custom_recognizers(spec)`` — deny-lists and regexes with context words, from config.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

NAME_LOCALES = ("en_US", "en_GB", "en_IE", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "sv_SE",
                "pl_PL", "cs_CZ", "tr_TR", "ru_RU", "uk_UA", "da_DK", "fi_FI", "hu_HU", "ro_RO")
FIRST_ATTRS = ("first_names", "first_names_male", "first_names_female")
LAST_ATTRS = ("last_names", "last_names_male", "last_names_female", "male_last_names", "unisex_last_names")
# Name-list entries that are also everyday English words (or sentence-initial regulars): taken
# as names only next to a cue or a last name.
COMMON_WORDS = frozenset("""
will may mark bill grant rose june april august summer hope joy faith grace dawn eve ivy jack
king young white brown green black gray grey long little hill wood price rich page bell hall
lane cook case chance christian justice major miles penny ray rich sandy sky star stone storm
sunny victor ward wells west york art bob buck carol chip clay cliff dale dean dick drew earl
frank gene glen guy harry holly iris jean jewel lance lily mason max melody misty nick norm
pat pearl rob rod rusty sage scott shell sterling sue terry tom van velvet violet wade will
berry brook brooks church fox golden hunter lake love march moon north park rivers rock rush
snow spring street summers bishop baker butler carter cooper fisher foster gardner miller
porter potter shepherd smith taylor turner walker weaver wolf lee can an the and are so
""".split())
PATRONYMIC = ("ovich", "evich", "ovna", "evna", "ович", "евич", "овна", "евна", "ична", "ич")  # Russian middle names
CUES = ("my name is", "name is", "i am", "i'm", "im", "this is", "call me", "dear", "hi", "hello", "hey", "thanks",
        "thank you", "mr", "mrs", "ms", "dr", "miss", "name:", "contact", "regards", "sincerely", "ask for", "signed")


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Lower-cased first and last names from Faker's locale providers."""
    first, last = set(), set()
    for loc in NAME_LOCALES:
        try:
            p = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:
            continue
        for attrs, into in ((FIRST_ATTRS, first), (LAST_ATTRS, last)):
            for attr in attrs:
                names = getattr(p, attr, ())
                into.update(n.lower() for n in names if isinstance(n, str) and n.isalpha() and len(n) > 2)
    return frozenset(first), frozenset(last)


class NameListRecognizer(EntityRecognizer):
    """PERSON from shipped name lists with capitalization and context cues (see module doc)."""

    WORD = r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*"

    def __init__(self, extra_first: list[str] | None = None, extra_last: list[str] | None = None):
        self.extra_first = [n.lower() for n in extra_first or ()]
        self.extra_last = [n.lower() for n in extra_last or ()]
        super().__init__(supported_entities=["PERSON"], name="NameListRecognizer", supported_language="en")

    def load(self) -> None:
        import regex

        first, last = name_lists()
        self.first = first | set(self.extra_first)
        self.last = last | set(self.extra_last)
        self.word = regex.compile(self.WORD)
        cue = "|".join(regex.escape(c) for c in sorted(CUES, key=len, reverse=True))
        self.cue = regex.compile(rf"(?:^|[\s,.;:!?(\"'])(?:{cue})[\s,.:]*$", regex.IGNORECASE)

    def is_first(self, token: str) -> bool:
        return token in self.first or ("-" in token and any(p in self.first for p in token.split("-")))

    def is_last(self, token: str) -> bool:
        return token in self.last or ("-" in token and all(p in self.last for p in token.split("-") if p)) or \
            token.endswith(PATRONYMIC)

    def analyze(self, text, entities, nlp_artifacts=None):
        if not hasattr(self, "word"):
            self.load()
        if self.first.isdisjoint(p for w in self.word.findall(text) for p in w.lower().split("-")):
            return []  # no word (or part of a hyphenated word) is a first name: nothing to find
        words = list(self.word.finditer(text))
        out: list[RecognizerResult] = []
        i = 0
        while i < len(words):
            w = words[i]
            token = w.group().lower()
            nxt = words[i + 1] if i + 1 < len(words) else None
            joined = nxt is not None and text[w.end():nxt.start()] in (" ", "\u00a0")
            if not self.is_first(token):
                # "Иванов Дмитрий", "Karadeniz Tangül": a listed last name, then a listed first name
                if joined and w.group()[0].isupper() and nxt.group()[0].isupper() and token in self.last \
                        and token not in COMMON_WORDS and self.is_first(nxt.group().lower()):
                    out.append(self._result(w.start(), nxt.end(), 0.7))
                    i += 2
                    continue
                i += 1
                continue
            cued = bool(self.cue.search(text, max(0, w.start() - 16), w.start()))
            upper = w.group()[0].isupper()
            shouting = joined and len(w.group()) > 1 and w.group().isupper() and nxt.group().isupper()
            has_last = joined and (nxt.group()[0].isupper() or cued) and (
                self.is_last(nxt.group().lower()) or (cued and nxt.group().lower() not in COMMON_WORDS))
            if (has_last and (upper or cued)) or shouting:
                out.append(self._result(w.start(), nxt.end(), 0.85 if upper and has_last else 0.7))
                i += 2
                continue
            acronym = len(w.group()) > 1 and w.group().isupper()  # ANA, KLM: an airline, not Ana
            if cued or (upper and not acronym and token not in COMMON_WORDS and not _sentence_start(text, w.start())):
                out.append(self._result(w.start(), w.end(), 0.75 if cued else 0.5))
            i += 1
        return out

    def _result(self, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult("PERSON", start, end, score,
                                recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return not before or before[-1] in ".!?:\n\"“"


def _gated(recognizer: EntityRecognizer, gate: str, digits: bool = True) -> EntityRecognizer:
    """Attach a regex that every match of the recognizer contains (see ``gates.GATES``), written
    next to the patterns it is read off; ``digits``: every alternative of the gate holds a digit."""
    recognizer.sluice_gate = (gate, digits)
    return recognizer


def secret_recognizers() -> list[PatternRecognizer]:
    return [
        _gated(PatternRecognizer("API_KEY", name="ApiKeyRecognizer", patterns=[
            Pattern("openai", r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_\-]{20,}", 0.95),
            Pattern("aws access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0.95),
            Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", 0.95),
            Pattern("slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}", 0.95),
            Pattern("google api key", r"\bAIza[0-9A-Za-z_\-]{35}\b", 0.95),
        ], context=["key", "token", "secret", "api"]), r"sk-|AKIA|ASIA|gh[pousr]_|xox[abprs]-|AIza", digits=False),
        _gated(PatternRecognizer("BEARER_TOKEN", name="BearerTokenRecognizer", patterns=[
            Pattern("bearer", r"(?<=\bBearer\s)[A-Za-z0-9\-._~+/]{16,}=*", 0.9)]), r"Bearer\s", digits=False),
        _gated(PatternRecognizer("PRIVATE_KEY", name="PrivateKeyRecognizer", patterns=[
            Pattern("pem block", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|\Z)",
                    0.99)]), r"-----BEGIN ", digits=False),
    ]


def _street_suffixes() -> str:
    words = {"Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr", "Court",
             "Ct", "Way", "Place", "Pl", "Square", "Terrace", "Parkway", "Circle", "Highway", "Trail"}
    try:
        from faker.providers.address.en_US import Provider

        words |= {w.title() for w in Provider.street_suffixes}
    except ImportError:
        pass
    return "|".join(sorted(words, key=len, reverse=True))


def address_recognizer() -> PatternRecognizer:
    """Street addresses: ``623 Steven Well Suite 759, Port David, NJ 30330`` (one or two lines),
    ``Hauptstraße 5, 10115 Berlin``, ``PO Box 12``. Street words are capitalized (``10 most common``
    is no address), except before the common suffixes, so ``123 main st`` still matches."""
    street = _street_suffixes()
    core = "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl"
    city = r"(?:(?:,[ ]?|[ ]?\n[ ]?)\p{Lu}[\p{L}]*(?:[ ]\p{Lu}[\p{L}]*){0,3},?[ ][A-Z]{2}[ ]\d{5}(?:-\d{4})?)?"
    tail = r"\b\.?(?:,?[ ](?:Apt\.?|Apartment|Suite|Ste\.?|Unit|\#)[ ]?\d+[A-Z]?\b){0,2}" + city
    us = rf"\b\d{{1,6}}(?:[ ]\p{{Lu}}[\p{{L}}]*){{1,4}}[ ](?:{street})" + tail
    lower = rf"\b\d{{1,6}}(?:[ ][\p{{L}}]+){{1,3}}[ ](?i:{core})" + tail
    eu = r"\b[^\W\d_]+(?:straße|strasse|weg|gasse|platz|allee)[ ]\d{1,4}[a-z]?(?:,?[ ]\d{5}[ ][^\W\d_]+)?"
    po = r"\b(?:PO|P\.O\.)[ ]Box[ ]\d+" + city
    # US military mail: PSC 8242, Box 3718 / APO AA 67000 · Unit 4765 Box 8173 / DPO AE 07016 · USNS Lopez / FPO AP 10663
    military_post = r"[,]?[ ]?\n?[ ]?[ADF]PO[ ]A[AEP][ ]\d{5}(?:-\d{4})?\b"
    military = (r"\b(?:(?:PSC|Unit|CMR)[ ]\d{1,5},?[ ]Box[ ]\d{1,5}|(?:USNS|USNV|USS|USCGC)[ ]\p{Lu}[\p{L}]*)"
                + military_post)
    recognizer = PatternRecognizer("STREET_ADDRESS", name="StreetAddressRecognizer", patterns=[
        Pattern("us street", us, 0.7), Pattern("us street, any case", lower, 0.7), Pattern("de street", eu, 0.7),
        Pattern("po box", po, 0.7), Pattern("us military", military, 0.7)], context=["address", "ship", "live", "deliver"],
        global_regex_flags=regex.DOTALL | regex.MULTILINE)
    return _gated(recognizer, r"\d[ ][^\W\d_]|(?:straße|strasse|weg|gasse|platz|allee)[ ]\d|Box[ ]\d|PO[ ]A[AEP][ ]\d")


PLACE_LABEL = r"(?:localidad|provincia|municipio|ciudad|población|poblacion|país|pais|domicilio|residencia|" \
              r"wohnort|ort|stadt|land|ville|commune|pays|city|town|country|province|county)"
PLACE_AFTER_LABEL = regex.compile(
    rf"\b(?i:{PLACE_LABEL})(?:[ ]?/[ ]?(?i:{PLACE_LABEL}))?[ ]?:[ ]*"
    r"(?P<place>\p{Lu}[\p{L}'’-]*(?:(?:[ ](?:de|del|la|las|los|el|y|am|an|der|sur|en)|,)?[ ]\p{Lu}[\p{L}'’-]*){0,3})")
# a postcode: after its label ("CP: 28016", "PLZ 10115"), or five digits in an address line next to
# its town ("2º dcha 28036 Madrid", "Baracaldo 48902.")
POSTCODE = regex.compile(
    r"(?<=\b(?i:cp|c\.p\.|código postal|codigo postal|plz|postleitzahl|code postal|postcode|post code|zip code|zip)"
    r"[ ]?:?[ ]?)\d{4,5}(?!\d)"
    r"|(?<=[\p{L}\dº.,/-][ ]|\n)\d{5}(?=[ ,.]+\p{Lu}\p{Ll}{2,})"
    r"|(?<=\p{Lu}\p{Ll}+,?[ ])\d{5}(?=[ ]?[.,;)]|[ ]?$)", regex.MULTILINE)


class PlaceRecognizer(EntityRecognizer):
    """LOCATION from the structure of forms and addresses, in any language: the value after a place
    label ("Localidad/ Provincia: Madrid", "Wohnort: Meran", "City: Springfield") and postcodes
    ("CP: 28016", "28036 Madrid"), which NER does not tag (MEDDOCAN tune, BENCHMARKS.md round four)."""

    def __init__(self):
        super().__init__(supported_entities=["LOCATION"], name="PlaceRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        out = []
        for m in PLACE_AFTER_LABEL.finditer(text):
            out.append(self._result(*m.span("place")))
        out += [self._result(*m.span()) for m in POSTCODE.finditer(text)]
        return out

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult("LOCATION", start, end, 0.6,
                                recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})


def place_recognizers() -> list[EntityRecognizer]:
    return [_gated(PlaceRecognizer(), rf"{PLACE_LABEL}[ ]?(?:/[ ]?\w+[ ]?)?:|\d{{4}}", digits=False)]


def extra_number_recognizers() -> list[EntityRecognizer]:
    """Cards and phones Presidio's own recognizers miss: Mastercard's 2-series (Luhn-checked, like
    Presidio's), and formatted phone numbers that libphonenumber rejects as unassigned."""
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    card = _gated(CreditCardRecognizer(name="MastercardSeries2Recognizer", patterns=[
        Pattern("mastercard 2-series", r"\b2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)(?:[- ]?\d{4}){3}\b", 0.3)]),
        r"2\d{3}[- ]?\d{4}")
    phone = PatternRecognizer("PHONE_NUMBER", name="PhonePatternRecognizer", patterns=[
        Pattern("international", r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)", 0.6),
        Pattern("nanp", r"\b(?:\d{3}-\d{3}-\d{4}|\(\d{3}\) ?\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4})(?: ?x\d{1,5})?\b", 0.6),
        Pattern("digits with context", r"(?<![\d-])0\d{9,11}(?![\d-])", 0.45)],
        context=["phone", "call", "tel", "telephone", "telefon", "mobile", "cell", "number", "reach"])
    # "my phone number is 3623981475": a bare digit run right after a phone cue, whatever libphonenumber says
    cue = (r"(?:\b(?:phone|mobile|cell|telephone|tel|whatsapp)(?:[ ](?:number|no\.?|\#))?(?:[ ]?:|[ ](?:is|at|on))"
           r"|\b(?:phone|mobile|cell|telephone)[ ]number"
           r"|\b(?:call|text|ring)(?:[ ](?:me|us|him|her))?(?:[ ]back)?(?:[ ](?:at|on))?"
           r"|\b(?:reach|contact)[ ](?:me|us|him|her)[ ](?:at|on))[ ]")
    digits = r"\+?(?:\d[.\- ]?){6,14}\d(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?"  # 7–15 digits, any grouping
    cued = PatternRecognizer("PHONE_NUMBER", name="CuedDigitsPhoneRecognizer", patterns=[
        Pattern("digits after a phone cue", rf"(?<={cue}){digits}(?![\w\-/.,]\d|\w)", 0.6)])
    return [card, _gated(phone, r"\+\d|\d{3}[-.)]|0\d{9}"),  # international | nanp | digits with context
            _gated(cued, r"\d[.\- ]?\d[.\- ]?\d")]


def custom_recognizers(spec: list) -> list[EntityRecognizer]:
    """Recognizers declared in config (see ``CustomRecognizer`` in stage.py)."""
    out: list[EntityRecognizer] = []
    for i, r in enumerate(spec):
        name = r.name or f"Custom{i}_{r.entity}"
        if r.deny_list:
            out.append(PatternRecognizer(r.entity, name=name, deny_list=list(r.deny_list),
                                         deny_list_score=r.score, context=list(r.context) or None))
        if r.patterns:
            pats = [Pattern(f"{name}_{j}", p, r.score) for j, p in enumerate(r.patterns)]
            out.append(PatternRecognizer(r.entity, name=f"{name}_regex" if r.deny_list else name, patterns=pats,
                                         context=list(r.context) or None))
    return out
