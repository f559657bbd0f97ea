"""Presidio's analysis over many texts: the same findings as ``AnalyzerEngine.analyze``, faster.

``Detector.analyze_many`` returns exactly what Presidio's ``AnalyzerEngine.analyze`` returns for
each text, with the same recognizers, entities and allow-list. ``Detector.presidio`` is that
stock call, kept as the baseline. The speed comes from work that provably cannot change a
finding:

* identical texts are analyzed once;
* a recognizer is not asked about a text that lacks what every one of its matches contains
  (``GATES``: ``@`` for e-mail, a run of 8 digits for a bank number, ``-----BEGIN `` for a key
  block, …). Each gate is read off the recognizer's own patterns and compiled the way Presidio
  compiles them;
* libphonenumber scans each text once instead of once per region (``phone.py``);
* with a NER engine, spaCy runs once per distinct text, in batches (``nlp.pipe``), with only the
  components NER needs (``nlp.load_ner``); Presidio's analyze gets those artifacts instead of
  running spaCy again;
* without NER, spaCy runs only when something reads the NLP artifacts. With sluice's lower-case
  lemmas, that means a finding under the maximum score whose recognizer has a context word that
  occurs in the text at all; a result no context can lift over the threshold is dropped before
  Presidio's post-processing, and a text left with no result skips it.

``Detector.findings`` is what sluice acts on: those findings minus ``plausible``'s few rejections.
"""

from __future__ import annotations

import functools

import regex
from presidio_analyzer import EntityRecognizer

from .engine import EngineConfig, build_analyzer
from .gates import DIGIT, GATES, GatedEnhancer, GatedRegistry, score_fixed  # noqa: F401  (GATES: re-exported)
from .lexicon import NOT_AN_ENTITY, OPENERS, TECH_WORDS, UI_WORDS  # noqa: F401  (vocabulary shared with names.py)

NER_BATCH = 256  # texts per nlp.pipe batch
NER_CHUNK = 2048  # texts whose spaCy docs are held at once (analyze_many)

# Number types that are never the digits of an identifier such as ORD-069306 or INV-2024-0091.
NUMBER_TYPES = frozenset({"PHONE_NUMBER", "US_BANK_NUMBER", "UK_NHS", "US_DRIVER_LICENSE", "MEDICAL_LICENSE",
                          "US_PASSPORT", "US_ITIN"})
IDENTIFIER_PREFIX = regex.compile(r"(?:\b[A-Za-z]{1,8}[-_#]|#)$")
PLACEHOLDER = regex.compile(r"<[A-Z][A-Z_]*(?:_\d+|:[0-9a-f]{8,})>")  # what redact_pii writes
NOT_A_NAME = frozenset({"my", "i", "me", "hi", "hello", "hey", "dear", "thanks", "thank", "yes", "no", "ok", "okay",
                        # instruction verbs the small NER model tags as PERSON at the start of a prompt
                        "convert", "reword", "rewrite", "rephrase", "paraphrase", "summarize", "summarise", "classify",
                        "categorize", "generate", "describe", "explain", "translate", "edit", "compose", "create",
                        "identify", "analyze", "analyse", "calculate", "compare", "suggest", "construct", "design",
                        "evaluate", "outline", "brainstorm", "formulate", "arrange", "determine", "predict"})
NER_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP"})
PERSON_CUE = regex.compile(r"(?i:\b(?:mr|mrs|ms|dr|dra|prof|miss|herr|frau|señor|señora|sr|sra|monsieur|madame|"
                           r"name is|name:|called|named|signed|"
                           # a form label whose value is a name (names.LABEL: "Nombre: Elio", "Nachname: Weiß")
                           r"nombre:|apellidos?:|médico:|medico:|paciente:|patient:|surname:|vorname:|nachname:|"
                           r"prénom ?:|nom ?:)\.?)[ ]+$")
CAMEL = regex.compile(r"^(?!(?:Mc|Mac|Di|De|Da|Du|Le|La|Van|Von|O'|D')\p{Lu})\p{L}*\p{Ll}\p{Lu}\p{L}*$")
ERROR_NAME = regex.compile(r"^[A-Z][A-Za-z]*(?:Error|Exception|Warning|Fault|Interrupt)$")


def technical(value: str) -> bool:
    """A product, library, error name or UI label, not a person, place or organisation: every word
    is technical vocabulary, a CamelCase identifier (``SQLAlchemy``, not ``McDonald``), an error
    name (``IndexError``), or every word is an interface label ("Account Settings")."""
    words = value.split()
    if not words:
        return False
    if all(w in TECH_WORDS or CAMEL.match(w) or ERROR_NAME.match(w) for w in words):
        return True
    return all(w.lower() in UI_WORDS for w in words) and value[0].isupper()


ARTICLE = regex.compile(r"^(?i:the|la|le|les|l'|el|los|las|die|der|das|den)\s*")


def public_place(value: str) -> bool:
    """A country, territory or continent (CLDR names in en/de/fr/es, ``lexicon.public_places``),
    with or without its article ("the United States", "la France"): not personal data by itself,
    left unredacted only when the recipe opts in (``keep_places``; BENCHMARKS.md, "PII round three
    (issue #27)")."""
    from .lexicon import public_places

    return ARTICLE.sub("", value.strip()).lower() in public_places()


def common_word(value: str) -> bool:
    """One capitalised word whose lower case is an English verb, adjective or adverb and no census
    name ("Iterate", "Digital", "Homeless"): what the small English model tags at the start of a
    line or in a title, never a name (``lexicon.common_words``)."""
    from .lexicon import common_words

    return " " not in value and value[:1].isupper() and value[1:].islower() and value.lower() in common_words()


CODE = regex.compile(r"[()\[\]{}=_<>/\\]|\b[a-z]\w*\.[a-z]\w*")  # len(arr, counts.items: code, not a name
LOWER = regex.compile(r"\p{Ll}")  # an acronym in text written in capitals (an address, a headline) may be a name
ACRONYM = regex.compile(r"^[A-Z]{3}$")  # "IPO", "CPU", "MTV": an acronym, not a private organisation's name


def line_initial_word(text: str, result, value: str) -> bool:
    """One capitalised word opening a line or sentence (a list item, "Rice, beans, cheese") that is
    an English dictionary word and no census name: its capital says nothing about being a name."""
    from .lexicon import first_names, in_dictionary, surnames

    word = value.rstrip(".,;:'’s") if value.endswith(("'s", "’s")) else value.rstrip(".,;:")
    if " " in word or not word[:1].isupper():
        return False
    before = text[:result.start].rstrip(" \t•*-·\"'“(")
    if before and before[-1] not in "\n.!?:":
        return False
    w = word.lower()
    return in_dictionary(word) and w not in first_names() and w not in surnames()


def whole_line(text: str, result) -> bool:
    """The finding is all its line holds (a heading or list item), bullets and punctuation aside."""
    before = text[:result.start].rstrip(" \t•*-·#")
    after = text[result.end:].lstrip(" \t.:;!?")
    return (not before or before[-1] == "\n") and (not after or after[0] == "\n")


def common_phrase(value: str) -> bool:
    """Two or more capitalised words, each an English dictionary word (nouns included) and none a
    census first name or frequent surname ("Professional Development", "Copyright Laws"): a title
    or heading, not a person's name. Only for PERSON: names of places and organisations are often
    made of dictionary words ("New York", "Planned Parenthood")."""
    from .lexicon import first_names, in_dictionary, surnames

    words = [w.strip(".,;:'’()") for w in value.split()]
    if len(words) < 2 or not all(w[:1].isupper() or w.lower() in PARTICLES for w in words):
        return False
    f, last = first_names(), surnames()
    return all(in_dictionary(w) and w.lower() not in f and w.lower() not in last for w in words if w)


def opener(text: str, result) -> bool:
    """A greeting at the start of a text or line ("Buenos días", "Привет") taken for an entity."""
    value = text[result.start:result.end].strip(" ,!.¡")
    before = text[:result.start].rstrip(" ¡¿\"'")
    return (not before or before[-1] in "\n.!?") and all(w.lower() in OPENERS for w in value.split()) \
        and bool(value)


EN_FUNCTION = frozenset("the a an and or but is are was were be been am i you he she it we they me him her us them my your his "
                        "its our their this that these those to of in on at for with from by as not no yes".split())
EN_WORDS = frozenset("the and is are you your to of for in on with this that it have my please can what".split())
OTHER_WORDS = frozenset("""der die das und ist nicht ein eine ich sie du bitte mit für le la les est et pas une je vous
pour avec el los es y una por para con usted mi que il di che non per sono""".split())
WORD = regex.compile(r"[^\W\d_]+")


def not_english(text: str) -> bool:
    """True when a text's function words are clearly another language's (English NER then tags
    ordinary words: "Du bist ein freundlicher Assistent" → two ORGANIZATIONs) — or it has no
    Latin letters at all (Cyrillic, CJK)."""
    words = [w.lower() for w in WORD.findall(text[:2000])]
    if words and not any(w.isascii() for w in words) and not any(regex.match(r"\p{Latin}", w) for w in words):
        return True
    other, english = sum(w in OTHER_WORDS for w in words), sum(w in EN_WORDS for w in words)
    return other >= 2 and other > english


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()  # CJK text touches numbers without a space


# Languages whose NER findings pass ``ner_noise``, measured on the first 40 rows of each pii_dev
# half, with and without the filter (BENCHMARKS.md, "#27"): Spanish precision 0.48/0.42 →
# 0.77/0.76 for all-entity survival +0.04; German (person surviving 0.13/0.03 → 0.21/0.13) and
# French (0.06/0.11 → 0.28/0.37) lost far more recall than they gained precision, so they keep
# every finding: a leak costs more than over-redaction.
NOISE_LANGUAGES = frozenset({"es"})


def ner_noise(text: str, result, value: str) -> bool:
    """What a NER model tags in text that is not English and is no name, place or organisation
    (structural, in any language): a form label before its colon ("Provincia:", "Apellidos:"); a
    word with no capital (names and places are capitalised in these languages); one capitalised
    word opening a sentence that no name list knows ("Antecedentes", "También"); an organisation
    that is a short acronym ("NHC", "CP": clinical and form abbreviations); a run with a lower-case
    word that is no particle ("Personen eingefunden hatten"); one word with a German common-noun
    ending that no name list knows ("Versammlung")."""
    words = value.split()
    if not words:
        return False
    after = text[result.end:result.end + 3].lstrip(" ")
    before = text[:result.start].rstrip(" \t")
    line_start = not before or before[-1] == "\n"
    if after.startswith(":") and (line_start or before[-1] in ".;,"):
        return True
    if not any(ch.isupper() for ch in value):
        return True
    if len(words) == 1 and (not before or before[-1] in "\n.!?:") and value.lower() not in name_set():
        return True
    if len(words) > 1 and any(w[0].islower() and w.lower() not in PARTICLES for w in words[1:]):
        return True  # "Personen eingefunden hatten": a name's inner words are capitalised or particles
    if len(words) == 1 and GERMAN_NOUN.search(value) and value.lower() not in name_set():
        return True  # "Versammlung", "Gedankenaustausch": German common nouns, capitalised as all nouns are
    return result.entity_type == "ORGANIZATION" and len(words) == 1 and len(value) <= 4 and value.isupper()


PARTICLES = frozenset("von van de der den del della di da du la le las los zu zum zur y e et und and of ten ter "
                      "bin al el".split())
# endings of German (and Dutch) common nouns that names rarely have: -ung, -heit, -keit, -schaft, …
GERMAN_NOUN = regex.compile(r"(?:ung|ungen|heit|keit|schaft|nisse?|tät|ion|ionen|chen|lein|ismus|ment|tausch|"
                            r"sammlung|stände|gäste|tage|tagen|zeit)$")


@functools.lru_cache(maxsize=1)
def name_set() -> frozenset:
    from .recognizers import name_lists

    first, last = name_lists()
    return first | last


def english_noise(text: str, result, value: str) -> bool:
    """What the small English model tags in English text that is no name (BENCHMARKS.md, "PII round
    three"): a verb, adjective or adverb (``common_word``); code (``len(arr``); a heading of
    dictionary words as PERSON, or as anything on a line of its own (``common_phrase``; not in
    text written in capitals, where addresses and company names are); a three-letter acronym as
    ORGANIZATION in mixed-case text ("IPO", "CPU"); a dictionary word opening a line or sentence
    as PERSON or ORGANIZATION (``line_initial_word``)."""
    kind = result.entity_type
    if common_word(value) or CODE.search(value):
        return True
    if (kind == "PERSON" or whole_line(text, result)) and not value.isupper() and common_phrase(value):
        return True
    if kind == "ORGANIZATION" and ACRONYM.match(value) and LOWER.search(text, max(0, result.start - 30),
                                                                       result.end + 30):
        return True
    return kind != "LOCATION" and line_initial_word(text, result, value)


def plausible(text: str, result, lang: str | None = None, keep_places: bool = False) -> bool:
    """sluice's one rule on top of Presidio's findings: digits glued to a letter prefix (``ORD-``,
    ``#``) or inside a token are an identifier, not a phone or bank number; a greeting or pronoun
    is no PERSON, nor is an instruction verb ("Convert …"); "AI", "GPT", "Earth" and the like are no
    place, organisation or person (``NOT_AN_ENTITY``); a finding inside a placeholder that redaction wrote (``<PERSON_1>``) is no new
    PII; in text of another language (``lang``), NER's ``ner_noise`` is dropped. (NER on a text of a
    language no model covers answers nothing at all: see ``engine._covered_only``.)"""
    if "<" in text and any(m.start() <= result.start and result.end <= m.end() + 1
                           for m in PLACEHOLDER.finditer(text, max(0, result.start - 40), result.end + 40)):
        return False
    if result.entity_type in NUMBER_TYPES and (
            IDENTIFIER_PREFIX.search(text, max(0, result.start - 9), result.start)
            or (result.start > 0 and _ascii_alnum(text[result.start - 1]))
            or (result.end < len(text) and _ascii_alnum(text[result.end]))):
        return False  # ORD-069306, sess_7cf0123456c30: digits of an identifier
    value = text[result.start:result.end].strip()
    if result.entity_type in NER_TYPES and value in NOT_AN_ENTITY:
        return False
    if keep_places and result.entity_type in NER_TYPES and public_place(value):
        return False
    if lang == "en" and result.entity_type in NER_TYPES and english_noise(text, result, value) \
            and (result.recognition_metadata or {}).get("recognizer_name") == "SpacyRecognizer" \
            and not PERSON_CUE.search(text, max(0, result.start - 20), result.start):
        return False
    if result.entity_type in NER_TYPES and (technical(value) or opener(text, result)) \
            and not PERSON_CUE.search(text, max(0, result.start - 20), result.start) \
            and (result.recognition_metadata or {}).get("recognizer_name") != "HandleRecognizer":
        return False  # a handle's CamelCase (@MissMcCleary, @LanaDelRey) is a person's spelling, not code
    if lang in NOISE_LANGUAGES and result.entity_type in NER_TYPES and ner_noise(text, result, value) \
            and (result.recognition_metadata or {}).get("recognizer_name") == "SpacyRecognizer" \
            and not PERSON_CUE.search(text, max(0, result.start - 20), result.start):
        return False  # a name after a form label ("Nombre: Elio"): Presidio kept NER's copy of the cue's finding
    return not (result.entity_type == "PERSON" and value.lower() in NOT_A_NAME)


BULLET = regex.compile(r"^[-*•·]\s+")
LIST_MARK = regex.compile(r"^\s*(?:[a-zA-Z0-9]{1,2}[.)]|[-*•])\s+|\s+$")


def by_line(text: str, result) -> list:
    """A NER finding that runs across line breaks ("a. Angela Merkel\\nb.", a list the model read
    as one name) as one finding per line, list markers and blanks trimmed; any other finding as is."""
    value = text[result.start:result.end]
    if result.entity_type not in NER_TYPES or ("\n" not in value and not BULLET.match(value)):
        return [result]
    from presidio_analyzer import RecognizerResult

    out, at = [], result.start
    for line in value.split("\n"):
        start, end = at, at + len(line)
        at = end + 1
        m = LIST_MARK.match(line)
        if m and m.end() < len(line) and m.group().strip():
            start += m.end()
        while end > start and text[end - 1] in " \t.,;:":
            end -= 1
        while start < end and text[start] in " \t":
            start += 1
        if end - start >= 2 and any(ch.isupper() for ch in text[start:end]):
            out.append(RecognizerResult(result.entity_type, start, end, result.score, result.analysis_explanation,
                                        result.recognition_metadata))
    return out


# How German text read by a fallback model (the French one) is cleaned, each rule measured on the
# dev half of pii_dev (BENCHMARKS.md, "PII round four (#27)"): "split": a finding is cut into its
# runs of capitalised words (German names and places are capitalised; the French model runs
# spans across "sich dann zu einem"); "stop": a run that is one German function word ("Sie", "Im")
# is dropped; "freq": a run that is one word more frequent in German than ``DE_ZIPF`` on the
# Zipf scale (wordfreq) and in no name list or place list is a common noun and dropped.
DE_RULES = frozenset({"split", "stop"})  # "freq" off: every threshold cost more leaks than it saved (the curve)
DE_ZIPF = 4.0
CAP_RUN = regex.compile(r"\p{Lu}[\p{L}'’.-]*(?:[ ]+(?:(?:von|van|de|der|den|zu|di|da|del|la|le)[ ]+)?\p{Lu}[\p{L}'’.-]*)*")


@functools.lru_cache(maxsize=1)
def _german_stop_words() -> frozenset:
    try:
        from spacy.lang.de.stop_words import STOP_WORDS
    except ImportError:
        return frozenset()
    return frozenset(STOP_WORDS)


def _german_common(word: str) -> bool:
    """One word frequent in German (wordfreq's Zipf scale, at least ``DE_ZIPF``) that no name list or
    place list knows: a common noun, capitalised as every German noun is."""
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        return False  # without the word list nothing is dropped: fail towards redacting
    from .lexicon import first_names, public_places, surnames

    w = word.strip(".,;:'’").lower()
    if w in name_set() or w in first_names() or w in surnames() or w in public_places():
        return False
    return zipf_frequency(w, "de") >= DE_ZIPF


def german(text: str, result) -> list:
    """A fallback model's finding on German text, cleaned by ``DE_RULES``: its capitalised runs
    (each a finding), minus function words and common nouns. Findings of other recognizers pass."""
    if (result.recognition_metadata or {}).get("recognizer_name") != "SpacyRecognizer" \
            or result.entity_type not in NER_TYPES:
        return [result]
    from presidio_analyzer import RecognizerResult

    parts = [(result.start, result.end)]
    if "split" in DE_RULES:
        parts = [(result.start + m.start(), result.start + m.end())
                 for m in CAP_RUN.finditer(text[result.start:result.end])]
    out = []
    for start, end in parts:
        while end > start and text[end - 1] in ".,;:-":
            end -= 1
        value = text[start:end]
        if end - start < 2:
            continue
        if " " not in value:
            if "stop" in DE_RULES and value.lower() in _german_stop_words():
                continue
            if "freq" in DE_RULES and _german_common(value):
                continue
        out.append(RecognizerResult(result.entity_type, start, end, result.score, result.analysis_explanation,
                                    result.recognition_metadata))
    return out


NAME_TOKEN = regex.compile(r"\p{Lu}[\p{L}'’-]*")
JUNK_TAIL = regex.compile(r"(?:[ ]+(?:\S*[\dº°#/]\S*|\p{Lu}{1,3}\.?))+$")  # "Alberto Miján NºCol", "Ana Ruiz DR"


ECHO_MIN = 4  # letters of a name part that echoes (the curve: BENCHMARKS.md, "PII round six")
ECHO_WHOLE_WORD = False  # True: a one-word finding echoes as it is, dictionary word or not (the curve: no gain, +33 Alpaca findings)


def _echo_word(w: str) -> bool:
    from .lexicon import OPENERS as opening

    low = w.lower()
    return len(w) >= ECHO_MIN and w.isalpha() and low not in NOT_A_NAME and low not in opening \
        and low not in _german_stop_words() and low not in EN_FUNCTION and not public_place(w)


def echo_words(value: str, lang: str | None) -> list[str]:
    """What a PERSON finding's value lets us find again elsewhere in its text: the whole name (two
    words or more, a trailing label or number cut off; one word as it is written, ``ECHO_WHOLE_WORD``)
    and each capitalised word of it that is a name's spelling only — ``ECHO_MIN`` letters
    or more, not in capitals, no English dictionary word in any inflection ("Will", "Grace", "Smith"
    stay where they are), no function word, greeting or country."""
    from .lexicon import in_dictionary

    value = JUNK_TAIL.sub("", value.strip())
    if " " not in value and ECHO_WHOLE_WORD:
        return [value] if _echo_word(value.rstrip("'’-")) else []
    words = NAME_TOKEN.findall(value)
    out = [value] if " " in value else []
    for w in words:
        w = w.rstrip("'’-")
        if _echo_word(w) and not w.isupper() and not in_dictionary(w):
            out.append(w)
    return out


def echoes(text: str, results: list, lang: str | None = None) -> list:
    """Every other occurrence in the same text of a person's name already found there (``echo_words``):
    a clinical report names its doctor once after "Médico:" and again after "Remitido por: DR",
    a news item writes the full name once and the surname after. Case-sensitive, whole words (a
    capital before is allowed: "DRAlberto"), only where no finding is yet. Measured on the dev
    half of ``pii_dev`` (BENCHMARKS.md, "PII round six (#27)")."""
    names = {w for r in results if r.entity_type == "PERSON" for w in echo_words(text[r.start:r.end], lang)}
    if not names:
        return []
    from presidio_analyzer import RecognizerResult

    taken = [(r.start, r.end) for r in results]
    out = []
    for name in sorted(names, key=len, reverse=True):
        for m in regex.finditer(rf"(?<![\p{{Ll}}\d]){regex.escape(name)}(?![\p{{L}}\d])", text):
            if not any(s < m.end() and m.start() < e for s, e in taken):
                taken.append(m.span())
                out.append(RecognizerResult("PERSON", m.start(), m.end(), 0.6, None,
                                            {"recognizer_name": "EchoRecognizer"}))
    return out


COORD_LEVEL = 1  # 0: off; 1: names joined to a found name by a comma or "and" in any language (the curve: BENCHMARKS.md)
JOIN = r"(?:,[ ]*|[ ]+(?:und|et|y|and|e|u\.)[ ]+)"
RUN = r"\p{Lu}[\p{L}'’-]+(?:[ ]\p{Lu}[\p{L}'’-]+){0,2}"
AFTER_NAME = regex.compile(rf"{JOIN}({RUN})(?![\p{{L}}\d])")
BEFORE_NAME = regex.compile(rf"(?<![\p{{L}}\d])({RUN}){JOIN}$")


def _coord_ok(value: str, lang: str | None) -> bool:
    from .lexicon import OPENERS as opening, in_dictionary

    words = value.split()
    return all(len(w) >= 2 and w.lower() not in NOT_A_NAME and w.lower() not in opening and w.lower() not in EN_FUNCTION
               and w.lower() not in _german_stop_words() and not w.isupper() for w in words) \
        and not public_place(value) and not (lang == "en" and all(in_dictionary(w) for w in words))


def coordinated(text: str, results: list, lang: str | None = None) -> list:
    """Capitalised words joined to a person's name by a comma or "and"/"und"/"et"/"y" (a list of
    names: "Brenner, Kellenmayer, Burger", "Sesst und Altenburger"), each a name too; repeated while
    the list goes on. Not a function word, a greeting, a country, a word in capitals, nor (in English)
    dictionary words only."""
    if not COORD_LEVEL:
        return []
    from presidio_analyzer import RecognizerResult

    taken = [(r.start, r.end) for r in results]
    frontier = [(r.start, r.end) for r in results if r.entity_type == "PERSON"]
    out = []
    for _ in range(8):
        found = []
        for start, end in frontier:
            m = AFTER_NAME.match(text, end)
            spans = [m.span(1)] if m else []
            b = BEFORE_NAME.search(text, max(0, start - 60), start)
            if b:
                spans.append(b.span(1))
            for a, z in spans:
                if not any(s < z and a < e for s, e in taken) and _coord_ok(text[a:z], lang):
                    taken.append((a, z))
                    found.append((a, z))
                    out.append(RecognizerResult("PERSON", a, z, 0.5, None, {"recognizer_name": "ListNameRecognizer"}))
        if not found:
            break
        frontier = found
    return out


class Detector:
    """Findings per text, identical to Presidio's ``AnalyzerEngine.analyze(text, entities=…,
    allow_list=…)`` on the same recognizers (``presidio``), computed faster (``analyze_many``)."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self.analyzer, self.info = build_analyzer(config, fast=True)
        self.registry: GatedRegistry = self.analyzer.registry
        self.lower_lemmas = isinstance(self.analyzer.context_aware_enhancer, GatedEnhancer)
        self._stock = None
        self._added: list = []
        self.cache: dict[str, list] = {}
        self._plan()

    def _plan(self) -> None:
        """The recognizers Presidio picks for our entities, each with its gate (or None)."""
        self.registry.only = None
        chosen = self.registry.get_recognizers("en", entities=list(self.info.entities))
        order = {id(r): i for i, r in enumerate(self.registry.recognizers)}
        chosen.sort(key=lambda r: order.get(id(r), len(order)))  # a stable order, for reproducible runs
        self.plan = [(r, *self.registry.gates.get(id(r), (None, None))) for r in chosen]
        # Dropping a result early is safe only while no recognizer's own context step looks at
        # the others' results (Presidio's recognizers leave that step as the base no-op).
        self.prune = all(type(r).enhance_using_context is EntityRecognizer.enhance_using_context for r in chosen)

    def add_recognizer(self, recognizer) -> None:
        """Add a recognizer to both engines (it runs on every text; no gate)."""
        self.registry.add_recognizer(recognizer)
        self._added.append(recognizer)
        if self._stock is not None:
            self._stock.registry.add_recognizer(recognizer)
        self.cache.clear()
        self._plan()

    def kwargs(self) -> dict:
        c = self.config
        return {"language": c.language, "entities": list(self.info.entities),
                "allow_list": list(c.allow_list) or None}

    def presidio(self, text: str) -> list:
        """The baseline: Presidio's stock engine and recognizers, analyze called as is."""
        if self._stock is None:
            self._stock, _ = build_analyzer(self.config)
            for r in self._added:
                self._stock.registry.add_recognizer(r)
        return self._stock.analyze(text, **self.kwargs())

    def analyze(self, text: str) -> list:
        return self.analyze_many([text])[0]

    def findings(self, texts: list[str]) -> list[list]:
        """What sluice acts on: Presidio's findings (``analyze_many``) after ``refine``, computed
        once per distinct text."""
        distinct = list(dict.fromkeys(texts))
        kept = {t: self.refine(t, rs) for t, rs in zip(distinct, self.analyze_many(distinct))}
        return [kept[t] for t in texts]

    def refine(self, text: str, results: list) -> list:
        """sluice's rules over one text's raw Presidio findings: spans cut at line breaks
        (``by_line``), German read by a fallback model cut to capitalised runs (``german``), then
        ``plausible``."""
        from .nlp import text_language

        if not results:
            return []
        lang = text_language(text)
        rs = [p for r in results for p in by_line(text, r)]
        if lang == "de":
            rs = [p for r in rs for p in german(text, r)]
        kept = [r for r in rs if plausible(text, r, lang, self.config.keep_places)]
        kept += coordinated(text, kept, lang)
        return kept + echoes(text, kept, lang)

    def analyze_many(self, texts: list[str]) -> list[list]:
        """Findings per text. With NER, spaCy runs once per distinct new text, batched (``nlp.pipe``)
        over ``NER_CHUNK`` texts at a time (their docs are dropped once analyzed)."""
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if len(self.cache) + len(todo) > 200_000:
            self.cache.clear()
        for at in range(0, len(todo), NER_CHUNK):
            chunk = todo[at:at + NER_CHUNK]
            artifacts = self._ner_artifacts(chunk) if self.info.ner else [None] * len(chunk)
            for text, nlp_artifacts in zip(chunk, artifacts):
                self.cache[text] = self._analyze_one(text, nlp_artifacts)
        return [self.cache[t] for t in texts]

    def _ner_artifacts(self, texts: list[str]) -> list:
        """Presidio's NlpArtifacts per text. A text in a language no NER model covers is only
        tokenized: NER there answers nothing (``engine._covered_only`` drops every NER result
        before anything reads it), and the tokens and lemmas that context words are matched
        against come from the tokenizer alone (the NER-only pipelines set no token attribute)."""
        engine = self.analyzer.nlp_engine
        route = getattr(engine, "route", None)
        if route is None:
            return [a for _, a in engine.process_batch(texts, "en", batch_size=NER_BATCH)]
        out: list = [None] * len(texts)
        ner: list[int] = []
        for i, text in enumerate(texts):
            lang, key = route(text)
            if lang == key:  # a pipeline of its own (or a declared fallback) reads this language
                ner.append(i)
            else:
                out[i] = engine._doc_to_nlp_artifact(engine.nlp[key].make_doc(text), key)
        for i, (_, a) in zip(ner, engine.process_batch([texts[i] for i in ner], "en", batch_size=NER_BATCH)):
            out[i] = a
        return out

    def _analyze_one(self, text: str, nlp_artifacts=None) -> list:
        artifacts = nlp_artifacts if nlp_artifacts is not None else _LazyArtifacts(self.analyzer.nlp_engine, text)
        entities = list(self.info.entities)
        lowered = text.lower() if self.lower_lemmas else None
        found = []
        has_digit = {kind: rx.search(text) is not None for kind, rx in DIGIT.items()}
        for recognizer, gate, digit in self.plan:
            if (digit is None or has_digit[digit]) and (gate is None or gate.search(text)):
                results = recognizer.analyze(text, entities, artifacts)
                if results and lowered is not None and self.prune and self.fixed_threshold(recognizer):
                    # a score that stays as it is and is under the threshold: Presidio drops it later
                    low = self.analyzer.default_score_threshold
                    results = [r for r in results if r.score >= low or not score_fixed(r, recognizer, lowered)]
                if results:
                    found.append(_Found(recognizer, results))
        if not found:  # Presidio's analyze would return [] too: no recognizer result to keep
            return []
        self.registry.only = found
        try:
            return self.analyzer.analyze(text, nlp_artifacts=artifacts, **self.kwargs())
        finally:
            self.registry.only = None

    @staticmethod
    def fixed_threshold(recognizer) -> bool:
        """True when the engine's default threshold applies to the recognizer's results (it sets
        no thresholds of its own)."""
        return not getattr(recognizer, "score_thresholds", None)


class _Found:
    """A recognizer whose results for the text at hand are already known: Presidio's analyze gets
    them from here instead of running the recognizer a second time. Everything else (id, name,
    context, score thresholds, enhance_using_context) is the recognizer's own."""

    def __init__(self, recognizer, results: list):
        self._recognizer, self._results = recognizer, results

    def analyze(self, text, entities, nlp_artifacts=None):
        return self._results

    def __getattr__(self, name):
        return getattr(self._recognizer, name)


class _LazyArtifacts:
    """NlpArtifacts computed on first use: pattern recognizers never read them, so texts without
    findings (and engines without NER) skip spaCy entirely."""

    def __init__(self, engine, text: str):
        self._engine, self._text, self._real = engine, text, None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._real is None:
            self._real = self._engine.process_text(self._text, "en")
        return getattr(self._real, name)
