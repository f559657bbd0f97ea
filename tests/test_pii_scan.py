"""`sluice pii scan` is a second opinion: it finds what the redactor left, names the row, field and
offsets, and never prints the value. Metadata keeps its types and its operational fields."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii.scan import SecondOpinion, shape  # noqa: E402
from sluice.recipe import Recipe  # noqa: E402
from sluice.runner import run  # noqa: E402

# lone first names in informal turns: what a NER model trained on news misses most
CANDIDATES = ["Can you forward this to Rajesh before Friday?", "ok thanks rajesh, see you at the standup",
              "The report from Rajesh is late again.", "Please send the invoice to Anneliese.",
              "hey marguerite can u check the build", "lauren you should restart the server first",
              # a lower-case first name that is also an English word: the redactor leaves it (#27 round five)
              "sterling you should restart the server first"]


def _rows(texts):
    return [{"id": f"row-{i}", "source": "chat.jsonl", "source_id": None, "created_at": None,
             "messages": [{"role": "user", "content": t}, {"role": "assistant", "content": "Sure, done."}],
             "tools": None, "feedback": None, "metadata": None} for i, t in enumerate(texts)]


@pytest.fixture
def redacted(store):
    from train_helpers import publish

    from sluice.curate.pii.stage import PiiDetect, RedactPii

    publish(store, "chats", "conversation", _rows(CANDIDATES))
    return run(Recipe(), [PiiDetect(), RedactPii()], store=store, input_ref="chats", output="clean").version


def test_scan_finds_the_lone_first_name_the_redactor_missed_and_names_row_and_field(store, redacted):
    from typer.testing import CliRunner

    from sluice.cli import app

    rows = {r["id"]: r["messages"][0]["content"] for r in redacted.read().to_pylist()}
    names = ("Rajesh", "rajesh", "Anneliese", "marguerite", "lauren", "sterling")
    missed = {rid: text for rid, text in rows.items() if any(n in text for n in names)}
    assert missed, "the redactor caught every candidate: add harder ones"  # today it misses several
    res = CliRunner().invoke(app, ["pii", "scan", "clean@latest", "--root", str(store.root), "--json"])
    assert res.exit_code == 1  # findings: the leak check fails
    report = json.loads(res.stdout)
    assert report["detector"] == "second" and not report["engines"]["second"]["shares_model_with_redactor"]
    for rid, text in missed.items():
        hits = [f for f in report["listed"] if f["row"] == rid]
        assert hits, f"{rid} not flagged"
        f = hits[0]
        assert f["field"] == "m0.content" and f["entity"] == "PERSON"
        assert text[f["start"]:f["end"]] in names and f["shape"] == shape(text[f["start"]:f["end"]])
    assert not any(n in res.stdout for n in names)  # values are never printed, only their shape
    human = CliRunner().invoke(app, ["pii", "scan", "clean@latest", "--root", str(store.root)])
    first = next(iter(missed))
    assert f"row {first}" in human.output and "field m0.content" in human.output and "FAIL" in human.output


def test_second_opinion_rules_and_what_they_leave_alone():
    s = SecondOpinion()

    def found(text):
        return [text[a:b] for a, b, _, _ in s.find(text)]

    assert found("RT @davidfrum: the budget") == ["davidfrum"]
    assert found("@app.route('/x')\ndef index(): pass") == []  # a decorator is no handle
    assert found("Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS:3fa2b1c9>") == []  # placeholders
    assert found("Go to Account Settings, then Subscriptions") == []
    assert found("connect to PostgreSQL with SQLAlchemy; IndexError in line 3") == []
    assert found("Estimada Sra. Fernández, le escribo") == ["Fernández"]
    assert found("card 4111 1111 1111 1111, not 4111 1111 1111 1112") == ["4111 1111 1111 1111"]
    assert found("IBAN DE89370400440532013000 please") == ["DE89370400440532013000"]
    assert shape("Rajesh 42") == "Xxxxxx 99"


def test_metadata_keeps_types_and_operational_fields_and_redacts_keys_and_source(store):
    from train_helpers import publish

    from sluice.curate.pii.stage import PiiDetect, RedactPii

    email = "maria.gonzalez@example.org"
    meta = {"region": "eu-central-1", "request": {"model": "gpt-4.1-mini", "temperature": 0.7},
            "response": {"created": 1772604997, "id": "chatcmpl-MVM55BL2VSgGdMn2BsyayTm4Pyg4O",
                         "usage": {"prompt_tokens": 36, "total_tokens": 78}},
            "latency_ms": 519, "user_id": "u_859662827e2b", "timestamp": "2026-03-04T06:16:36.772Z",
            "callback_phone": 4155550123, "contacts": {email: "primary"}, "note": f"escalate to {email}"}
    rows = _rows(["Where is my order?"])
    rows[0].update(metadata=json.dumps(meta), source=f"export-{email}.jsonl", source_id=f"ticket {email}")
    publish(store, "gw", "conversation", rows)
    out = run(Recipe(), [PiiDetect(), RedactPii()], store=store, input_ref="gw", output="gw-clean").version
    row = out.read().to_pylist()[0]
    text = json.dumps(row, default=str)
    assert email not in text  # in a value, a key, the source and the source id
    got = json.loads(row["metadata"])
    for key in ("region", "request", "latency_ms", "user_id", "timestamp"):
        assert got[key] == meta[key], key  # operational: untouched
    assert got["response"] == meta["response"]  # created stays the integer it was
    phone = got["callback_phone"]
    assert isinstance(phone, int) and phone != meta["callback_phone"] and len(str(phone)) == 10  # typed surrogate
    assert list(got["contacts"].values()) == ["primary"] and list(got["contacts"])[0].startswith("<EMAIL_ADDRESS")
    assert "<EMAIL_ADDRESS" in row["source"] and "<EMAIL_ADDRESS" in row["source_id"]
    dropped = run(Recipe(), [PiiDetect(), RedactPii(numbers="drop")], store=store, input_ref="gw",
                  output="gw-drop").version
    assert "callback_phone" not in json.loads(dropped.read().to_pylist()[0]["metadata"])


@pytest.mark.slow  # four redaction runs: 61 s at load average 20
def test_dataset_wide_pseudonyms_are_consistent_across_rows_and_keyed_by_the_store_salt(store, tmp_path,
                                                                                         monkeypatch):
    from train_helpers import publish

    from sluice.curate.pii.stage import PiiDetect, RedactPii

    monkeypatch.delenv("SLUICE_PII_KEY", raising=False)
    monkeypatch.setenv("SLUICE_HOME", str(store.root))
    texts = ["Please email maria.gonzalez@example.org about it", "I wrote to maria.gonzalez@example.org and "
             "john.smith@example.com yesterday", "Ask maria.gonzalez@example.org"]
    publish(store, "mails", "conversation", _rows(texts))

    def placeholders(output, **cfg):
        v = run(Recipe(), [PiiDetect(), RedactPii(**cfg)], store=store, input_ref="mails", output=output).version
        return [r["messages"][0]["content"] for r in v.read().to_pylist()]

    per_row = placeholders("per-row")
    assert all("<EMAIL_ADDRESS_1>" in t for t in per_row)  # numbered per conversation: nothing links rows
    wide = placeholders("wide", pseudonyms="dataset")
    tokens = [[w for w in t.split() if w.startswith("<EMAIL_ADDRESS_")] for t in wide]
    assert tokens[0][0] == tokens[1][0] == tokens[2][0] != tokens[1][1]  # same value, same pseudonym
    salt = store.root / ".secrets" / "pii_salt"
    assert salt.is_file() and oct(salt.stat().st_mode & 0o777) == "0o600"
    assert salt.read_bytes().strip().decode() not in json.dumps([wide])  # the salt is not in the data
    assert placeholders("wide-again", pseudonyms="dataset") == wide  # the same salt: the same pseudonyms
    salt.unlink()
    assert placeholders("wide-new-salt", pseudonyms="dataset") != wide  # a new salt: unlinkable to the old
