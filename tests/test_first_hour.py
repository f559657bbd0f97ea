"""What a new user meets in the first hour: the default data folder, export by split, the console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli import common

RECIPE = """\
name: firsthour
input: raw@latest
output: curated
stages:
  - stage: exact_hash
    key: conversation
  - stage: exact_dedup
  - stage: split
"""


@pytest.fixture(autouse=True)
def no_home(monkeypatch):
    monkeypatch.setattr(common.console, "_width", 200)
    monkeypatch.delenv("SLUICE_HOME", raising=False)


def sluice(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def curated(tmp_path, monkeypatch, sample_logs) -> Path:
    """ingest → run with SLUICE_HOME unset: the store is the default, relative ./sluice-data."""
    first = tmp_path / "first"
    first.mkdir()
    (first / "recipe.yaml").write_text(RECIPE)
    monkeypatch.chdir(first)
    r = sluice("ingest", sample_logs, "--to", "raw")
    assert r.exit_code == 0, r.stderr
    r = sluice("run", "recipe.yaml")  # exact_dedup crashed on a relative root ("URI has empty scheme")
    assert r.exit_code == 0, r.stderr
    assert (first / "sluice-data" / "curated" / "v1" / "manifest.json").is_file()
    assert str(first / "sluice-data" / "curated" / "v1") in r.stderr.replace("\n", "")  # said absolute
    return first


def test_default_root_runs_ingest_run_export_from_another_folder(curated, tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    r = sluice("datasets", "export", "curated@v1", "--root", "../first/sluice-data", "--format", "openai",
               "--out", "all.jsonl", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    lines = [json.loads(line) for line in (other / "all.jsonl").read_text().splitlines()]
    assert summary["rows"] == len(lines) > 0
    # exported whole, each row keeps its split (in the sluice object OpenAI's trainer ignores)
    assert {line["sluice"]["split"] for line in lines} == {"train", "validation", "test"}


def test_export_one_or_more_splits(curated):
    store = curated / "sluice-data"
    counts = {}
    for split in ("train", "validation", "test"):
        r = sluice("datasets", "export", "curated@v1", "--split", split, "--out", f"{split}.jsonl", "--json")
        assert r.exit_code == 0, r.stderr
        rows = [json.loads(line) for line in (curated / f"{split}.jsonl").read_text().splitlines()]
        assert {row["split"] for row in rows} == {split}
        counts[split] = json.loads(r.stdout)["rows"]
    from sluice.store import Store

    total = Store(store).resolve("curated@v1").num_rows()
    assert sum(counts.values()) == total and counts["train"] > counts["test"] > 0  # a partition, nothing lost
    r = sluice("datasets", "export", "curated@v1", "--split", "validation", "--split", "test",
               "--format", "openai", "--plain", "--out", "heldout.jsonl")
    assert r.exit_code == 0, r.stderr
    assert len((curated / "heldout.jsonl").read_text().splitlines()) == counts["validation"] + counts["test"]
    assert "validation+test" in r.stderr


def test_export_split_refusals(curated):
    r = sluice("datasets", "export", "curated@v1", "--split", "dev", "--out", "x.jsonl")
    assert r.exit_code != 0 and "unknown split 'dev'" in r.stderr and "train, validation, test" in r.stderr
    r = sluice("datasets", "export", "raw@v1", "--split", "train", "--out", "x.jsonl")
    assert r.exit_code != 0 and "raw@v1 has no split column" in r.stderr and "split` stage" in r.stderr
    assert not (curated / "x.jsonl").exists()
