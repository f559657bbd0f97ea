"""A run killed with SIGKILL at any point resumes to a version identical to an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sluice.curate.ingest import ingest
from sluice.store import Store

from resume_stages import recipe  # noqa: E402  (tests/ is on the path: the recipe's plugin too)

RECIPE = recipe("resume")

RUN = """
import sys
from sluice.recipe import load_recipe
from sluice.runner import run
from sluice.store import Store, VersionWriter
import os, signal
if os.environ.get("SLUICE_TEST_KILL") == "publish":
    real = os.rename
    def dying_rename(src, dst):
        if "/v" in str(dst):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)
    os.rename = dying_rename
spec, stages = load_recipe(sys.argv[2])
result = run(spec, stages, store=Store(sys.argv[1]))
print(result.version.ref, result.reused, [s.cached for s in result.stages])
"""


def _run(root: Path, recipe: Path, kill: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    env.pop("SLUICE_TEST_KILL", None)
    if kill:
        env["SLUICE_TEST_KILL"] = kill
    return subprocess.run([sys.executable, "-c", RUN, str(root), str(recipe)], env=env, capture_output=True, text=True)


def _hashes(version) -> dict:
    parts = version.manifest["parts"]
    return {p: [(s["path"], s["rows"], s["sha256"]) for s in parts[p]["shards"]] for p in parts}


@pytest.fixture
def setup(tmp_path, sample_logs):
    recipe = tmp_path / "resume.yaml"
    recipe.write_text(RECIPE)
    roots = {}
    for name in ("clean", "killed"):
        roots[name] = tmp_path / name
        ingest([str(sample_logs)], to="raw", store=Store(roots[name]), workers=1)
    done = _run(roots["clean"], recipe)
    assert done.returncode == 0, done.stderr
    return recipe, roots, _hashes(Store(roots["clean"]).resolve("curated"))


@pytest.mark.parametrize("kill", ["words:3", "few_words:1", "few_words:5", "publish"])
def test_killed_run_resumes_to_identical_version(setup, kill):
    recipe, roots, expected = setup
    killed = _run(roots["killed"], recipe, kill)
    assert killed.returncode == -9, killed.stderr  # it really died by SIGKILL
    store = Store(roots["killed"])
    assert store.versions("curated") == []  # nothing half-published
    resumed = _run(roots["killed"], recipe)
    assert resumed.returncode == 0, resumed.stderr
    assert _hashes(store.resolve("curated")) == expected  # same shards, same content hashes
    if kill.startswith("few_words") or kill == "publish":
        assert "[True, True" in resumed.stdout  # finished stages came from their checkpoints
    again = _run(roots["killed"], recipe)
    assert "curated@v1 True" in again.stdout  # a finished recipe is a no-op
    assert [p.name for p in (roots["killed"] / ".checkpoints").iterdir() if p.name.startswith(".tmp")] == []
