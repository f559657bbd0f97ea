"""Precision on PII-free LLM text and the recall rules of issue #27 round three: countries are
redacted by default and kept only when the recipe opts in (``keep_places``); ordinary English words the small NER model tags
(verbs, adjectives, list items, headings, code) are no entities unless a person cue precedes them;
a finding that runs across list lines is split per line; a name after a form label is a PERSON."""

from __future__ import annotations

import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii import lexicon  # noqa: E402
from sluice.curate.pii.engine import EngineConfig  # noqa: E402


@pytest.fixture(scope="module")
def detector():
    from sluice.curate.pii.detector import Detector

    d = Detector(EngineConfig())
    if not d.info.ner:
        pytest.skip("the embedded NER model is not installed (bash scripts/setup.sh pii)")
    return d


def spans(detector, text, types=("PERSON", "LOCATION", "ORGANIZATION")):
    return [(text[r.start:r.end], r.entity_type) for r in detector.findings([text])[0] if r.entity_type in types]


def test_the_word_lists_come_from_public_sources():
    assert {"india", "united states", "deutschland", "españa", "france"} <= lexicon.public_places()
    assert "boston" not in lexicon.public_places()
    assert {"iterate", "digital", "homeless"} <= lexicon.common_words()
    assert not {"john", "brown", "sarah"} & lexicon.common_words()  # census names stay names


def test_countries_are_redacted_unless_the_recipe_keeps_places(detector):
    from sluice.curate.pii.detector import Detector

    text = "Last year Priya Raman moved from India to the United States and now lives in Boston with her sister."
    found = spans(detector, text)
    assert any(v == "India" for v, _ in found), found  # the default fails closed: a labelled LOCATION
    assert ("Priya Raman", "PERSON") in found and any(v == "Boston" for v, _ in found), found
    kept = spans(Detector(EngineConfig(keep_places=True)), text)
    assert not [v for v, _ in kept if v in ("India", "the United States", "United States")], kept
    assert ("Priya Raman", "PERSON") in kept and any(v == "Boston" for v, _ in kept), kept


@pytest.mark.parametrize("text", [
    "Iterate over the rows and swap the two values when the first is larger.",
    "Packing list for the weekend:\n• Flashlight\n• Firewood\n• Sleeping bag\nRemember the matches.",
    "def find_highest_value(arr):\n    highest = arr[0]\n    for i in range(1, len(arr)):\n        pass",
    "Presentation topics:\nProfessional Development\nCollection Management\nLibrary Staffing",
])
def test_ordinary_words_headings_and_code_are_no_entities(detector, text):
    assert spans(detector, text) == []


def test_a_person_cue_or_a_real_name_still_wins(detector):
    assert ("Brown", "PERSON") in spans(detector, "Yesterday Mr. Brown called about the invoice again.")
    found = spans(detector, "Our new colleague Sarah Whitfield starts on Monday; please send her the laptop.")
    assert ("Sarah Whitfield", "PERSON") in found, found


def test_a_list_read_as_one_name_is_split_per_line(detector):
    text = "Which of them were heads of government?\na. Angela Merkel\nb. Joe Biden\nc. Emmanuel Macron"
    found = [v for v, t in spans(detector, text) if t == "PERSON"]
    assert all("\n" not in v and not v.startswith(("a.", "b.", "c.")) for v in found), found
    assert "Angela Merkel" in found and "Joe Biden" in found


@pytest.mark.parametrize("text, names", [
    ("Datos del paciente. Nombre:  Ramon. Apellidos: Gallardo Gimenez. NHC: 4568123.", ["Ramon", "Gallardo Gimenez"]),
    ("Nombre:Carlos. Apellidos: Ortega Ruiz. Médico: Ana Dominquez Marín.", ["Carlos", "Ortega Ruiz", "Ana Dominquez Marín"]),
    ("Responsable clínico: Dra. Teresa Cavero Escribano", ["Teresa Cavero Escribano"]),
    ("Vorname: Jürgen, Nachname: Weißmüller", ["Jürgen", "Weißmüller"]),
])
def test_a_name_after_a_form_label_is_a_person(detector, text, names):
    found = detector.findings([text])[0]
    for name in names:
        start = text.index(name)
        assert any(r.entity_type == "PERSON" and r.start <= start and start + len(name) <= r.end for r in found), name


@pytest.mark.parametrize("text,name", [("Her name is Scout.", "Scout"), ("My name is Hope and I live here.", "Hope")])
def test_a_dictionary_word_after_a_name_cue_is_a_name(detector, text, name):
    """The English noise rules drop a dictionary word the small model tags as a name, except after a
    person cue ("her name is", "my name is"): a real name that is also a word (WNUT-17 holdout)."""
    assert (name, "PERSON") in spans(detector, text)
