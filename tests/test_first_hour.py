"""What a new user meets in the first hour: the default data folder, export by split, the console."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli import common

from resume_stages import recipe  # noqa: E402  (tests/ is on the path: the recipe's plugin too)

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
    r = sluice("datasets", "export", "--allow-unredacted", "curated@v1", "--root", "../first/sluice-data", "--format", "openai",
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
        r = sluice("datasets", "export", "--allow-unredacted", "curated@v1", "--split", split, "--out", f"{split}.jsonl", "--json")
        assert r.exit_code == 0, r.stderr
        rows = [json.loads(line) for line in (curated / f"{split}.jsonl").read_text().splitlines()]
        assert {row["split"] for row in rows} == {split}
        counts[split] = json.loads(r.stdout)["rows"]
    from sluice.store import Store

    total = Store(store).resolve("curated@v1").num_rows()
    assert sum(counts.values()) == total and counts["train"] > counts["test"] > 0  # a partition, nothing lost
    r = sluice("datasets", "export", "--allow-unredacted", "curated@v1", "--split", "validation", "--split", "test",
               "--format", "openai", "--plain", "--out", "heldout.jsonl")
    assert r.exit_code == 0, r.stderr
    assert len((curated / "heldout.jsonl").read_text().splitlines()) == counts["validation"] + counts["test"]
    assert "validation+test" in r.stderr


def test_export_split_refusals(curated):
    r = sluice("datasets", "export", "--allow-unredacted", "curated@v1", "--split", "dev", "--out", "x.jsonl")
    assert r.exit_code != 0 and "unknown split 'dev'" in r.stderr and "train, validation, test" in r.stderr
    r = sluice("datasets", "export", "--allow-unredacted", "raw@v1", "--split", "train", "--out", "x.jsonl")
    assert r.exit_code != 0 and "raw@v1 has no split column" in r.stderr and "split` stage" in r.stderr
    assert not (curated / "x.jsonl").exists()


# -- a calm console ------------------------------------------------------------------------------

def test_identical_reingest_publishes_nothing_and_names_the_version(tmp_path, sample_logs):
    root = tmp_path / "store"
    first = sluice("ingest", sample_logs, "--to", "raw", "--root", root, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["reused"] is False
    again = sluice("ingest", sample_logs, "--to", "raw", "--root", root)
    assert again.exit_code == 0, again.stderr
    said = " ".join(again.stderr.split())
    assert "nothing to publish: raw@v1 already holds exactly these rows" in said and "--force" in said
    assert sorted(p.name for p in (root / "raw").iterdir() if p.name.startswith("v")) == ["v1"]
    assert not [p for p in (root / "raw").iterdir() if p.name.startswith(".tmp")]  # nothing left behind
    forced = sluice("ingest", sample_logs, "--to", "raw", "--root", root, "--force", "--json")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["version"] == "raw@v2"
    # different content is a new version, and an identical ingest compares with the latest only
    other = tmp_path / "fewer.jsonl"
    other.write_text("".join(sample_logs.read_text(encoding="utf-8", errors="replace").splitlines(True)[:50]))
    assert json.loads(sluice("ingest", other, "--to", "raw", "--root", root, "--json").stdout)["version"] == "raw@v3"
    back = json.loads(sluice("ingest", sample_logs, "--to", "raw", "--root", root, "--json").stdout)
    assert back["version"] == "raw@v4" and back["reused"] is False


INTERRUPTED = recipe("interrupted")


def test_ctrl_c_prints_one_line_and_the_rerun_resumes(tmp_path, sample_logs):
    """A real SIGINT inside `sluice run` (a subprocess, as a user's terminal sends it)."""
    import os
    import subprocess
    import sys

    root, recipe = tmp_path / "store", tmp_path / "recipe.yaml"
    recipe.write_text(INTERRUPTED)
    assert sluice("ingest", sample_logs, "--to", "raw", "--root", root).exit_code == 0
    exe = Path(sys.executable).parent / "sluice"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "SLUICE_TEST_INTERRUPT": "few_words:3",
           "COLUMNS": "300"}
    env.pop("SLUICE_HOME", None)
    r = subprocess.run([exe, "run", recipe, "--root", root, "--no-report"], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 130, r.stderr
    bars = re.compile(r"^\d+\. \S+ ")  # the stage progress bars drawn before the interrupt
    lines = [line for line in r.stderr.splitlines() if line.strip() and not bars.match(line)]
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), r.stderr
    assert f"{root}/.checkpoints" in lines[0] and "rerunning the same command resumes" in lines[0]
    assert "Traceback" not in r.stderr and not (root / "curated").exists()
    env.pop("SLUICE_TEST_INTERRUPT")
    again = subprocess.run([exe, "run", recipe, "--root", root, "--no-report", "--json"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    stages = json.loads(again.stdout)["stages"]
    assert stages[0]["cached"] and stages[1]["cached"] and not stages[2]["cached"]  # resumed, not redone


def test_feedback_build_summary_is_a_table_not_a_dict(tmp_path, sample_logs):
    root = tmp_path / "store"
    assert sluice("ingest", sample_logs, "--to", "raw", "--root", root).exit_code == 0
    r = sluice("feedback", "build", "raw@v1", "--to", "fb", "--allow-raw", "--root", root)
    assert r.exit_code == 0, r.stderr
    assert "{" not in r.stderr and "'" not in r.stderr  # no raw Python dicts
    assert "published" in r.stderr and "not converted" in r.stderr
    data = json.loads(sluice("feedback", "build", "raw@v1", "--to", "fb2", "--allow-raw", "--root", root, "--json").stdout)
    table = r.stderr
    assert "fb-kto@v1" in table and f"{data['kto_rows']:,}" in table and "fb-dpo@v1" in table
    for origin in data["kto_origins"]:
        assert origin in table


# -- recipes -------------------------------------------------------------------------------------

def test_recipe_errors_name_the_line_and_suggest_the_spelling(tmp_path):
    from sluice.errors import RecipeError
    from sluice.recipe import load_recipe

    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ninptu: raw@latest\noutput: curated\nstages:\n"
                    "  - stage: normalize\n    form: NFX\n"
                    "  - stage: lenght_filter\n"
                    "  - stage: length_filter\n    max_turns: lots\n    min_charz: {user: 1}\n"
                    "  - form: NFC\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    problems = e.value.problems
    assert len(problems) == 6, problems
    expected = [(2, "inptu", "did you mean 'input'?"), (6, "stages[0] (normalize): form", "did you mean 'NFC'?"),
                (7, "unknown stage 'lenght_filter'", "did you mean 'length_filter'?"),
                (9, "stages[2] (length_filter): max_turns", "valid integer"),
                (10, "min_charz", "did you mean 'min_chars'?"), (11, "stages[3]", "missing 'stage: NAME'")]
    for problem, (line, what, hint) in zip(problems, expected):
        assert problem.startswith(f"{path}:{line}: ") and what in problem and hint in problem, problem


NOISY = """\
name: noisy
input: raw@latest
output: quiet
plugins: [resume_stages]
stages:
  - stage: resume_stages:Noisy
"""


def test_third_party_bars_and_warnings_go_to_the_run_log_not_the_console(tmp_path, sample_logs):
    """The real `sluice` process (pytest would capture warnings itself in-process)."""
    import os
    import subprocess
    import sys

    root, recipe = tmp_path / "store", tmp_path / "noisy.yaml"
    recipe.write_text(NOISY)
    assert sluice("ingest", sample_logs, "--to", "raw", "--root", root).exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "COLUMNS": "300"}
    for name in ("SLUICE_HOME", "TQDM_DISABLE"):
        env.pop(name, None)
    r = subprocess.run([Path(sys.executable).parent / "sluice", "run", recipe, "--root", root, "--no-report"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for noise in ("third-party bar", "it/s", "FutureWarning", "some_arg is deprecated", "advice nobody asked for"):
        assert noise not in r.stderr, r.stderr
    logs = list((root / ".logs").glob("sluice-*.log"))
    assert len(logs) == 1 and f"log:       {logs[0]}" in r.stderr
    text = logs[0].read_text()
    assert "FutureWarning: some_arg is deprecated (third-party)" in text
    assert "thirdparty: third-party advice nobody asked for" in text


SELECT = """\
name: select-once
input: raw@latest
output: chosen
stages:
  - stage: embed
    model: static
    text: user
  - stage: quality_score
  - stage: select
"""


def test_the_select_note_is_printed_once(tmp_path, sample_logs):
    root, recipe = tmp_path / "store", tmp_path / "select.yaml"
    recipe.write_text(SELECT)
    assert sluice("ingest", sample_logs, "--to", "raw", "--root", root).exit_code == 0
    r = sluice("run", recipe, "--root", root, "--no-report")
    assert r.exit_code == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert said.count("rows were scored only by the offline heuristic") == 1, r.stderr
    assert "select: select:" not in said
