"""Loud outcomes: a stage removing most of its input is named with its reasons (CLI and data card);
an empty result fails the run unless the recipe allows it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sluice.cli import app, common
from sluice.errors import DataError
from sluice.outcomes import heavy_stages
from sluice.recipe import load_recipe
from sluice.runner import run

RECIPE = """name: strict
input: raw@latest
output: out
{extra}
stages:
  - stage: length
  - stage: length_filter
    min_chars: {{user: {min_user}, assistant: 1}}
"""


@pytest.fixture
def raw(store, tmp_path):
    from sluice.curate.ingest import ingest

    rows = [{"messages": [{"role": "user", "content": "hi" if i < 7 else "a longer question " * 5},
                          {"role": "assistant", "content": "Hello there."}]} for i in range(10)]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ingest([str(path)], "raw", store=store).version


def _recipe(tmp_path, min_user: int, extra: str = ""):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(min_user=min_user, extra=extra))
    return path


def test_heavy_stage_is_named_in_the_data_card(store, raw, tmp_path):
    result = run(*load_recipe(_recipe(tmp_path, 10)), store=store)
    lines = heavy_stages(result.version.manifest["stages"])
    assert lines == ["length_filter removed 7 of 10 rows (70%): too_short_user 7"]
    card = (result.version.path / "DATACARD.md").read_text()
    assert "## Warnings" in card and "too_short_user 7" in card
    assert heavy_stages([{"name": "x", "rows_in": 10, "kept": 5, "rejected": {"r": 5}}]) == []  # half is not most


def test_empty_result_fails_unless_allowed(store, raw, tmp_path):
    with pytest.raises(DataError, match="kept none of its 10 input rows") as err:
        run(*load_recipe(_recipe(tmp_path, 1000)), store=store)
    assert any("too_short_user 10" in p for p in err.value.problems) and "allow_empty" in err.value.hint
    assert not store.versions("out")
    result = run(*load_recipe(_recipe(tmp_path, 1000, "allow_empty: true")), store=store)
    assert result.version.num_rows() == 0 and result.version.manifest["accounting"]["rejected_total"] == 10


def test_cli_prints_the_warning_and_fails_on_empty(store, raw, tmp_path, monkeypatch):
    monkeypatch.setattr(common.console, "_width", 200)
    env = {"SLUICE_HOME": str(store.root)}
    out = CliRunner().invoke(app, ["run", str(_recipe(tmp_path, 10)), "--no-report", "--root", str(store.root)], env=env)
    assert out.exit_code == 0, out.output
    assert "warning: length_filter removed 7 of 10 rows (70%): too_short_user 7" in out.output
    bad = CliRunner().invoke(app, ["run", str(_recipe(tmp_path, 1000)), "--no-report", "--root", str(store.root)],
                             env=env)
    assert bad.exit_code == 1 and "kept none of its 10 input rows" in bad.output
