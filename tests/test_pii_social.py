"""Issue #27 round four: names in informal English (social media). A handle (``@jaketapper``) is a
person's online name and is redacted whatever its spelling; an e-mail's ``@``, code decorators,
CSS at-rules and group mentions are not handles."""

from __future__ import annotations

import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii.names import HandleRecognizer  # noqa: E402


def handles(text):
    return [text[r.start:r.end] for r in HandleRecognizer().analyze(text, ["PERSON"])]


@pytest.mark.parametrize("text, found", [
    ("RT @MissMcCleary: Am I the only one", ["MissMcCleary"]),
    ("@sallykohn you are a special kind of person", ["sallykohn"]),
    ("thanks @serina_sgill and @janet23!", ["serina_sgill", "janet23"]),
    ("write to john@example.com today", []),
    ("@property\ndef name(self):\n    return self._name", []),
    ('@app.route("/")\ndef index():', []),
    ("@media screen and (max-width: 600px) { body { margin: 0 } }", []),
    ("ping @everyone before the release", []),
])
def test_handles_are_names_and_code_is_not(text, found):
    assert handles(text) == found


def test_a_handle_is_redacted_by_the_default_detector():
    from sluice.curate.pii.detector import Detector
    from sluice.curate.pii.engine import EngineConfig

    text = "lol @karibrownnn you said that yesterday"
    found = Detector(EngineConfig()).findings([text])[0]
    assert any(r.entity_type == "PERSON" and text[r.start:r.end] == "karibrownnn" for r in found), found


def test_a_camelcase_handle_is_a_name_not_an_identifier():
    """Round five: ``technical`` drops CamelCase identifiers (``SQLAlchemy``), which dropped every
    CamelCase handle (@MissMcCleary, @LanaDelRey): a fifth of the WNUT-17 tune person misses."""
    from sluice.curate.pii.detector import Detector
    from sluice.curate.pii.engine import EngineConfig

    texts = ["RT @MissMcCleary: Am I the only one that gets like re-angry?", "@KammBe thats no help",
             "from sqlalchemy import create_engine  # SQLAlchemy talks to PostgreSQL"]
    found = [[t[r.start:r.end] for r in rs] for t, rs in zip(texts, Detector(EngineConfig()).findings(texts))]
    assert "MissMcCleary" in found[0] and "KammBe" in found[1]
    assert "SQLAlchemy" not in found[2] and "PostgreSQL" not in found[2]  # no @: still technical vocabulary


@pytest.mark.parametrize("text, found", [
    ("Kenny, you need to get back to your room", ["Kenny"]),
    ("Themba is obsessed with that song", ["Themba"]),
    ("Nice shooting, Bye Capwin!", ["Capwin"]),
    ("Photosynthesis is how plants make their food.", []),  # an English word
    ("Python is easy to learn; Django is a framework.", []),  # technical vocabulary
    ("Themba ist heute nicht in der Schule, und die Lehrerin ist krank.", []),  # not English text
])
def test_informal_names_in_english_posts(text, found):
    from sluice.curate.pii.names import InformalNameRecognizer

    assert [text[r.start:r.end] for r in InformalNameRecognizer(3).analyze(text, ["PERSON"])] == found
    assert InformalNameRecognizer(0).analyze(text, ["PERSON"]) == []  # level 0: off


@pytest.mark.parametrize("text, places", [
    ("Localidad/ Provincia: Madrid.\nCP: 28016.\nDatos asistenciales.", ["Madrid", "28016"]),
    ("c/ del Abedul 5-7, 2º dcha 28036 Madrid, España", ["28036"]),
    ("Avenida Antonio Miranda, 5 Baracaldo 48902. Vizcaya.", ["48902"]),
    ("Wohnort: Meran", ["Meran"]),
    ("We sold 25000 units in 2020.", []),
])
def test_place_labels_and_postcodes_are_locations(text, places):
    from sluice.curate.pii.recognizers import PlaceRecognizer

    assert [text[r.start:r.end] for r in PlaceRecognizer().analyze(text, ["LOCATION"])] == places


def test_german_fallback_findings_keep_capitalised_runs_without_function_words():
    from presidio_analyzer import RecognizerResult

    from sluice.curate.pii.detector import german

    text = "Sie heißt Maria Egger und wohnt seit einiger Zeit in Bozen."
    meta = {"recognizer_name": "SpacyRecognizer"}
    span = RecognizerResult("PERSON", 0, text.index(" und"), 0.85, recognition_metadata=meta)  # "Sie heißt Maria Egger"
    assert [text[r.start:r.end] for r in german(text, span)] == ["Maria Egger"]  # "Sie": a function word
    other = RecognizerResult("PERSON", 0, 3, 0.6, recognition_metadata={"recognizer_name": "CueNameRecognizer"})
    assert german(text, other) == [other]  # only the fallback model's findings are cleaned


# Round five (#27): the levels above 4, each with a name it finds and words it must leave alone
# (the curve behind INFORMAL_LEVEL: BENCHMARKS.md, "PII round five: English informal names (#27)").
@pytest.mark.parametrize("text, level, found", [
    ("momo is the best:)", 5, ["momo"]),  # an unknown lower-case word before "is"
    ("Wow edubes, your video is trending", 5, ["edubes"]),  # spoken to: a comma, then "your"
    ("creating new jobs and analyzing data with airbags and whiteboards", 5, []),  # inflected, compounds
    ("heat a pan, and sauté the chicken", 5, []),  # a dictionary word with an accent
    ("Colluding with Putin, hahaha!", 5, []),  # laughter is no name
    ("it is processed and doesn't end up in the sea", 5, []),  # the stem of a contraction
    ("normalize the text, and tokenize it", 5, []),  # "and" is no person cue before a lower-case word
    ("Tanner is a good dude.", 6, ["Tanner"]),  # a first name that is also a word, before a verb
    ("Where are my testicles, Summer?", 6, ["Summer"]),  # a vocative at the end
    ("Love is the most powerful force; love wins.", 6, []),  # the same word in lower case: a word
    ("The Earth revolves around the Sun.", 6, []),  # after a determiner
    ("the Louvre Museum in Paris, France.", 6, []),  # before a country
    ("I love April", 6, []),  # a month
    ("I watched Summer Olympics highlights", 6, []),  # in a run of capitalised words
    ("Womble knew that the palace had a second floor", 7, ["Womble"]),  # a surname before a verb
    ("Gold is a chemical element; gold conducts well.", 7, []),  # a surname that is a word, used as one
    ("[Ritchie McClaw] (https://imgur.com/a/x)", 3, ["McClaw"]),  # Mc names are words too
])
def test_informal_levels_of_round_five(text, level, found):
    from sluice.curate.pii.names import InformalNameRecognizer

    assert [text[r.start:r.end] for r in InformalNameRecognizer(level).analyze(text, ["PERSON"])] == found
    if found and level > 3:
        assert InformalNameRecognizer(level - 1).analyze(text, ["PERSON"]) == []  # the level adds it


def test_inflected_and_irregular_forms_are_english_words():
    from sluice.curate.pii.lexicon import english_word

    assert all(map(english_word, ["analyzing", "chasing", "smallest", "hotter", "took", "frolicking"]))
    assert not any(map(english_word, ["momo", "hangwani", "edubes"]))
