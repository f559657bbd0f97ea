"""Golden sets are frozen, hashed and never reach training: decontamination finds their items after
redaction (placeholders as wildcards), in answers as well as prompts, and `train` refuses overlap by
the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_helpers import conv_rows, publish

REPO = Path(__file__).resolve().parents[1]
GOLDEN = [json.loads(line) for line in (REPO / "examples" / "evalsets" / "golden.jsonl").read_text().splitlines()]
LEAVE_Q = GOLDEN[0]["question"]  # "I'm Carolyn James, my phone number is 236.512.7160. Can I carry over unused ..."
SWAPPED_Q = LEAVE_Q.replace("Carolyn James", "Derek Olsen").replace("236.512.7160", "415.555.0199")
REDACTED_Q = "I'm <PERSON_1>, my phone number is <PHONE_NUMBER_1>. Can I carry over unused leave to next year?"


def test_freeze_is_immutable_listed_and_idempotent(store):
    from typer.testing import CliRunner

    from sluice.cli import app

    publish(store, "golden", "conversation", conv_rows([g["question"] for g in GOLDEN], [g["answer"] for g in GOLDEN], "g"))
    runner = CliRunner()
    r = runner.invoke(app, ["golden", "freeze", "golden@v1", "--root", str(store.root), "--json"])
    assert r.exit_code == 0, r.output
    entry = json.loads(r.stdout)
    assert entry["created"] and entry["rows"] == len(GOLDEN) and len(entry["content_sha256"]) == 64
    again = json.loads(runner.invoke(app, ["golden", "freeze", "golden@v1", "--root", str(store.root), "--json"]).stdout)
    assert again["created"] is False and again["content_sha256"] == entry["content_sha256"]
    r = runner.invoke(app, ["golden", "freeze", "golden@latest", "--root", str(store.root)])
    assert r.exit_code != 0 and "exact version" in r.output
    listed = json.loads(runner.invoke(app, ["golden", "list", "--root", str(store.root), "--json"]).stdout)
    assert [e["ref"] for e in listed] == ["golden@v1"]
    # A frozen version whose bytes changed is refused wherever it is used.
    shard = store.resolve("golden@v1").files()[0]
    shard.chmod(0o644)
    shard.write_bytes(shard.read_bytes() + b"x")
    r = runner.invoke(app, ["golden", "list", "--root", str(store.root)])
    assert r.exit_code == 1 and "changed since it was frozen" in r.stderr


def test_training_refuses_a_redacted_or_re_personalised_copy_of_a_frozen_golden_item(store):
    from sluice.errors import DataError
    from sluice.train import data as D

    publish(store, "golden", "conversation", conv_rows([LEAVE_Q, GOLDEN[2]["question"]],
                                                       [GOLDEN[0]["answer"], GOLDEN[2]["answer"]], "g"))
    D.freeze_golden(store, "golden@v1")
    clean = ["how do I bake sourdough bread at home?", "what is the capital of france?"]
    publish(store, "ok", "conversation", conv_rows(clean * 3, ["knead, proof, bake.", "paris."] * 3, "k"))
    D.check_no_overlap(D.load_split(store, "sft", "ok@v1"), None, store)  # nothing to refuse
    rows = [REDACTED_Q, SWAPPED_Q, "tell me something nice", *clean]  # row ids l-0 … l-4
    answers = ["yes.", "yes.", GOLDEN[2]["answer"], "knead.", "paris."]  # row 2 copies a golden *answer*
    publish(store, "leaky", "conversation", conv_rows(rows, answers, "l"))
    with pytest.raises(DataError, match="hold an item of a golden set") as e:
        D.check_no_overlap(D.load_split(store, "sft", "leaky@v1", eval_fraction=0), None, store)
    hits = "\n".join(e.value.problems)
    assert "row id l-0" in hits and "row id l-2" in hits and "(answer)" in hits
    # Unredacted, the swapped name and phone are 5 of 18 words missing: not a copy by the rule. Curated
    # data is redacted before this check, and redacted it is l-0 (the quickstart test below plants it raw).
    assert "row id l-1" not in hits
    assert "row id l-3" not in hits and "row id l-4" not in hits
    assert "Carolyn" not in str(e.value) and "Derek" not in hits  # row contents are never quoted


def test_placeholders_are_wildcards_but_never_most_of_an_item():
    from sluice.curate.dedup.decontaminate import _WILD, _match

    item = list(range(10))
    assert _match(item, [0, 1, 2, _WILD, 5, 6, 7, 8, 9], 4)[0] == 10  # a name (2 words) → one placeholder
    assert _match(item, [0, 1, 2, 5, 6, 7, 8, 9], 4)[0] == 8  # without the placeholder, the gap is a miss
    assert _match(item, [_WILD, 8, 9], 4)[0] == 2  # placeholders never stand for most of an item
    long_gap = [*range(7), _WILD, *range(18, 24)]  # one placeholder for 11 item words: too many
    assert _match(list(range(24)), long_gap, 4)[0] == 13  # at most 10 words per placeholder


@pytest.mark.slow  # the whole quickstart recipe over the bundled sample: ~1-2 min on 2 busy cores
def test_planted_golden_items_with_names_never_reach_a_training_export(store, sample_logs, tmp_path):
    from sluice.curate.ingest import ingest
    from sluice.export import export
    from sluice.recipe import load_recipe
    from sluice.runner import run

    def row(i, user, answer):
        return {"id": f"plant_{i}", "created_at": "2026-03-10T09:00:00Z", "model": "gpt-4o-mini-2024-07-18",
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
                "metadata": {"user_id": f"u_plant{i}", "app": "general-assistant"}}

    planted = [row(0, LEAVE_Q, GOLDEN[0]["answer"]),  # verbatim, with the golden item's name and phone
               row(1, SWAPPED_Q, "Yes, up to five days carry over; ask HR to confirm."),  # name and phone swapped
               row(2, "Can you help me pick a hotel downtown?", GOLDEN[2]["answer"])]  # the golden answer only
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "sample.jsonl").write_bytes(sample_logs.read_bytes())
    (logs / "planted.jsonl").write_text("".join(json.dumps(r) + "\n" for r in planted))
    ingest([str(logs)], "raw", store=store)
    recipe, stages = load_recipe(REPO / "examples" / "quickstart.yaml")
    result = run(recipe, stages, store=store)
    kept = result.version.read().to_pylist()
    assert not [r for r in kept if r["source_id"].startswith("plant_")]
    rejected = result.version.read("rejected").to_pylist()
    reasons = {r["source_id"]: r["reason"] for r in rejected if r["source_id"].startswith("plant_")}
    assert reasons == {"plant_0": "contaminated", "plant_1": "contaminated", "plant_2": "contaminated"}, reasons
    out = tmp_path / "train.openai.jsonl"  # the openai export carries each row's source_id
    assert export(result.version, "openai", out) == len(kept)
    assert '"source_id":"plant_' not in out.read_text().replace(" ", "")
    # Not asserted: the bundled sample's own templated rows that share a golden question's last
    # sentence without its PII preamble (e.g. "Can I carry over unused leave to next year?") match
    # 9 of the item's 18 words and are kept; see the issue 25 section of BENCHMARKS.md.
