"""The embedded NER default (hash-checked, NER components only), the fallback said loudly, and
`sluice pii eval` on labelled text."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii import nlp  # noqa: E402
from sluice.curate.pii.engine import EngineConfig, build_analyzer, resolve_nlp  # noqa: E402
from sluice.errors import RecipeError  # noqa: E402


def test_auto_runs_the_embedded_ner_model_with_only_its_ner():
    analyzer, info = build_analyzer(EngineConfig())
    assert info.ner and info.nlp == f"spacy:{nlp.EMBEDDED}" and info.fallback is None
    assert analyzer.nlp_engine.nlp["en"].pipe_names == ["ner"]
    lemmas = analyzer.nlp_engine.process_text("Call Me Maybe", "en").lemmas
    assert lemmas == ["call", "me", "maybe"]  # lower-cased text, as the fast path's context rule assumes
    assert "ORGANIZATION" in info.entities and "LOCATION" in info.entities and "DATE_TIME" not in info.entities
    found = {(r.entity_type) for r in analyzer.analyze("Priya Raman works for Globex Corporation in Boston.",
                                                        language="en", entities=info.entities)}
    assert {"PERSON", "ORGANIZATION", "LOCATION"} <= found


def test_an_altered_embedded_model_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "model"
    shutil.copytree(nlp.embedded_path(), copy)
    nlp.verify_embedded(copy)  # the pristine copy passes
    with open(copy / "ner" / "model", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(RecipeError, match="pinned hashes"):
        nlp.verify_embedded(copy)


def test_without_the_model_auto_falls_back_loudly(monkeypatch):
    monkeypatch.setattr(nlp, "embedded_path", lambda: None)  # the package not installed
    spec, fallback = resolve_nlp("auto")
    assert spec == "blank" and "weak" in fallback
    _, info = build_analyzer(EngineConfig())
    assert not info.ner and info.as_dict()["fallback"] == fallback and info.as_dict()["engine"] == "pattern-only"


def test_pii_eval_cli_reports_recall_precision_and_survival(tmp_path):
    from typer.testing import CliRunner

    from sluice.cli import app

    rows = [("Call Maria Keller on 020 7946 0958.", [("PERSON", "Maria Keller"), ("PHONE_NUMBER", "020 7946 0958")]),
            ("IBAN DE89370400440532013000 please", [("IBAN_CODE", "DE89370400440532013000")]),
            ("Nothing personal here, just 3 apples.", [])]
    labels = tmp_path / "labels.jsonl"
    with labels.open("w") as f:
        for text, spans in rows:
            f.write(json.dumps({"text": text, "spans": [
                {"entity_type": t, "start": text.index(v), "end": text.index(v) + len(v)} for t, v in spans]}) + "\n")
    res = CliRunner().invoke(app, ["pii", "eval", str(labels), "--recipe", "examples/quickstart.yaml", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["examples"] == 3 and report["overall"]["surviving"] == 0.0
    assert report["by_gold_type"]["PHONE_NUMBER"]["recall"] == 1.0
    assert report["by_finding_type"]["IBAN_CODE"]["precision"] == 1.0
    assert "Maria" not in res.stdout  # reports hold rates, never values
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "abc", "spans": [{"entity_type": "PERSON", "start": 1, "end": 9}]}\n')
    res = CliRunner().invoke(app, ["pii", "eval", str(bad)])
    assert res.exit_code != 0 and "bad.jsonl:1" in res.output and "outside its text" in res.output


@pytest.mark.parametrize("text, name", [
    ("C'est assez urgent. Je m'appelle David Joseph-Bouvier, mon e-mail est d@example.fr.", "David Joseph-Bouvier"),
    ("Buenas, ¿qué equipaje puedo llevar? Me llamo Soledad Garay Miró y mi correo es s@example.es.",
     "Soledad Garay Miró"),
])
def test_a_cue_name_in_another_language_survives_the_merge_with_english_ner(text, name):
    """English NER also tags these names but answers nothing on non-English text; its finding used
    to win Presidio's merge and then be dropped, taking the cue recognizer's finding with it."""
    from sluice.curate.pii.detector import Detector

    detector = Detector(EngineConfig())
    start = text.index(name)
    for findings in (detector.findings([text])[0], detector.presidio(text)):
        assert any(r.entity_type == "PERSON" and r.start <= start and r.end >= start + len(name) for r in findings)
    assert not any(r.entity_type == "ORGANIZATION" for r in detector.findings([text])[0])
