"""The `sluice` command on the bundled sample logs: summaries, --json, exit codes, error display."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli import common

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "tests" / "recipes" / "basic.yaml"  # small and fast; the quickstart has its own test


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    # Tables are rendered for a terminal of this width, so names are never cut short.
    monkeypatch.setattr(common.console, "_width", 200)
    monkeypatch.delenv("SLUICE_HOME", raising=False)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


def sluice(*args, env: dict | None = None):
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def ingested(root: Path, sample_logs: Path) -> dict:
    r = sluice("ingest", sample_logs, "--to", "raw", "--root", root, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# -- ingest ------------------------------------------------------------------------------------

def test_ingest_prints_a_summary(root, sample_logs):
    r = sluice("ingest", sample_logs, "--to", "raw", "--root", root)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""  # everything human-readable goes to stderr
    out = r.stderr
    assert "sample_logs.jsonl" in out and "openai" in out
    assert "quarantined by error kind" in out
    for kind in ("bad_json", "invalid_utf8", "empty_line", "not_object", "unknown_role", "no_assistant_turn"):
        assert kind in out
    assert "published raw@v1" in out and "591 kept" in out and "of 600" in out
    assert (root / "raw" / "v1" / "manifest.json").is_file()


def test_ingest_json(root, sample_logs):
    summary = ingested(root, sample_logs)
    assert summary["version"] == "raw@v1"
    assert summary["rows_in"] == summary["kept"] + sum(summary["quarantined"].values()) == 600
    assert summary["kept"] == 591
    [f] = summary["files"]
    assert f["rows_in"] == summary["rows_in"] and f["kept"] == summary["kept"]
    assert f["quarantined"] == sum(f["quarantined_by_kind"].values()) == sum(summary["quarantined"].values())
    assert Path(summary["path"]).is_dir()


def test_ingest_strict_exits_1_and_publishes_nothing(root, sample_logs):
    r = sluice("ingest", sample_logs, "--to", "raw", "--root", root, "--strict")
    assert r.exit_code == 1
    assert r.stderr.startswith("error:") and "--strict" in r.stderr
    assert "Traceback" not in r.output
    assert not list(root.glob("raw/v*")) and not list(root.glob("raw/.tmp-*"))


def test_ingest_nonexistent_path_exits_2(root, tmp_path):
    missing = tmp_path / "no" / "such.jsonl"
    r = sluice("ingest", missing, "--to", "raw", "--root", root)
    assert r.exit_code == 2
    assert r.stderr.startswith("error:") and str(missing) in r.stderr
    assert "hint:" in r.stderr and "Traceback" not in r.output
    assert not (root / "raw").exists() or not list((root / "raw").iterdir())


def test_ingest_all_bad_exits_1(root, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "not a list"}\n{"messages": []}\n')
    r = sluice("ingest", bad, "--to", "raw", "--root", root, "--format", "openai")
    assert r.exit_code == 1 and "error:" in r.stderr and "Traceback" not in r.output
    assert not list(root.glob("raw/v*"))


def test_ingest_unknown_format_exits_2(root, sample_logs):
    r = sluice("ingest", sample_logs, "--to", "raw", "--root", root, "--format", "nope")
    assert r.exit_code == 2 and "error:" in r.stderr and "Traceback" not in r.output


def test_ingest_bad_dataset_name_exits_2(root, sample_logs):
    r = sluice("ingest", sample_logs, "--to", "../up", "--root", root)
    assert r.exit_code == 2 and "error:" in r.stderr and "invalid dataset name" in r.stderr


def test_root_from_environment(root, sample_logs):
    r = sluice("ingest", sample_logs, "--to", "raw", "--json", env={"SLUICE_HOME": str(root)})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["path"].startswith(str(root))
    r = sluice("datasets", "list", "--json", env={"SLUICE_HOME": str(root)})
    assert [d["ref"] for d in json.loads(r.stdout)] == ["raw@v1"]


# -- run ---------------------------------------------------------------------------------------

def test_run_prints_the_funnel(root, sample_logs):
    ingested(root, sample_logs)
    r = sluice("run", RECIPE, "--root", root)
    assert r.exit_code == 0, r.stderr
    out = r.stderr
    assert "raw@v1 → curated@v1" in out
    for stage in ("normalize", "length", "length_filter"):
        assert stage in out
    assert "empty_final_answer" in out and "published curated@v1" in out

    again = sluice("run", RECIPE, "--root", root)
    assert again.exit_code == 0, again.stderr
    assert "nothing to do" in again.stderr and "checkpoint" in again.stderr


def test_run_json(root, sample_logs):
    ingested(root, sample_logs)
    r = sluice("run", RECIPE, "--root", root, "--json", "--workers", "1")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["version"] == "curated@v1" and res["input"] == "raw@v1" and res["reused"] is False
    stages = res["stages"]
    assert [s["name"] for s in stages] == ["normalize", "length", "length_filter"]
    assert stages[0]["rows_in"] == 591
    for s in stages:
        assert s["rows_in"] == s["kept"] + sum(s["rejected"].values()) + sum(s["quarantined"].values())
    again = json.loads(sluice("run", RECIPE, "--root", root, "--json").stdout)
    assert again["reused"] is True and all(s["cached"] for s in again["stages"])


def test_run_input_and_output_overrides(root, sample_logs):
    ingested(root, sample_logs)
    r = sluice("run", RECIPE, "--root", root, "--input", "raw@v1", "--output", "other", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["version"] == "other@v1"


def test_run_bad_recipe_lists_every_problem(root, sample_logs, tmp_path):
    ingested(root, sample_logs)
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("input: raw\noutput: x\nstages:\n  - stage: nope\n  - stage: length_filter\n    max_turns: x\n")
    r = sluice("run", recipe, "--root", root)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "error:" in r.stderr and "stages[0] (nope)" in r.stderr and "stages[1] (length_filter)" in r.stderr


def test_run_missing_input_dataset(root, tmp_path):
    r = sluice("run", RECIPE, "--root", root)
    assert r.exit_code == 2 and "error:" in r.stderr and "raw" in r.stderr and "Traceback" not in r.output


def test_run_missing_recipe_file(root, tmp_path):
    r = sluice("run", tmp_path / "none.yaml", "--root", root)
    assert r.exit_code == 2 and "none.yaml" in r.stderr


# -- datasets ----------------------------------------------------------------------------------

def test_datasets_list_and_show(root, sample_logs):
    empty = sluice("datasets", "list", "--root", root)
    assert empty.exit_code == 0 and "no datasets" in empty.stderr
    assert json.loads(sluice("datasets", "list", "--root", root, "--json").stdout) == []

    ingested(root, sample_logs)
    assert sluice("run", RECIPE, "--root", root).exit_code == 0
    listed = json.loads(sluice("datasets", "list", "--root", root, "--json").stdout)
    assert [d["ref"] for d in listed] == ["curated@v1", "raw@v1"]
    assert listed[1]["rows"] == 591 and 0 < listed[0]["rows"] < 591
    assert listed[0]["parents"] == ["raw@v1"] and listed[0]["kind"] == "conversation"
    table = sluice("datasets", "list", "--root", root)
    assert "curated@v1" in table.stderr and "raw@v1" in table.stderr

    show = sluice("datasets", "show", "curated", "--root", root, "--json")
    assert show.exit_code == 0, show.stderr
    m = json.loads(show.stdout)
    assert m["ref"] == "curated@v1" and m["lineage"] == ["curated@v1", "raw@v1"]
    acc = m["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"] == 591
    assert "len_user_chars" in [c["name"] for c in m["columns"]]

    human = sluice("datasets", "show", "curated@latest", "--root", root)
    assert human.exit_code == 0 and "curated@v1 ← raw@v1" in human.stderr and "empty_final_answer" in human.stderr

    missing = sluice("datasets", "show", "nope@v3", "--root", root)
    assert missing.exit_code == 2 and "error:" in missing.stderr and "Traceback" not in missing.output


def test_datasets_export(root, sample_logs, tmp_path):
    ingested(root, sample_logs)
    out = tmp_path / "out.jsonl"
    refused = sluice("datasets", "export", "raw@v1", "--out", out, "--root", root)  # no redaction: no exit
    assert refused.exit_code != 0 and "no PII redaction ran on raw@v1" in refused.stderr and not out.exists()
    r = sluice("datasets", "export", "raw@v1", "--out", out, "--root", root, "--allow-unredacted")
    assert r.exit_code == 0, r.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 591
    assert all("messages" in json.loads(line) for line in lines[:5])
    res = sluice("datasets", "export", "raw", "--out", tmp_path / "q.jsonl", "--part", "quarantine", "--root", root,
                 "--json", "--allow-unredacted")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["rows"] == 9


# -- listings ----------------------------------------------------------------------------------

def test_stages_and_formats(root):
    r = sluice("stages")
    assert r.exit_code == 0
    for name in ("normalize", "length", "length_filter", "min_chars", "too_short_user"):
        assert name in r.stderr
    stages = json.loads(sluice("stages", "--json").stdout)
    by_name = {s["name"]: s for s in stages}
    assert by_name["length"]["role"] == "score" and "len_user_chars" in by_name["length"]["adds"]
    assert by_name["length_filter"]["role"] == "decide" and "min_chars" in by_name["length_filter"]["config"]
    assert by_name["normalize"]["role"] == "transform"

    f = sluice("formats")
    assert f.exit_code == 0 and "openai" in f.stderr and "sharegpt" in f.stderr
    formats = json.loads(sluice("formats", "--json").stdout)
    assert {"openai", "sharegpt"} <= {x["name"] for x in formats}
    assert {x["kind"] for x in formats} >= {"conversation", "preference", "kto"}


def test_version_and_help():
    from sluice import __version__

    assert sluice("version").stdout.strip() == __version__
    help_ = sluice("--help")
    assert help_.exit_code == 0
    for cmd in ("ingest", "run", "datasets", "stages", "formats"):
        assert cmd in help_.stdout


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).parent / "sluice"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sluice.cli"]
    r = subprocess.run(cmd + ["datasets", "list", "--json"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SLUICE_HOME": str(tmp_path / "s")})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = subprocess.run([sys.executable, "-m", "sluice.cli", "version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip()


def test_brackets_in_paths_are_printed_literally(tmp_path, sample_logs):
    # rich markup must not swallow "[old]" in a path or a message
    missing = tmp_path / "[old]" / "x.jsonl"
    r = sluice("ingest", missing, "--to", "raw", "--root", tmp_path / "s")
    assert r.exit_code == 2 and "[old]" in r.stderr
    root = tmp_path / "[red]store"
    r = sluice("ingest", sample_logs, "--to", "raw", "--root", root)
    assert r.exit_code == 0, r.stderr
    assert str(root / "raw" / "v1") in r.stderr.replace("\n", "")
    listed = sluice("datasets", "list", "--root", root)
    assert "[red]store" in "".join(listed.stderr.split())  # the title wraps at the table width
