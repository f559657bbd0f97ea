"""Recipes: paths resolve from the recipe's folder and are checked before any work, a recipe
reads only datasets of the store, and code a recipe names runs only when listed in `plugins`."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.errors import DatasetNotFound, RecipeError
from sluice.recipe import load_recipe
from sluice.store import Store

EVALSET = '{"question": "What is two plus two, asked in a held out golden set?"}\n'


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_eval_set_paths_resolve_from_the_recipe_folder(tmp_path, monkeypatch):
    write(tmp_path / "proj" / "evalsets" / "golden.jsonl", EVALSET)
    recipe = write(tmp_path / "proj" / "recipe.yaml", """
        input: raw@latest
        output: out
        stages:
          - stage: contamination
            evalsets: [{name: golden, path: evalsets/golden.jsonl, fields: [question]}]
          - stage: decontaminate
        """)
    monkeypatch.chdir(tmp_path)  # run from elsewhere: the path still means the recipe's neighbour
    loaded, stages = load_recipe(recipe)
    assert stages[0].config.evalsets[0].path == str(tmp_path / "proj" / "evalsets" / "golden.jsonl")
    assert loaded.resolve_path("evalsets/golden.jsonl") == tmp_path / "proj" / "evalsets" / "golden.jsonl"
    assert loaded.resolve_path("/abs/x") .as_posix() == "/abs/x"


def test_a_missing_eval_set_fails_when_the_recipe_loads(tmp_path):
    recipe = write(tmp_path / "r.yaml", """
        input: raw@latest
        output: out
        stages:
          - stage: contamination
            evalsets: [{name: golden, path: nope/golden.jsonl, fields: [question]}]
        """)
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    text = str(err.value)
    assert str(tmp_path / "nope" / "golden.jsonl") in text and "recipe's folder" in text


def test_input_cannot_leave_the_store(tmp_path, store, sample_logs):
    from sluice.curate.ingest import ingest

    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    outside = Store(tmp_path / "other")
    ingest([str(sample_logs)], to="secret", store=outside, workers=1)
    for ref in ("../other/secret@v1", "../other/secret", "/abs/secret@v1", "a/../raw"):
        with pytest.raises(DatasetNotFound, match="never a path"):
            store.resolve(ref)
    assert store.versions("../other/secret") == []
    recipe = write(tmp_path / "r.yaml", """
        input: ../other/secret@v1
        output: out
        stages: [{stage: normalize}]
        """)
    with pytest.raises(RecipeError, match="not a dataset reference"):
        load_recipe(recipe)


PLUGIN = """
from sluice.stage import Scorer, StageConfig
import pathlib
pathlib.Path(__file__).with_name("imported.flag").write_text("ran")

class Marker(Scorer):
    name = "marker"
    adds = ("marker",)

    def score(self, batch):
        import polars as pl
        return pl.DataFrame({"marker": [1] * batch.height})
"""


def test_plugins_must_be_listed_before_their_code_runs(tmp_path, monkeypatch):
    write(tmp_path / "myplugin_sluice_test.py", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    flag = tmp_path / "imported.flag"
    unlisted = write(tmp_path / "r.yaml", """
        input: raw@latest
        output: out
        stages: [{stage: "myplugin_sluice_test:Marker"}]
        """)
    with pytest.raises(RecipeError) as err:
        load_recipe(unlisted)
    assert "plugins" in str(err.value) and "myplugin_sluice_test" in str(err.value)
    assert not flag.exists()  # refused before any import

    listed = write(tmp_path / "ok.yaml", """
        input: raw@latest
        output: out
        plugins: [myplugin_sluice_test]
        stages: [{stage: "myplugin_sluice_test:Marker"}]
        """)
    recipe, stages = load_recipe(listed)
    assert recipe.plugins == ["myplugin_sluice_test"] and stages[0].name == "marker" and flag.exists()


def test_cli_names_the_reference_and_the_fix(tmp_path):
    r = CliRunner().invoke(app, ["datasets", "show", "../x@v1", "--root", str(tmp_path)])
    assert r.exit_code == 2 and "never a path" in r.output and "Traceback" not in r.output
