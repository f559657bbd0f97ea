"""Exports a target accepts, and sources that were lossy before.

* OpenAI fine-tuning lines of real tool-calling data (LLaMA-Factory's glaive demo, the OpenAI
  cookbook's drone data) validate against the published schema, with a tool-call id on every
  call and a ``tool_call_id`` naming an earlier call on every tool message;
* TRL's conversational, preference and KTO layouts are what TRL recognizes and templates;
* an AlpacaEval-style pairwise source maps preference 1/2 without swapping pairs; ties are
  rejected and counted;
* metadata is lossless (integers past 2^53 and 2^64, deep nesting) through ingest and export;
* a source id reused by different conversations gets disambiguated, and counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from sluice.curate.ingest import ingest
from sluice.export import export

SCHEMA = json.loads((Path(__file__).parent / "data/export/openai_chat_finetune.schema.json").read_text())
TOOL_SOURCES = ["formats/llamafactory/glaive_toolcall_en_demo.json", "formats/openai_cookbook/drone_training.jsonl"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_openai_line(rec: dict) -> int:
    """Schema, then the links the schema cannot state. Returns the number of tool calls."""
    jsonschema.validate(rec, SCHEMA)
    seen: list[str] = []
    calls = 0
    for m in rec["messages"]:
        if m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            assert len(set(ids)) == len(ids) and not set(ids) & set(seen)
            seen += ids
            calls += len(ids)
        if m["role"] == "tool":
            assert m["tool_call_id"] in seen, "a tool message answers a call made before it"
    return calls


@pytest.mark.parametrize("plain", [False, True])
@pytest.mark.parametrize("rel", TOOL_SOURCES)
def test_openai_export_of_tool_data_is_valid(rel, plain, shared_data, tmp_path, store):
    version = ingest([str(shared_data / rel)], to="t", store=store, workers=1).version
    out = tmp_path / "openai.jsonl"
    n = export(version, "openai", out, plain=plain)
    records = _lines(out)
    assert n == len(records) == version.num_rows()
    calls = sum(check_openai_line(r) for r in records)
    assert calls >= 20
    assert all(t["type"] == "function" and "name" in t["function"] for r in records for t in r.get("tools", []))
    if "drone" in rel:
        assert all(r["parallel_tool_calls"] is False for r in records)  # top level, where OpenAI reads it
    else:  # glaive has no ids: generated ones are stable across exports and unique per call
        again = tmp_path / "again.jsonl"
        export(version, "openai", again, plain=plain)
        assert again.read_bytes() == out.read_bytes()
        assert sum(m["role"] == "tool" for r in records for m in r["messages"]) >= 20
    if not plain:  # the generated ids are undone on import: the exact rows come back
        back = ingest([str(out)], to="back", store=store, workers=1).version
        assert back.read().equals(version.read())


def test_trl_layouts_are_what_trl_reads(shared_data, tmp_path, store):
    from trl.data_utils import is_conversational

    sources = {"conversation": "formats/llamafactory/glaive_toolcall_en_demo.json",
               "preference": "formats/llamafactory/dpo_en_demo.json", "kto": "formats/llamafactory/kto_en_demo.json"}
    keys = {"conversation": {"messages"}, "preference": {"prompt", "chosen", "rejected"},
            "kto": {"prompt", "completion", "label"}}
    for kind, rel in sources.items():
        version = ingest([str(shared_data / rel)], to=kind, store=store, workers=1).version
        out = tmp_path / f"{kind}.jsonl"
        export(version, "trl", out)
        records = _lines(out)
        assert len(records) == version.num_rows() > 0
        for rec in records:
            assert keys[kind] <= set(rec) <= keys[kind] | {"tools"}
            assert is_conversational(rec), kind
            for column in keys[kind] - {"label"}:
                for m in rec[column]:
                    assert set(m) <= {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content"}
        if kind == "conversation":
            for rec in records:
                check_openai_line({k: v for k, v in rec.items()})
        if kind == "kto":
            assert {r["label"] for r in records} == {True, False}


PAIRS = [
    {"instruction": "Name a prime.", "output_1": "Seven.", "output_2": "Eight.", "preference": 1, "generator_1": "a"},
    {"instruction": "Say hi.", "output_1": "Bye.", "output_2": "Hi!", "preference": 2, "generator_1": "a"},
    {"instruction": "Pick.", "output_1": "One", "output_2": "Two", "preference": 0},
    {"instruction": "Pick again.", "output_1": "Left", "output_2": "Right", "preference": 1.5},
    {"instruction": "Weighted.", "output_1": "Good", "output_2": "Bad", "preference": 1.1},
    {"instruction": "Weighted.", "output_1": "Bad", "output_2": "Good", "preference": 1.9},
    {"instruction": "Broken.", "output_1": "x", "output_2": "y", "preference": 3},
]


def test_pairwise_preference_source(tmp_path, store):
    path = tmp_path / "alpaca_eval.json"
    path.write_text(json.dumps(PAIRS))
    result = ingest([str(path)], to="pairs", store=store, workers=1)
    assert result.files[0].format == "pairwise-preference"
    rows = result.version.read().to_pylist()
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("Seven.", "Eight."), ("Hi!", "Bye."), ("Good", "Bad"), ("Good", "Bad")]  # never swapped
    assert rows[0]["prompt"][0]["content"] == "Name a prime."
    assert json.loads(rows[0]["metadata"]) == {"generator_1": "a", "preference": 1}
    acc = result.version.manifest["accounting"]
    assert acc["rejected"] == {"ingest": {"preference_tie": 2}}
    assert acc["quarantined"] == {"ingest": {"wrong_type": 1}}
    assert acc["rows_in"] == 7 == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    ties = result.version.read("rejected").to_pylist()
    assert [t["reason"] for t in ties] == ["preference_tie"] * 2 and ties[0]["stage"] == "ingest"


def test_metadata_is_lossless(tmp_path, store):
    deep: dict = {"leaf": 1}
    for _ in range(500):
        deep = {"n": deep}
    records = [
        {"id": "big", "counter": 123456789012345678901234567890, "neg": -(2**70), "exact": 2**53 + 1, "f": 0.1,
         "messages": [{"role": "user", "content": "hi", "trace": 98765432109876543210},
                      {"role": "assistant", "content": "hello"}]},
        {"id": "deep", "deep": deep, "messages": [{"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "hello"}]},
    ]
    src = tmp_path / "meta.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = ingest([str(src)], to="meta", store=store, workers=1)
    assert result.kept == 2 and not result.quarantined, result.examples
    first, second = result.version.read().to_pylist()
    meta = json.loads(first["metadata"])
    assert meta["counter"] == 123456789012345678901234567890 and meta["neg"] == -(2**70)
    assert meta["exact"] == 2**53 + 1 and meta["f"] == 0.1
    assert json.loads(first["messages"][0]["extra"]) == {"trace": 98765432109876543210}
    assert json.loads(second["metadata"])["deep"] == deep
    for fmt in ("jsonl", "openai", "sharegpt"):
        out = tmp_path / f"{fmt}.jsonl"
        export(result.version, fmt, out)
        text = out.read_text()
        assert "123456789012345678901234567890" in text and "e+29" not in text
        back = ingest([str(out)], to=f"back-{fmt}", store=store, workers=1).version
        assert back.read().equals(result.version.read()), fmt


def test_bad_json_with_long_digits_is_still_named(tmp_path, store):
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b'{"id": 123456789012345678901234, "messages": [\n'
                    b'{"n": 123456789012345678901234, "s": "\xff"}\n{"x": NaN, "n": 123456789012345678901234}\n'
                    + orjson.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
                    + b"\n")
    result = ingest([str(src)], to="bad", store=store, workers=1)
    assert result.kept == 1
    assert dict(result.quarantined) == {"bad_json": 2, "invalid_utf8": 1}


def test_reused_source_ids_are_counted_and_told_apart(tmp_path, store):
    chat = lambda q: {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "ok"}]}  # noqa: E731
    records = [{"id": "r1", **chat("first")}, {"id": "r2", **chat("other")}, {"id": "r1", **chat("first")},
               {"id": "r1", **chat("different")}, {"id": "r2", **chat("also different")}]
    src = tmp_path / "ids.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    # one chunk per line too: a collision across chunks (and parser processes) is found the same way
    for workers, chunk in ((1, 1 << 20), (2, 1)):
        result = ingest([str(src)], to=f"ids{workers}", store=store, workers=workers, chunk_bytes=chunk)
        ids = result.version.read().column("id").to_pylist()
        assert ids[0] == ids[2] != ids[3]  # the same record twice keeps one id (exact dedup's job)
        assert ids[1] != ids[4] and len({ids[0], ids[1], ids[3], ids[4]}) == 4
        assert result.id_collisions == 2 == result.version.manifest["ingest"]["id_collisions"]
