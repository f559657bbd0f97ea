"""The stages in a recipe through the runner: accounting, reasons, fail-closed, no raw PII out."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii.stage import PiiDetect  # noqa: E402
from sluice.recipe import Recipe  # noqa: E402
from sluice.runner import run  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
SECRET = "boom.victim@mail.com"


class FailingDetect(PiiDetect):
    """pii_detect with an injected recognizer that raises on texts holding SECRET."""

    def setup(self) -> None:
        from presidio_analyzer import EntityRecognizer

        super().setup()

        class Failing(EntityRecognizer):
            def load(self):
                pass

            def analyze(self, text, entities, nlp_artifacts=None):
                if SECRET in text:
                    raise ValueError(text)  # the message holds raw text: it must never surface
                return []

        self.detector.add_recognizer(Failing(supported_entities=["PERSON"], name="Failing"))


@pytest.fixture
def raw(store, tmp_path):
    import generate_logs
    from sluice.curate.ingest import ingest

    path = tmp_path / "logs.jsonl"
    generate_logs.write(path, 80, seed=5, malformed_rate=0.0, clean=True)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["messages"][0]["content"] = f"write to {SECRET} please"
    lines[0] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    ingest([str(path)], to="raw", store=store)
    return store.resolve("raw@latest")


def planted_values(version) -> set[str]:
    import re

    text = json.dumps(version.read().to_pylist(), default=str)
    return set(re.findall(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", text)) | set(re.findall(r"\b\d{3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", text))


def test_recipe_redacts_filters_and_quarantines(store, raw, caplog):
    caplog.set_level(logging.DEBUG)
    recipe = Recipe(input="raw@latest", output="clean", batch_size=32, plugins=["test_pii_stage"], stages=[
        {"stage": "test_pii_stage:FailingDetect"}, {"stage": "redact_pii"},
        {"stage": "pii_filter", "entities": ["IBAN_CODE"]}])
    result = run(recipe, recipe.build(), store=store)
    m = result.version.manifest
    acc = m["accounting"]
    assert acc["rows_in"] == 80 == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    held = acc["quarantined"]["redact_pii"]
    assert held["pii_detect_failed"] == 1 and set(held) <= {"pii_detect_failed", "pii_language_uncovered"}
    # the generator writes some zh/ja/ru conversations: no NER covers them, so the default policy holds them back
    ids = pl.from_arrow(raw.read()).filter(pl.col("messages").list.eval(
        pl.element().struct.field("content").str.contains(r"[\p{Han}\p{Cyrillic}\p{Hiragana}]")).list.any())["id"]
    assert held.get("pii_language_uncovered", 0) >= 1 and held.get("pii_language_uncovered", 0) <= len(ids)
    assert acc["rejected"]["pii_filter"]["pii_high_risk"] >= 1
    detect = next(s for s in m["stages"] if s["name"] == "pii_detect")
    assert detect["counters"].get("EMAIL_ADDRESS/user", 0) > 0
    info = detect["info"]
    assert info["engine"] == "ner" and info["class"] == "test_pii_stage:FailingDetect" and info["version"] == PiiDetect.version
    assert "NameListRecognizer" in info["recognizers"] and "SpacyRecognizer" in info["recognizers"]
    assert "metadata" in info["fields"] and "tools" in info["fields"] and info["skipped_fields"] == []
    values = planted_values(raw)
    assert SECRET in values and len(values) > 5
    published = {p: json.dumps(result.version.read(p).to_pylist(), default=str)
                 for p in ("data", "rejected", "quarantine")}
    everything = "".join(published.values()) + json.dumps(m) + caplog.text
    everything += (result.version.path / "DATACARD.md").read_text() if (result.version.path / "DATACARD.md").exists() else ""
    leaked = [(v, [k for k, t in {**published, "manifest": json.dumps(m), "log": caplog.text}.items() if v in t])
              for v in values if v in everything]
    assert not leaked, f"{len(leaked)} raw values published"
    rejected = pl.from_arrow(result.version.read("rejected"))
    assert set(rejected["stage"]) == {"pii_filter"} and set(rejected["reason"]) == {"pii_high_risk"}
    data = pl.from_arrow(result.version.read())
    contents = data["messages"].explode().struct.field("content").drop_nulls().to_list()
    assert any("<EMAIL_ADDRESS_1>" in c for c in contents)
    from sluice.curate.pii.scan import findings_report, scan

    report = findings_report(data)
    assert report["by_entity"]["EMAIL_ADDRESS"] > 0 and "user" in report["by_role"]
    assert scan(store, result.version.ref, min_score=0.9)["by_entity"].get("EMAIL_ADDRESS", 0) == 0


def test_text_changed_after_detect_is_quarantined(store, raw):
    recipe = Recipe(input="raw@latest", output="x", stages=[
        {"stage": "pii_detect"}, {"stage": "normalize", "form": "NFKC"}, {"stage": "redact_pii"}])
    # normalize strips/collapses: rows whose text it changed must not be redacted with stale offsets
    result = run(recipe, recipe.build(), store=store)
    acc = result.version.manifest["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["quarantined_total"]
    assert set(acc["quarantined"].get("redact_pii", {})) <= {"pii_text_changed", "pii_language_uncovered"}


def test_cli_scan_exit_code(store, raw):
    from typer.testing import CliRunner

    from sluice.cli import app

    res = CliRunner().invoke(app, ["pii", "scan", "raw@latest", "--root", str(store.root), "--json",
                                   "--detector", "redactor"])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["findings"] > 0 and report["engines"]["redactor"]["engine"] == "ner"  # the strongest installed
    assert SECRET not in res.stdout
    res = CliRunner().invoke(app, ["pii", "scan", "raw@latest", "--root", str(store.root), "--max-findings", "100000",
                                   "--nlp", "blank", "--limit", "20", "--detector", "redactor"])
    assert res.exit_code == 0 and "pattern-only" in res.output


def test_participant_names_are_redacted_and_tool_names_kept():
    import pyarrow as pa

    from sluice.apply import apply_stage
    from sluice.curate.pii.stage import RedactPii
    from sluice.schemas import CONVERSATION

    row = {"id": "c1", "source": "t", "source_id": "1", "messages": [
        {"role": "user", "content": "hello, it's jane_doe again", "name": "jane_doe"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "content": "ok", "name": "lookup", "tool_call_id": "call_1"}]}
    table = pa.Table.from_pylist([row], schema=CONVERSATION.schema)
    detected = apply_stage(PiiDetect(), "names-detect", table, 0)[0]
    findings = detected.column("pii_findings").to_pylist()[0]
    assert {"field": "m0.name", "role": "user", "entity": "PERSON", "start": 0, "end": 8, "score": 1.0,
            "recognizer": "participant_name"} in findings
    out = apply_stage(RedactPii(), "names-redact", detected, 0)[0].to_pylist()[0]["messages"]
    assert out[0]["name"] == "<PERSON_1>" and "jane_doe" not in out[0]["content"]  # swept from the text too
    assert out[2]["name"] == "lookup" and out[1]["tool_calls"][0]["function"]["name"] == "lookup"
    off = apply_stage(PiiDetect(participant_names=False), "names-off", table, 0)[0]
    assert not any(f["field"] == "m0.name" for f in off.column("pii_findings").to_pylist()[0])
