"""`sluice feedback build`: production thumbs / ratings / edits → KTO and DPO datasets."""

from __future__ import annotations

import json

import generate_logs
import pytest

from sluice.curate.ingest import ingest
from sluice.labeling.convert import Thresholds
from sluice.labeling.feedback import build
from sluice.schemas import KTO, PREFERENCE


@pytest.fixture
def logs(tmp_path, store):
    counts = generate_logs.write(tmp_path / "logs.jsonl", 1500, seed=3, clean=True)
    raw = ingest([str(tmp_path / "logs.jsonl")], to="raw", store=store, workers=1).version
    return counts, raw


def test_counts_match_the_logs_exactly(logs, store):
    counts, raw = logs
    res = build(raw.ref, "fb", store=store, allow_raw=True)
    kto, dpo = res.kto.read().to_pylist(), res.dpo.read().to_pylist()
    thumbs = [r for r in kto if r["origin"] == "thumbs"]
    assert len(thumbs) == counts["thumbs_up"] + counts["thumbs_down"]
    assert sum(r["label"] for r in thumbs) == counts["thumbs_up"]
    # every edit is one DPO pair, except edits identical to the answer (counted, not converted)
    rejected = res.dpo.manifest["accounting"]["rejected"]["feedback_build"]
    assert len(dpo) + rejected.get("edit_unchanged", 0) == counts["edits"]
    assert len(dpo) >= 0.9 * counts["edits"] and counts["edits"] > 20
    # exact accounting: every conversation is kept or rejected with a reason, in both outputs
    for v in (res.kto, res.dpo):
        acc = v.manifest["accounting"]
        assert acc["rows_in"] == counts["valid"] == acc["kept"] + acc["rejected_total"]
        assert v.manifest["parents"] == [raw.ref]
    KTO.validate(res.kto.read())
    PREFERENCE.validate(res.dpo.read())


def test_rows_carry_the_edit_as_chosen_and_lineage(logs, store):
    _, raw = logs
    res = build(raw.ref, "fb", store=store, allow_raw=True)
    source = {r["id"]: r for r in raw.read(columns=["id", "messages", "feedback"]).to_pylist()}
    for pair in res.dpo.read().to_pylist():
        conv = source[pair["source_ids"][0]]
        final = [m for m in conv["messages"] if m["role"] == "assistant"][-1]
        assert pair["origin"] == "edit"
        assert pair["chosen"][0]["content"] == conv["feedback"]["edited"]
        assert pair["rejected"][0]["content"] == final["content"]
        assert pair["prompt"] == conv["messages"][:conv["messages"].index(final)]
    for row in res.kto.read().to_pylist():
        fb = source[row["source_ids"][0]]["feedback"]
        if row["origin"] == "thumbs":
            assert row["label"] == (fb["thumb"] == 1)
        else:
            assert fb["thumb"] is None and row["label"] == (fb["rating"] >= 4)
            assert fb["rating"] >= 4 or fb["rating"] <= 2
        assert "comment" not in json.loads(row["metadata"])  # free text is not copied


def test_thresholds_are_configurable(logs, store):
    _, raw = logs
    default = build(raw.ref, "a", store=store, allow_raw=True).kto.manifest["origins"].get("rating", 0)
    strict = build(raw.ref, "b", store=store, thresholds=Thresholds(good_at=5, bad_at=1), allow_raw=True)
    assert strict.kto.manifest["origins"].get("rating", 0) < default
    with pytest.raises(Exception, match="overlap"):
        Thresholds(good_at=2, bad_at=3)


def test_cli_builds_both_datasets(logs, store):
    from typer.testing import CliRunner

    from sluice.cli import app

    _, raw = logs
    out = CliRunner().invoke(app, ["feedback", "build", raw.ref, "--to", "cli", "--root", str(store.root)])
    assert out.exit_code != 0 and "no PII redaction and no decontamination" in out.stderr and "--allow-raw" in out.stderr
    assert "cli-kto" not in store.names()
    out = CliRunner().invoke(app, ["feedback", "build", raw.ref, "--to", "cli", "--root", str(store.root), "--json",
                                   "--allow-raw"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["kto"] == "cli-kto@v1" and summary["dpo"] == "cli-dpo@v1" and summary["kto_rows"] > 0


def test_sample_logs_committed(sample_logs, store):
    raw = ingest([str(sample_logs)], to="raw", store=store, workers=1).version
    kept = set(raw.read(columns=["source_id"]).column("source_id").to_pylist())
    thumbs = edits = 0
    for line in sample_logs.read_bytes().splitlines():  # the sample has planted malformed lines
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("id") in kept:
            fb = rec.get("feedback") or {}
            thumbs += fb.get("thumb") in ("up", "down")
            edits += fb.get("edited") is not None
    assert thumbs > 0 and edits > 0
    res = build(raw.ref, "fb", store=store, allow_raw=True)
    assert res.kto.manifest["origins"]["thumbs"] == thumbs
    unchanged = res.dpo.manifest["accounting"]["rejected"]["feedback_build"].get("edit_unchanged", 0)
    assert res.dpo.manifest["rows"] + unchanged == edits


def test_built_from_curated_rows_keeping_their_split_and_idempotent(tmp_path, store):
    """Curated = the real PII stages (NER), decontamination and a split; held-out rows stay out."""
    from sluice.curate.dedup.decontaminate import Contamination, Decontaminate
    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.curate.stages.split import Split
    from sluice.recipe import Recipe
    from sluice.runner import run

    generate_logs.write(tmp_path / "logs.jsonl", 160, seed=5, clean=True)
    raw = ingest([str(tmp_path / "logs.jsonl")], to="raw", store=store, workers=1).version
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps({"id": "g1", "question": "which planet in our solar system has the most moons "
                                                          "orbiting it today?", "answer": "Saturn."}) + "\n")
    stages = [PiiDetect(), RedactPii(), Contamination(evalsets=[{"path": str(golden)}], key="prompts_and_answers"),
              Decontaminate(), Split(fractions={"train": 0.5, "validation": 0.25, "test": 0.25})]
    curated = run(Recipe(), stages, store=store, input_ref=raw.ref, output="curated").version
    splits = {r["id"]: r["split"] for r in curated.read(columns=["id", "split"]).to_pylist()}
    assert {"train", "validation", "test"} <= set(splits.values())

    res = build("curated@latest", "fb", store=store)
    assert res.kto.manifest["stages"][0]["info"]["curation"]["decontaminated_by"] == curated.ref
    for v in (res.kto, res.dpo):
        ids = [s for r in v.read().to_pylist() for s in r["source_ids"]]
        assert ids and all(splits[i] == "train" for i in ids)  # test/validation never become training rows
        held = v.manifest["accounting"]["rejected"]["feedback_build"]["held_out_split"]
        assert held == sum(s != "train" for s in splits.values())
        assert v.manifest["accounting"]["rows_in"] == len(splits)  # exact accounting
    again = build("curated@latest", "fb", store=store)
    assert again.reused and again.kto.ref == res.kto.ref and again.dpo.ref == res.dpo.ref
    assert [v.ref for v in store.versions("fb-kto")] == ["fb-kto@v1"]  # no new version
