"""PERSON recognizers for what English NER cannot see:

* ``CjkNameRecognizer`` — Japanese and Chinese full names (family + given name, either order,
  with or without a space) from the name lists in Faker's ja_JP, zh_CN and zh_TW locales. CJK
  text has no word boundaries, so a name inside a run of CJK characters counts only next to a cue
  (我叫, 姓名, 様, さん, と申します, …) or a non-CJK neighbour.
* ``CueNameRecognizer`` — the capitalized words right after a strong cue (``my name is``,
  ``Dear``, ``Mr./Ms./Dr.``, a sign-off line such as ``Best regards,``, a form label such as
  ``Nombre:``, a French, Spanish, German or Italian title or rank: ``M.``, ``le docteur``, ``doña``,
  ``Gräfin`` — ``TITLE``), in any script, listed or not.
* ``InformalNameRecognizer`` — in English text only, names the small NER model misses in informal
  posts ("Kenny, you need to…", "Themba is obsessed", "Bye Capwin!"): a capitalised census first
  name that is no English word, anywhere; and a capitalised word that no English dictionary, name
  list or place list knows, next to a person cue (a verb like "is"/"was"/"'s" after it, a greeting
  or thanks before it, a vocative comma). Round five adds an unknown lower-case word next to such
  a cue ("momo is the best"), a first name that is also a word before a verb or spoken to ("Tanner
  is", ", Summer?") and a surname before a verb ("Womble knew"), each leaving a word alone that the
  same text uses in lower case, that follows a determiner or that stands before a country. How far
  it reaches is ``INFORMAL_LEVEL``, chosen on measured curves (BENCHMARKS.md, "PII round four
  (#27)" and "PII round five: English informal names (#27)").
* ``HandleRecognizer`` — social-media handles (``@jaketapper``, ``RT @MissMcCleary:``): a
  person's online name, whatever its spelling. Not an e-mail's ``@`` (a word character before it),
  not code (``@property``, ``@media``, ``@app.route(``), not a group mention (``@everyone``).
"""

from __future__ import annotations

import importlib
from functools import lru_cache

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult

CJK = r"\p{Han}\p{Hiragana}\p{Katakana}ー"
BEFORE = ("我叫", "我是", "姓名", "名字", "联系人", "聯絡人", "客户", "先生", "女士", "私は", "名前", "氏名", "担当")
AFTER = ("様", "さま", "さん", "くん", "ちゃん", "先生", "女士", "小姐", "と申します", "です", "と", "，", "、", "。", "的")


@lru_cache(maxsize=1)
def cjk_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    first, last = set(), set()
    for loc in ("ja_JP", "zh_CN", "zh_TW"):
        p = importlib.import_module(f"faker.providers.person.{loc}").Provider
        first |= set(getattr(p, "first_names", ()))
        last |= set(getattr(p, "last_names", ()))
    order = lambda names: tuple(sorted(names, key=len, reverse=True))  # noqa: E731  longest first
    return order(first), order(last)


def _result(recognizer, start: int, end: int, score: float) -> RecognizerResult:
    return RecognizerResult("PERSON", start, end, score,
                            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
                                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id})


class CjkNameRecognizer(EntityRecognizer):
    def __init__(self):
        super().__init__(supported_entities=["PERSON"], name="CjkNameRecognizer", supported_language="en")

    def load(self) -> None:
        first, last = cjk_lists()
        f = "|".join(map(regex.escape, first))
        g = "|".join(map(regex.escape, last))
        self.rx = regex.compile(rf"(?:{g})[ \u3000]?(?:{f})|(?:{f})[ \u3000](?:{g})")
        self.any_cjk = regex.compile(rf"[{CJK}]")
        self.cjk_char = regex.compile(rf"[{CJK}]")

    def analyze(self, text, entities, nlp_artifacts=None):
        if not hasattr(self, "rx"):
            self.load()
        if not self.any_cjk.search(text):
            return []
        out = []
        for m in self.rx.finditer(text, overlapped=False):
            before, after = text[max(0, m.start() - 4):m.start()], text[m.end():m.end() + 5]
            free_left = not before or not self.cjk_char.match(before[-1])
            free_right = not after or not self.cjk_char.match(after[0])
            cued = before.endswith(BEFORE) or after.startswith(AFTER)
            if free_left or free_right or cued:
                out.append(_result(self, m.start(), m.end(), 0.7 if (free_left and free_right) or cued else 0.5))
        return out


SALUTATION = r"(?:my name is|my name's|name:|dear|mr\.?|mrs\.?|ms\.?|mx\.?|dr\.?|prof\.?|miss|sir|madam|" \
             r"herr|frau|monsieur|madame|mme\.?|señor|señora|sr\.?|sra\.?|signor|signora|sig\.?|je m'appelle|" \
             r"ich heiße|me llamo|mi chiamo|меня зовут)"
SIGN_OFF = r"(?:best regards|kind regards|warm regards|regards|best wishes|best|thanks|thank you|many thanks|cheers|" \
           r"sincerely|yours sincerely|yours truly|yours|cordialement|mit freundlichen grüßen|viele grüße|saludos|" \
           r"atentamente|cordiali saluti|с уважением)"
# form labels whose value is a person's name ("Nombre: Ramon", "Apellidos:Gallardo Gimenez",
# "Médico: Ana Dominguez", "Nachname: Weiß"): a space after the colon is optional
LABEL = r"(?:nombre y apellidos|nombre|apellidos?|médico|medico|responsable clínico|doctora?|paciente|patient|" \
        r"first name|last name|surname|full name|vorname|nachname|familienname|prénom|nom de famille|nom)[ ]?:"
NAME_WORD = r"\p{Lu}[\p{L}'’]*(?:-\p{Lu}?[\p{L}'’]+)*\.?"
BARE_WORD = r"\p{Lu}[\p{L}'’]*(?:-\p{Lu}?[\p{L}'’]+)*"  # a name word without a dot: a form's "Ramon. Apellidos" is two fields
PARTICLES = r"(?:van der|van den|van de|van|von|der|den|ter|ten|de la|de|del|da|di|du|le|la|bin|al|ni)"
# titles and ranks before a surname in French, Spanish, German and Italian text ("M. Lecerf", "MM. Servain",
# "le docteur Chabrun", "la citoyenne Jacoby", "doña Pilar", "Gräfin Noris"); the abbreviations in their own
# case only ("5 m. Long" is a length), none that is also an English word before a capital ("General Motors")
TITLE_WORDS = ("docteur", "docteurs", "citoyen", "citoyenne", "camarade", "abbé", "cardinal", "chanoine", "veuve",
               "général", "commandant", "capitaine", "lieutenant", "colonel", "maître", "professeur", "président",
               "ministre", "sénateur", "député", "préfet", "comte", "comtesse", "vicomte", "marquis", "baron", "baronne",
               "doña", "graf", "gräfin", "fräulein", "pfarrer", "bürgermeister", "präsident", "kanzler", "dottor",
               "dottore", "dottoressa")  # any case
TITLE = r"(?:(?<![\d\p{L}])(?:(?:M|MM|Mmes|Mlles|Dña|Srta|Dott|Sig\.ra)\.|(?:Mme|Mlle)\.?)" \
        rf"|(?i:\b(?:{'|'.join(TITLE_WORDS)}))|\bdon)"
CUE_NAME = regex.compile(
    rf"(?:(?i:\b{SALUTATION})[ ]+|\b(?i:dra)\.?[ ]+|{TITLE}[ ]+)(?P<name>{NAME_WORD}(?:[ ](?:(?i:{PARTICLES})[ ])?{NAME_WORD}){{0,2}})"
    rf"|(?i:\b{LABEL})[ ]*(?:(?i:dra?|sra?|prof)\.[ ]*)?(?P<name>{BARE_WORD}(?:[ ](?:(?i:{PARTICLES})[ ])?{BARE_WORD}){{0,3}})"
    rf"|(?:^|\n)(?i:{SIGN_OFF})[ ]?[,!.]?[ ]*\n[ ]*(?P<name>{NAME_WORD}(?:[ ]{NAME_WORD}){{0,2}})[ ]*(?:$|\n)"
    rf"|(?i:\b{SIGN_OFF}),[ ](?P<name>{NAME_WORD}(?:[ ]{NAME_WORD})?)[ ]*[.!]?$"
    rf"|(?i:\bmy name is)[ ]+(?P<name>[\p{{L}}'’\-]+(?:[ ][\p{{L}}'’\-]+)?)(?=[ ]*(?:[,.;!?]|$|and\b))",
    regex.MULTILINE)
# what follows a salutation but is no name
NOT_NAMES = frozenset("""i you we they he she it the a an and or my your our their his her this that there here
all everyone team sir madam customer customers user users friend friends support manager hiring valued
""".split())


class CueNameRecognizer(EntityRecognizer):
    def __init__(self):
        super().__init__(supported_entities=["PERSON"], name="CueNameRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        out = []
        for m in CUE_NAME.finditer(text):
            start, end = m.span("name")
            value = text[start:end].rstrip(".")
            if value.split()[0].lower() in NOT_NAMES:
                continue
            out.append(_result(self, start, start + len(value), 0.6))
        return out


# what follows an "@" in code, style sheets and documentation comments, and group mentions: no person
AT_WORDS = frozenset("""property staticmethod classmethod abstractmethod cached_property dataclass override
overload deprecated wraps lru_cache cache contextmanager total_ordering pytest fixture mark patch media import
keyframes font-face charset supports page namespace include mixin extend use forward each if else for while
function return content layer tailwind apply tailwind param params return returns throws throw exception see
author version since link code example interface protocol implementation end synthesize dynamic property
selector objc autoreleasepool try catch finally test before after beforeeach aftereach beforeall afterall
autowired component service entity table id column getmapping postmapping putmapping deletemapping
requestmapping restcontroller controller bean configuration inject input output ngmodule injectable
suppresswarnings functionalinterface springbootapplication transactional value data builder getter setter
everyone here channel all admin admins team mods moderators types type typedef enum const var let private
public protected static internal summary remarks inheritdoc todo fixme note warning example2 gmail""".split())
HANDLE = regex.compile(r"(?<![\w@.\\/])@(?P<name>[A-Za-z0-9][A-Za-z0-9_]{1,29}(?:[ ]?_[ ]?[A-Za-z0-9]+)*)"
                       r"(?![\w@]|\.[A-Za-z]|\()")


class HandleRecognizer(EntityRecognizer):
    def __init__(self):
        super().__init__(supported_entities=["PERSON"], name="HandleRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        out = []
        for m in HANDLE.finditer(text):
            value = m.group("name")
            if value.lower() in AT_WORDS or value.isdigit():
                continue
            out.append(_result(self, m.start("name"), m.end("name"), 0.6))
        return out


# 0: off; 1: capitalised census first names that are no English word; 2: and unknown capitalised
# words next to a person cue; 3: and any unknown capitalised word not opening a sentence; 4: and
# lower-case census first names that are no English word ("casey", "janet"). Round five (#27):
# 5: and an unknown lower-case word (no English word, inflected or compound) next to a person
# cue ("momo is the best", "Wow edubes, your"); 6: and a capitalised census first name that is
# also an English word, after a person cue or inside a sentence and no capitalised word beside it
# ("Tanner is a good dude", "my testicles, Summer?"); 7: and a census surname, word or not, before
# a verb ("Womble knew", "Green is not"); 8 (measured, left off): and an unknown capitalised word
# opening a sentence; 9 (measured, left off): and any unknown lower-case word.
INFORMAL_LEVEL = 7  # the knee of the round-five curve (BENCHMARKS.md, "PII round five: English informal names (#27)")
CONTRACTION = r"['’](?:t|re|ve|ll|d|m)\b"  # "doesn't", "Didn't": the stem of a contraction is no word on its own
TITLE_WORD = regex.compile(r"(?<![\p{L}\p{N}_@#/.'’-])(?P<w>(?:Mc|Mac)?\p{Lu}\p{Ll}{2,}(?:-\p{Lu}\p{Ll}+)?)"
                           rf"(?![\p{{L}}\p{{N}}_@/-]|\.\w|{CONTRACTION})")
LOWER_WORD = regex.compile(rf"(?<![\p{{L}}\p{{N}}_@#/.'’-])\p{{Ll}}{{4,}}(?![\p{{L}}\p{{N}}_@/-]|\.\w|{CONTRACTION})")
VERB_CUE = r"is|was|has|had|does|did|says|said|looks|makes|made|knew|knows|continues|gets|got|needs|wants|loves|" \
           r"hates|thinks|seems"
AFTER_CUE = regex.compile(rf"[ ]?(?:['’][ ]?s\b|[ ](?:{VERB_CUE}|and I|and me|you|ur)\b)")
AFTER_VERB = regex.compile(rf"[ ]?(?:['’][ ]?s\b|[ ](?:{VERB_CUE})\b)")  # for a word that is also an English word
BEFORE_CUE = regex.compile(r"(?i:\b(?:bye|thanks|thank you|thx|hey|hi|hello|yo|congrats|congratulations|go|love you|"
                           r"miss you|poor|dear|nice one|well done|shout out to|rip|ask|tell|with|and)[ ,]+)$")
# "..., Summer?": a comma before the word and nothing but the end of the text (or a question or
# exclamation) after it; "edubes, your ...": a comma after it and a second-person word
END_VOCATIVE = regex.compile(r"[ ]?[?!.]*[ ]*$")
VOCATIVE_AFTER = regex.compile(r"[ ]?,[ ]*(?:you|your|ur|u)\b")
SLANG = regex.compile(r"(\p{L})\1\1|^(?:h[aeiu])+h?$|^(?:lmao|lmfao|omfg|dont|cant|wont|didnt|doesnt|isnt|wasnt|"
                      r"thats|whats|gonna|wanna|gotta|yall|youre|theyre|imma|bruh|tho|thru|yeah|nope|okay|lolol)$")
PREFIX = regex.compile(r"^(?:re|un|dis|pre|non|over|under|inter|multi|micro|macro|hydro|electro|bio|geo|eco|auto|"
                       r"anti|mis|sub|super|tele|semi|post|out|cyber|photo|mega|mini)(?=\p{L}{3})")
DETERMINER = regex.compile(r"(?i:\b(?:the|a|an|this|that|these|those|my|your|our|their|its|his|her|some|any|no))[ ]+$")


def _sentence_initial(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t\"'“‘*([")
    return not before or before[-1] in ".!?:;\n…"


def _cued(text: str, m, start: bool, lower: bool = False) -> bool:
    """A person cue next to the word at ``m``: a verb after it ("is", "'s", "knew"), a greeting or
    "with"/"and" before it, a vocative comma after a word opening a sentence, an exclamation. For a
    ``lower``-case word "with"/"and" are no cue: in edited text they join common words ("and
    tokenize", "with influencers") far more often than names."""
    before = BEFORE_CUE.search(text, max(0, m.start() - 24), m.start())
    if before and lower and regex.match(r"(?i:with|and)\b", before.group()):
        before = None
    return bool(AFTER_CUE.match(text, m.end()) or before
                or (start and text[m.end():m.end() + 1] == ",")
                or (text[m.end():m.end() + 2].lstrip(" ")[:1] == "!" and m.start() > 0))


def _vocative(text: str, m) -> bool:
    """"…, Summer?" or "edubes, your …": a person spoken to."""
    return (text[:m.start()].rstrip(" ").endswith(",") and END_VOCATIVE.fullmatch(text, m.end()) is not None) \
        or VOCATIVE_AFTER.match(text, m.end()) is not None


def _in_run(text: str, m) -> bool:
    """The word stands next to another capitalised word or a number ("Summer Olympics", "June 15")."""
    return bool(regex.search(r"[\p{Lu}\d][\p{L}\d.]*[ ]$", text[max(0, m.start() - 30):m.start()])
                or regex.match(r"[ ][\p{Lu}\d]", text[m.end():m.end() + 2]))


def _before_place(text: str, m) -> bool:
    """"Paris, France": the word stands before a comma and a country."""
    from .lexicon import public_places

    after = regex.match(r",[ ]*(\p{Lu}\p{L}*(?:[ ]\p{Lu}\p{L}*)?)", text[m.end():m.end() + 40])
    return bool(after and (after.group(1).lower() in public_places() or after.group(1).split()[0].lower()
                           in public_places()))


@lru_cache(maxsize=1)
def _calendar_and_languages() -> frozenset[str]:
    """Month, weekday and language names (CLDR, English): capitalised words that are no person."""
    try:
        from babel import Locale
    except ImportError:
        return frozenset()
    en = Locale("en")
    return frozenset(v.lower() for v in (*en.months["format"]["wide"].values(), *en.days["format"]["wide"].values(),
                                         *en.languages.values()))


def _unknown_lower(word: str) -> bool:
    """A lower-case word no English dictionary knows, in any inflection or as a compound of two
    dictionary words ("airbags", "whiteboard"), nor with a dropped g ("changin"), nor slang."""
    import unicodedata

    from .lexicon import english_word

    word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode() or word  # "sauté" → "saute"
    if english_word(word) or SLANG.search(word) or (word.endswith("in") and english_word(word + "g")):
        return False
    if (p := PREFIX.match(word)) and english_word(word[p.end():]):
        return False  # "reconnect", "electroweak"
    return not any(english_word(word[:i]) and english_word(word[i:]) for i in range(3, len(word) - 2))


class InformalNameRecognizer(EntityRecognizer):
    def __init__(self, level: int | None = None):
        self._level = level  # None: the module's INFORMAL_LEVEL, read at each call (the curve sets it)
        super().__init__(supported_entities=["PERSON"], name="InformalNameRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        level = INFORMAL_LEVEL if self._level is None else self._level
        if not level:
            return []
        from .lexicon import (NOT_AN_ENTITY, OPENERS, TECH_WORDS, UI_WORDS, first_names, in_dictionary, major_cities,
                              public_places, surnames)
        from .nlp import text_language

        out, english = [], None
        first, last = first_names(), surnames()
        for m in TITLE_WORD.finditer(text):
            word = m.group("w")
            low = word.lower()
            if word in TECH_WORDS or word in NOT_AN_ENTITY or low in OPENERS or low in UI_WORDS \
                    or low in public_places():
                continue
            known = in_dictionary(word)
            if known and (level < 6 or low in _calendar_and_languages()):
                continue
            if english is None:
                english = text_language(text) == "en"
            if not english:
                return []
            start = _sentence_initial(text, m.start())
            if known:  # a word that is also a name: "Summer", "Grant", "Green"
                if DETERMINER.search(text, max(0, m.start() - 8), m.start()) or _before_place(text, m) \
                        or low in major_cities() \
                        or regex.search(rf"(?<!\p{{L}}){regex.escape(low)}(?!\p{{L}})", text):
                    continue  # "around the Sun", "in Paris, France", "flights to Paris", "the feeling of joy. Joy is …"
                verb = AFTER_VERB.match(text, m.end()) is not None or _vocative(text, m)
                if (low in first and (verb or (not start and not _in_run(text, m)))) \
                        or (level >= 7 and low in last and verb):
                    out.append(_result(self, m.start(), m.end(), 0.5))
                continue
            if low in first:
                out.append(_result(self, m.start(), m.end(), 0.5))
                continue
            if level < 2:
                continue
            if low in last:  # a surname alone is left to NER and the name lists (Faker-free census list) ...
                if level >= 7 and AFTER_VERB.match(text, m.end()):  # ... unless a verb follows ("Womble knew")
                    out.append(_result(self, m.start(), m.end(), 0.5))
                continue
            if _cued(text, m, start) or (level >= 3 and not start) or level >= 8:
                out.append(_result(self, m.start(), m.end(), 0.5))
        if level >= 4:
            tech = {w.lower() for w in TECH_WORDS} | {w.lower() for w in NOT_AN_ENTITY}
            for m in LOWER_WORD.finditer(text):
                word = m.group()
                if word in OPENERS or word in UI_WORDS:
                    continue
                if word in first and not in_dictionary(word):
                    hit = True
                elif level >= 5 and word not in first and word not in last and word not in tech \
                        and word not in public_places() and _unknown_lower(word):
                    hit = level >= 9 or _cued(text, m, _sentence_initial(text, m.start()), lower=True) \
                        or _vocative(text, m)
                else:
                    hit = False
                if hit:
                    if english is None:
                        english = text_language(text) == "en"
                    if not english:
                        return []
                    out.append(_result(self, m.start(), m.end(), 0.5))
        return out


def name_recognizers() -> list[EntityRecognizer]:
    from .recognizers import _gated

    cue = "|".join(["name", "dear", "mr", "mrs", "ms", "mx", "dr", "prof", "miss", "sir", "madam", "herr", "frau",
                    "monsieur", "madame", "mme", "señor", "señora", "sr", "sra", "signor", "sig", "appelle", "heiße",
                    "llamo", "chiamo", "зовут", "regards", "best", "thank", "cheers", "sincerely", "yours",
                    "cordialement", "grüße", "saludos", "atentamente", "saluti", "уважением", "nom", "apellido",
                    "dico", "responsable", "doctor", "paciente", "patient",
                    r"\bm{1,2}\.", "mme", "mlle", "dña", "srta", "dott", r"sig\.ra", r"\bdon\b", *TITLE_WORDS])
    return [_gated(CjkNameRecognizer(), rf"[{CJK}]", digits=False), _gated(CueNameRecognizer(), cue, digits=False),
            _gated(HandleRecognizer(), "@", digits=False), InformalNameRecognizer()]
