"""Nothing resolved in silence (issue #35): duplicate keys, nesting past the limit, skipped paths."""

from __future__ import annotations

import json
import os

import orjson
import pytest

from sluice.curate.ingest import ingest
from sluice.curate.ingest.run import MAX_DEPTH, structure_problem
from sluice.errors import InputError

U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}
GOOD = json.dumps({"messages": [U, A]})


@pytest.mark.parametrize("raw, field", [
    ('{"messages": [{"role": "user", "content": "a"}], "messages": [%s, %s]}', "messages"),
    ('{"messages": [{"role": "user", "role": "assistant", "content": "x"}, %s, %s]}', "messages[0].role"),
    ('{"messages": [%s, %s], "metadata": {"k" : 1, "k"  :2}}', "metadata.k"),  # spaced before the colon
    ('{"messages": [%s, %s], "metadata": {"a\\\\": 1, "a\\\\": 2}}', "metadata.a\\"),  # key ending in a backslash
])
def test_duplicate_keys_are_quarantined_with_the_field(tmp_path, store, raw, field):
    path = tmp_path / "dup.jsonl"
    line = raw % (json.dumps(U), json.dumps(A)) if "%s" in raw else raw
    path.write_text(GOOD + "\n" + line + "\n" + GOOD + "\n")
    result = ingest([str(path)], to="d", store=store, workers=1)
    assert (result.rows_in, result.kept) == (3, 2)
    (row,) = result.version.read("quarantine").to_pylist()
    assert (row["error_kind"], row["field"], row["line"]) == ("duplicate_key", field, 2)
    assert "given twice" in row["error"]


@pytest.mark.parametrize("raw", [
    b'{"a": "x\\": \\"b\\": 1", "b": 1}',  # an escaped quote and colon inside a string
    b'{"a": "\\" :", "b": {"c": [1, {"d": "\\":\\":"}]}}',
    b'{"a" : 1, "b":"q\\\\", "c": 2}',
])
def test_no_false_duplicate(raw):
    assert structure_problem(raw, orjson.loads(raw)) is None


def test_duplicate_key_in_a_json_array_file_costs_that_record_only(tmp_path, store):
    path = tmp_path / "dup.json"
    path.write_text("[%s, %s, %s]" % (GOOD, '{"messages": [], "messages": [%s, %s]}' % (json.dumps(U), json.dumps(A)),
                                      GOOD))
    result = ingest([str(path)], to="d", store=store, workers=1)
    assert (result.rows_in, result.kept) == (3, 2)
    (row,) = result.version.read("quarantine").to_pylist()
    assert (row["error_kind"], row["field"], row["row"]) == ("duplicate_key", "messages", 1)


def test_nesting_up_to_the_limit_is_kept_deeper_is_quarantined(tmp_path, store):
    def nested(depth):  # metadata value nested so the whole record is `depth` levels deep
        inner = "[" * (depth - 2) + "]" * (depth - 2)
        return '{"messages": [%s, %s], "metadata": {"x": %s}}' % (json.dumps(U), json.dumps(A), inner)
    lines = [nested(MAX_DEPTH), nested(MAX_DEPTH + 1), nested(1100)]
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest([str(path)], to="d", store=store, workers=1)
    assert (result.rows_in, result.kept) == (3, 1)
    rows = result.version.read("quarantine").to_pylist()
    assert [(r["line"], r["error_kind"]) for r in rows] == [(2, "too_deep"), (3, "too_deep")]
    assert str(MAX_DEPTH) in rows[0]["error"]
    kept = json.loads(result.version.read().column("metadata")[0].as_py())
    depth, v = 1, kept["metadata"]["x"]
    while v:
        v, depth = v[0], depth + 1
    assert depth == MAX_DEPTH - 2  # the value kept whole, to its last level


def test_folder_lists_fifos_and_symlink_loops_and_named_ones_get_the_true_error(tmp_path, store):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_text(GOOD + "\n")
    os.mkfifo(folder / "pipe.jsonl")
    (folder / "loop.jsonl").symlink_to(folder / "loop2.jsonl")
    (folder / "loop2.jsonl").symlink_to(folder / "loop.jsonl")
    (folder / "dangling.jsonl").symlink_to(folder / "nowhere")
    result = ingest([str(folder)], to="d", store=store, workers=1)
    skipped = {os.path.basename(s.path): s.reason for s in result.skipped}
    assert set(skipped) == {"pipe.jsonl", "loop.jsonl", "loop2.jsonl", "dangling.jsonl"}
    assert "named pipe" in skipped["pipe.jsonl"] and "symbolic link loop" in skipped["loop.jsonl"]
    assert "broken symbolic link" in skipped["dangling.jsonl"]
    manifest = {os.path.basename(s["path"]) for s in result.version.manifest["skipped"]}
    assert manifest == set(skipped)
    for name, words in (("pipe.jsonl", "named pipe"), ("loop.jsonl", "symbolic link loop"),
                        ("dangling.jsonl", "broken symbolic link")):
        with pytest.raises(InputError, match=words) as e:
            ingest([str(folder / name)], to="d", store=store, workers=1)
        assert "no such file" not in str(e.value)
