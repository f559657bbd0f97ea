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
