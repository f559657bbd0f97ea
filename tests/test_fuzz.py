"""Property-based fuzzing (Hypothesis) of the ingest readers and the recipe loader (issue #35).

In the fast suite with a bounded example count. Properties:

* ingest of any bytes (JSON records, broken JSON, blank runs, invalid UTF-8, duplicate keys,
  over-long lines, CRLF, a BOM; plain or gzip, whole or cut short) either raises a clean
  SluiceError or publishes a version whose accounting is exact: every record is kept, rejected
  or quarantined (in = kept + rejected + quarantined), one row per non-blank line and one per
  run of blank lines, and the shards hold exactly those rows;
* load_recipe on any YAML either returns or raises RecipeError, never anything else.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.curate.ingest import ingest
from sluice.errors import RecipeError, SluiceError
from sluice.recipe import load_recipe
from sluice.store import Store

FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_RECORD = 2048

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "bot", 7]),
                                 "content": st.one_of(text, st.none(), st.integers())})
record = st.fixed_dictionaries({"messages": st.lists(message, max_size=4)},
                               optional={"id": st.one_of(text, st.integers()), "metadata": st.dictionaries(text, text, max_size=3)})


def _line(draw_kind: str, value) -> bytes:
    if draw_kind == "record":
        return json.dumps(value, ensure_ascii=False).encode()
    return value


line = st.one_of(
    record.map(lambda r: _line("record", r)),
    record.map(lambda r: json.dumps(r).encode()[:-1]),  # cut JSON
    record.map(lambda r: json.dumps(r).replace('"messages"', '"messages": [], "messages"', 1).encode()),  # dup key
    st.just(b""), st.just(b"  \t"), st.just(b"\r"),
    st.binary(max_size=30),  # any bytes, invalid UTF-8 included
    st.just(b'{"messages": [{"role": "user", "content": "' + b"x" * (MAX_RECORD + 10) + b'"}]}'),  # oversized
    st.just(b"[1, 2]"), st.just(b"null"),
    st.integers(1, 40).map(lambda n: b"[" * n + b"]" * n),
)


def _records_expected(data: bytes) -> int:
    """Rows the input must account for: one per non-blank line, one per run of blank lines."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rows, in_run = 0, False
    for i, raw in enumerate(lines):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if i == 0:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        blank = not raw.strip()
        rows += not (blank and in_run)
        in_run = blank
    return rows


@FUZZ
@given(lines=st.lists(line, min_size=1, max_size=25), bom=st.booleans(), crlf=st.booleans(),
       compress=st.sampled_from([None, "gz", "gz-cut"]))
def test_ingest_accounts_for_every_line_or_fails_cleanly(lines, bom, crlf, compress):
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(x + (b"\r\n" if crlf else b"\n") for x in lines)
    with tempfile.TemporaryDirectory() as tmp:
        name = "logs.jsonl" + (".gz" if compress else "")
        path = Path(tmp) / name
        body = gzip.compress(data, mtime=0) if compress else data
        path.write_bytes(body[: len(body) * 2 // 3] if compress == "gz-cut" else body)
        try:
            result = ingest([str(path)], to="fuzz", store=Store(Path(tmp) / "store"), fmt="openai", workers=1,
                            max_record_bytes=MAX_RECORD, allow_partial=compress == "gz-cut")
        except SluiceError as e:
            assert str(e) and "\n" not in e.args[0]  # a clean one-line error
            return
        version = result.version
        acc = version.manifest["accounting"]
        rejected = sum(result.rejected.values())
        quarantined = sum(result.quarantined.values())
        assert result.rows_in == result.kept + rejected + quarantined
        assert (acc["rows_in"], acc["kept"], acc["quarantined_total"]) == (result.rows_in, result.kept, quarantined)
        assert version.read().num_rows == result.kept
        assert version.read("quarantine").num_rows == quarantined
        if compress != "gz-cut":  # a cut file accounts for what was read, plus one row for the damage
            assert result.rows_in == _records_expected(data)


recipe_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text),
                            lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
                            max_leaves=8)
stage_entry = st.one_of(
    st.sampled_from(["normalize", "length", "exact_hash", "nope", ""]),
    st.fixed_dictionaries({"stage": st.sampled_from(["normalize", "length", "length_filter", "exact_hash",
                                                      "language_filter", "nope", 3])},
                          optional={"min_chars": recipe_value, "keep": recipe_value, "key": recipe_value,
                                    "extra": recipe_value}),
    recipe_value,
)
recipe_doc = st.one_of(
    st.fixed_dictionaries({"stages": st.one_of(st.lists(stage_entry, max_size=4), recipe_value)},
                          optional={"name": recipe_value, "input": recipe_value, "output": recipe_value,
                                    "batch_size": recipe_value, "plugins": recipe_value}).map(yaml.safe_dump),
    recipe_value.map(yaml.safe_dump),
    st.text(max_size=80),  # any text: broken YAML, tags, anchors
    st.sampled_from(["!!python/object/apply:os.system ['true']", "a: &x [*x]", "stages: !!binary AAAA",
                     "stages:\n  - stage: normalize\n    <<: *undefined"]),
)


@FUZZ
@given(doc=recipe_doc)
def test_recipe_loader_returns_or_raises_recipe_error(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.yaml"
        path.write_text(doc)
        try:
            recipe, stages = load_recipe(path)
        except RecipeError as e:
            assert str(e)
            return
        assert len(stages) == len(recipe.stages)
