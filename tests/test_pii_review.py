"""The PII review loop against a REAL argilla-server (tests/argilla_harness.py): redacted texts go
out with the second opinion's spans pre-filled, an annotator marks a missed name, the pull gives a
labelled set `sluice pii eval` reads and a recipe whose deny-list now redacts that name."""

from __future__ import annotations

import json

import argilla_harness as harness
import pytest

pytest.importorskip("presidio_analyzer")
pytest.importorskip("argilla")

from sluice.labeling.pii_review import pull_review, push_review  # noqa: E402
from sluice.privacy import NotRedacted  # noqa: E402
from sluice.recipe import Recipe  # noqa: E402
from sluice.runner import run  # noqa: E402

# a lone lower-case first name that is also an English word, in an informal turn: what the redactor
# still misses (the capitalised "Rajesh" is caught since PII round four, a lower-case "rajesh" after
# "thanks" since round five); the third row's name is caught
NAME = "sterling"
TEXTS = ["sterling you should restart the server first", "What is the capital of France?",
         "The report from Rajesh is late again."]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from harness.serving(tmp_path_factory.mktemp("argilla-pii"))


@pytest.fixture
def argilla_env(server, monkeypatch):
    return harness.use(server, monkeypatch)


@pytest.mark.slow
def test_review_push_annotate_pull_eval_and_deny_list(argilla_env, store, tmp_path):
    from test_pii_scan import _rows
    from train_helpers import publish

    from sluice.curate.pii.evaluate import evaluate
    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.recipe import load_recipe

    publish(store, "chats", "conversation", _rows(TEXTS))
    with pytest.raises(NotRedacted):  # unredacted data never goes out for review
        push_review("chats@v1", "pii-review", store=store)
    clean = run(Recipe(), [PiiDetect(), RedactPii()], store=store, input_ref="chats", output="clean").version
    stored = {r["id"]: r["messages"][0]["content"] for r in clean.read().to_pylist()}
    if not any(NAME in t for t in stored.values()):
        pytest.fail("the redactor caught every candidate: the test needs a harder miss")

    res = push_review(clean.ref, "pii-review", store=store, n=None)
    assert res.created and res.rows == 3 and res.records == 6 and res.privacy["grade"] == "strong"
    assert res.suggested >= 1  # the second opinion pre-filled the missed name
    ds, ids = harness.records_by_external_id(argilla_env, "pii-review")
    annotator = harness.Annotator(argilla_env, "pii-reviewer")
    annotator.join(ds["workspace_id"])
    owner = harness.httpx.Client(base_url=argilla_env.url, headers={"X-Argilla-Api-Key": argilla_env.owner_key})
    records = owner.get(f"/api/v1/datasets/{ds['id']}/records", params={"limit": 100}).json()["items"]
    by_text = {}
    for item in records:
        by_text.setdefault(item["fields"]["text"], []).append(item)
    assert set(by_text) == set(stored.values()) | {"Sure, done."}  # texts exactly as stored
    for text, items in by_text.items():
        for item in items:
            assert set(item["metadata"]) == {"row", "field", "ref"} and item["metadata"]["field"] == \
                ("m0.content" if text != "Sure, done." else "m1.content")
            if NAME in text:
                s = text.index(NAME)
                annotator.respond(item["id"], {"missed": [{"label": "PERSON", "start": s, "end": s + len(NAME)}],
                                               "still_personal": "yes"})
    answered_no = by_text["Sure, done."][0]  # one clean text: a negative example
    annotator.respond(answered_no["id"], {"still_personal": "no"})
    out = tmp_path / "reviewed.jsonl"
    pulled = pull_review("pii-review", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    missed = [r for r in rows if r["spans"]]
    assert pulled.spans == {"PERSON": len(missed)} and missed and pulled.counts["negative"] == 1
    assert pulled.counts["not_answered"] == res.records - len(missed) - 1  # "Sure, done." and any caught row
    for r in missed:
        sp = r["spans"][0]
        assert r["text"][sp["start"]:sp["end"]] == NAME and r["row"] in stored and r["field"] == "m0.content"
    report = evaluate(out)  # `sluice pii eval` reads the pulled set as it reads pii_dev
    assert report["examples"] == len(rows) and report["by_gold_type"]["PERSON"]["gold"] == len(missed)

    base = tmp_path / "pii.yaml"
    base.write_text("name: pii\ninput: chats@latest\noutput: clean2\nstages:\n  - stage: pii_detect\n"
                    "  - stage: redact_pii\n")
    from sluice.labeling.pii_review import deny_list_recipe

    added = deny_list_recipe(out, base, tmp_path / "pii-reviewed.yaml")
    assert added["added"] == {"PERSON": 1}
    recipe, stages = load_recipe(tmp_path / "pii-reviewed.yaml")
    again = run(recipe, stages, store=store).version
    assert not any(NAME in r["messages"][0]["content"] for r in again.read().to_pylist())  # the loop closed
