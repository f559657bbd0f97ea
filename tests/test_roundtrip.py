"""ingest → export → ingest gives back the identical table, for every export layout.

Compared as whole Arrow tables: every column (id, source, source_id, created_at, messages with
tool calls and extras, tools, feedback, metadata) and the row order.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
import zstandard

from sluice.curate.ingest import ingest
from sluice.export import FORMATS, export
from sluice.schemas import CONVERSATION, KTO, PREFERENCE

CONVERSATION_COLUMNS = ["id", "source", "source_id", "created_at", "messages", "tools", "feedback", "metadata"]

# Conversations that stress what each layout must carry: named tool-calling turns, null
# arguments, empty tool_calls lists, legacy function calls, aliased roles, content parts,
# message extras, non-function call types, every feedback field, microsecond timestamps.
EDGE_CASES = [
    {"id": "e1", "created_at": "2026-03-10T08:25:36.123456+02:00",
     "messages": [
         {"role": "developer", "content": "be brief"},
         {"role": "user", "content": [{"type": "text", "text": "look: "},
                                      {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
         {"role": "assistant", "name": "helper", "content": None,
          "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "see", "arguments": None}}]},
         {"role": "tool", "tool_call_id": "c1", "name": "see", "content": "a cat"},
         {"role": "assistant", "content": "A cat.", "tool_calls": [], "weight": 1}],
     "tools": [{"type": "function", "function": {"name": "see", "parameters": {"type": "object"}}}],
     "feedback": {"thumb": "down", "rating": 2, "edited": "A small cat.", "comment": "too short", "tags": ["x"]},
     "app": {"name": "demo", "ver": [1, 2]}},
    {"id": "e2", "created_at": 1_700_000_000_123,
     "messages": [
         {"role": "user", "content": "weather?", "id": "msg_1"},  # message ids, as some gateways log them
         {"role": "assistant", "content": None,
          "function_call": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
         {"role": "function", "name": "weather", "content": "{\"t\": -3}"},
         {"role": "assistant", "content": None, "id": "msg_2",
          "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
         {"role": "function", "name": "weather", "content": "{\"t\": -3}"},
         {"role": "assistant", "content": None, "tool_calls": [
             {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
             {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{\"x\": [1, 2]}"}}]},
         {"role": "tool", "tool_call_id": "a", "content": "1"},
         {"role": "tool", "tool_call_id": "b", "content": ""},
         {"role": "assistant", "content": None,
          "tool_calls": [{"id": "z", "type": "custom", "function": {"name": "h", "arguments": "raw text"}}]},
         {"role": "assistant", "content": "done"}],
     "thumb": True},
    {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "no id, no time"}]},
]


def write_edge_cases(path: Path) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in EDGE_CASES) + b"\n")
    return path


SOURCES = {
    "sample_logs": lambda shared, sample, tmp: sample,
    "glaive": lambda shared, sample, tmp: shared / "formats/llamafactory/glaive_toolcall_en_demo.json",
    "drone": lambda shared, sample, tmp: shared / "formats/openai_cookbook/drone_training.jsonl",
    "v1_sft": lambda shared, sample, tmp: shared / "formats/llamafactory/v1_sft_demo.jsonl",
    "gateway_logs": lambda shared, sample, tmp: sample.parent / "sample_gateway_logs.jsonl.gz",
    "edge_cases": lambda shared, sample, tmp: write_edge_cases(tmp / "edge.jsonl"),
}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(SOURCES))
def test_conversations_round_trip(name, fmt, shared_data, sample_logs, tmp_path, store):
    src = SOURCES[name](shared_data, sample_logs, tmp_path)
    first = ingest([str(src)], to="first", store=store, workers=1).version
    original = first.read()
    CONVERSATION.validate(original)
    assert [c for c in original.column_names if c != "ingest_flags"] == CONVERSATION_COLUMNS  # + ingest warnings
    assert original.num_rows > 0

    out = tmp_path / f"export.{fmt}.jsonl"
    assert export(first, fmt, out) == original.num_rows
    again = ingest([str(out)], to="again", store=store, workers=1)
    assert again.files[0].format == {"jsonl": "sluice", "openai": "openai", "sharegpt": "sharegpt",
                                     "responses": "responses"}[fmt]
    assert not again.quarantined
    back = again.version.read()
    for column in CONVERSATION_COLUMNS:  # column by column first, for a readable failure
        assert back.column(column).to_pylist() == original.column(column).to_pylist(), column
    assert back.equals(original)

    # once more: the export of the re-ingested version is byte-identical
    out2 = tmp_path / f"export2.{fmt}.jsonl"
    export(again.version, fmt, out2)
    assert out2.read_bytes() == out.read_bytes()


def test_edge_cases_are_really_in_the_table(tmp_path, store):
    """Guard for the round-trip above: the tricky shapes survive the first ingest."""
    rows = ingest([str(write_edge_cases(tmp_path / "edge.jsonl"))], to="e", store=store,
                  workers=1).version.read().to_pylist()
    e1, e2, e3 = rows
    assert [m["role"] for m in e1["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert json.loads(e1["messages"][0]["extra"]) == {"original_role": "developer"}
    assert e1["messages"][1]["content"] == "look: "
    assert json.loads(e1["messages"][1]["extra"])["content_parts"][1]["type"] == "image_url"
    assert e1["messages"][2]["name"] == "helper"
    assert e1["messages"][2]["tool_calls"][0]["function"]["arguments"] is None
    assert e1["messages"][4]["tool_calls"] == [] and json.loads(e1["messages"][4]["extra"]) == {"weight": 1}
    assert e1["feedback"] == {"thumb": -1, "rating": 2.0, "edited": "A small cat.", "comment": "too short"}
    assert json.loads(e1["metadata"]) == {"app": {"name": "demo", "ver": [1, 2]}, "feedback_extra": {"tags": ["x"]}}
    assert e1["created_at"].isoformat() == "2026-03-10T06:25:36.123456+00:00"
    assert e2["created_at"].timestamp() == 1_700_000_000.123
    assert json.loads(e2["messages"][0]["extra"]) == {"id": "msg_1"}
    assert json.loads(e2["messages"][1]["extra"]) == {"legacy_function_call": True}
    assert e2["messages"][2]["role"] == "tool"
    assert json.loads(e2["messages"][3]["extra"]) == {"id": "msg_2"}
    assert e2["messages"][3]["tool_calls"][0]["id"] == "call_9"
    assert e2["messages"][8]["tool_calls"][0]["type"] == "custom"
    assert e2["feedback"]["thumb"] == 1
    assert e3["source_id"] is None and e3["created_at"] is None and e3["feedback"] is None


PAIR_SOURCES = {
    "dpo": ("formats/llamafactory/dpo_en_demo.json", "preference"),
    "v1_dpo": ("formats/llamafactory/v1_dpo_demo.jsonl", "preference"),
    "hh": ("preferences/hh_rlhf_harmless/harmless-base_test.jsonl.gz", "preference"),
    "kto": ("formats/llamafactory/kto_en_demo.json", "kto"),
}


@pytest.mark.parametrize("name", list(PAIR_SOURCES))
def test_preference_and_kto_round_trip(name, shared_data, tmp_path, store):
    rel, kind = PAIR_SOURCES[name]
    first = ingest([str(shared_data / rel)], to="first", store=store, workers=1).version
    assert first.kind == kind
    original = first.read()
    out = tmp_path / "pairs.jsonl.gz"  # compressed export, read back transparently
    assert export(first, "jsonl", out) == original.num_rows
    again = ingest([str(out)], to="again", store=store, workers=1)
    assert again.files[0].format == f"sluice-{kind}" and not again.quarantined
    assert again.version.kind == kind
    assert again.version.read().equals(original)


def _rich_pairs(kind: str) -> list[dict]:
    """Native rows with every column set, as another stage or labeling would write them."""
    msg = lambda role, text, **kw: {"role": role, "content": text, **kw}  # noqa: E731
    base = {"source": "labeling", "created_at": "2026-04-01T10:00:00.000001+00:00", "source_ids": ["c1", "c2"],
            "metadata": {"annotator": "a7", "round": 2}}
    call = [{"id": "k", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    prompt = [msg("system", "sys"), msg("user", "q", weight=0)]
    if kind == "preference":
        return [{**base, "id": "p1", "source_id": "s1", "prompt": prompt, "origin": "edit",
                 "chosen": [msg("assistant", None, tool_calls=call), msg("tool", "r", tool_call_id="k"),
                            msg("assistant", "good")],
                 "rejected": [msg("assistant", "bad")], "score_chosen": 4.5, "score_rejected": -1},
                {"id": "p2", "source": "synth", "source_id": None, "created_at": None, "prompt": [],
                 "chosen": [msg("assistant", "a")], "rejected": [msg("assistant", "b")], "origin": "synthetic",
                 "score_chosen": None, "score_rejected": None, "source_ids": None, "metadata": None}]
    return [{**base, "id": "k1", "source_id": "s1", "prompt": prompt, "completion": [msg("assistant", "ok")],
             "label": True, "origin": "thumbs-pair"},
            {**base, "id": "k2", "source_id": None, "prompt": prompt, "source_ids": [],
             "completion": [msg("assistant", None, tool_calls=call)], "label": False, "origin": "rating"}]


@pytest.mark.parametrize("kind", ["preference", "kto"])
def test_rich_pair_rows_round_trip(kind, tmp_path, store):
    src = tmp_path / f"{kind}.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(r) for r in _rich_pairs(kind)) + b"\n")
    first = ingest([str(src)], to="first", store=store, workers=1)
    assert first.files[0].format == f"sluice-{kind}" and first.kept == 2 and not first.quarantined
    original = first.version.read()
    (PREFERENCE if kind == "preference" else KTO).validate(original)
    row = original.to_pylist()[0]
    assert row["source_ids"] == ["c1", "c2"] and json.loads(row["metadata"]) == {"annotator": "a7", "round": 2}
    assert row["created_at"].microsecond == 1 and row["source"] == "labeling"

    out = tmp_path / "out.jsonl.zst"
    export(first.version, "jsonl", out)
    again = ingest([str(out)], to="again", store=store, workers=1)
    assert again.version.read().equals(original)


@pytest.mark.parametrize("fmt", ["openai", "sharegpt"])
def test_plain_export_has_no_sluice_keys(fmt, tmp_path, store):
    src = write_edge_cases(tmp_path / "edge.jsonl")
    version = ingest([str(src)], to="edge", store=store, workers=1).version
    out = tmp_path / "plain.jsonl"
    export(version, fmt, out, plain=True)
    records = _lines(out)
    assert len(records) == len(EDGE_CASES)
    if fmt == "openai":
        allowed_record, turns_key = {"messages", "tools", "parallel_tool_calls"}, "messages"
        allowed_message = {"role", "content", "name", "tool_calls", "tool_call_id"}
    else:
        allowed_record, turns_key = {"conversations", "tools"}, "conversations"
        allowed_message = {"from", "value", "name", "tool_calls", "tool_call_id", "id"}
    for rec in records:
        assert "sluice" not in rec and set(rec) <= allowed_record
        for m in rec[turns_key]:
            assert set(m) <= allowed_message, set(m) - allowed_message
    assert "tools" in records[0]

    # the non-plain export of the same version carries lineage and extras
    full = tmp_path / "full.jsonl"
    export(version, fmt, full)
    full_records = _lines(full)
    assert all("sluice" in r for r in full_records)
    if fmt == "openai":  # messages stay valid for OpenAI: their extras travel in the lineage object
        assert all(set(m) <= allowed_message for r in full_records for m in r[turns_key])
        assert any(r["sluice"].get("message_extra") for r in full_records)
    else:
        assert any(set(m) - allowed_message for r in full_records for m in r[turns_key])

    # plain output is still valid input: same conversations, minus what plain leaves out
    again = ingest([str(out)], to="plain", store=store, workers=1)
    assert again.kept == len(EDGE_CASES) and not again.quarantined
    texts = lambda t: [[m["content"] for m in ms] for ms in t.column("messages").to_pylist()]  # noqa: E731
    assert texts(again.version.read()) == texts(version.read())


def test_quarantine_part_exports_as_jsonl(tmp_path, store, sample_logs):
    version = ingest([str(sample_logs)], to="s", store=store, workers=1).version
    out = tmp_path / "q.jsonl"
    n = export(version, "jsonl", out, part="quarantine")
    assert n == version.manifest["accounting"]["quarantined_total"] > 0
    rows = _lines(out)
    assert {r["error_kind"] for r in rows} >= {"bad_json", "invalid_utf8", "empty_line"}
    assert all(isinstance(r["raw"], str) for r in rows)


def test_compressed_exports(tmp_path, store, sample_logs):
    version = ingest([str(sample_logs)], to="s", store=store, workers=1).version
    export(version, "openai", tmp_path / "a.jsonl.gz")
    export(version, "openai", tmp_path / "a.jsonl.zst")
    export(version, "openai", tmp_path / "a.jsonl")
    plain = (tmp_path / "a.jsonl").read_bytes()
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == plain
    assert zstandard.ZstdDecompressor().stream_reader(
        (tmp_path / "a.jsonl.zst").open("rb")).read() == plain
    assert not list(tmp_path.glob("*.partial"))
