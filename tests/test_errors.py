"""Errors keep their hint and problems across process boundaries, and paths are taken literally."""

from __future__ import annotations

import pickle

from sluice.curate.ingest import ingest
from sluice.errors import DataError, RecipeError


def test_errors_survive_pickling_with_hint_and_problems():
    for cls in (RecipeError, DataError):
        err = cls("bad recipe", hint="fix it", problems=["a: wrong", "b: missing"])
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls
        assert (back.message, back.hint, back.problems) == ("bad recipe", "fix it", ["a: wrong", "b: missing"])
        assert back.exit_code == cls.exit_code


def test_a_real_path_with_brackets_is_not_a_glob(tmp_path, store):
    folder = tmp_path / "[red]"
    folder.mkdir()
    path = folder / "a.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n')
    result = ingest([str(path)], to="raw", store=store, workers=1)
    assert result.kept == 1
