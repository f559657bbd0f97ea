"""`sluice ingest` over every vendored reference data file (tests/data/reference): format detection, record
kind, exact per-file accounting from the manifest, schema validation and content spot checks."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sluice.curate.ingest import ingest
from sluice.errors import InputError
from sluice.schemas import CONVERSATION, KTO, PREFERENCE

SCHEMAS = {"conversation": CONVERSATION, "preference": PREFERENCE, "kto": KTO}
HH = "preferences/hh_rlhf_harmless/harmless-base_test.jsonl.gz"

# relative path → (detected format, record kind, records in the file). Every one is clean
# reference data: every record must be kept.
EXPECTED = {
    "formats/llamafactory/alpaca_en_demo.json": ("alpaca", "conversation", 600),
    "formats/llamafactory/alpaca_zh_demo.json": ("alpaca", "conversation", 100),
    "formats/llamafactory/dpo_en_demo.json": ("llamafactory-preference", "preference", 20),
    "formats/llamafactory/dpo_zh_demo.json": ("llamafactory-preference", "preference", 20),
    "formats/llamafactory/glaive_toolcall_en_demo.json": ("sharegpt", "conversation", 60),
    "formats/llamafactory/identity.json": ("alpaca", "conversation", 91),
    "formats/llamafactory/kto_en_demo.json": ("llamafactory-kto", "kto", 30),
    "formats/llamafactory/v1_dpo_demo.jsonl": ("llamafactory-v1-preference", "preference", 10),
    "formats/llamafactory/v1_sft_demo.jsonl": ("openai", "conversation", 100),
    "formats/openai_cookbook/drone_training.jsonl": ("openai", "conversation", 20),
    "formats/openai_cookbook/toy_chat_fine_tuning.jsonl": ("openai", "conversation", 5),
    "formats/sharegpt_fastchat/fastchat_dummy_conversation.json": ("sharegpt", "conversation", 100),
    HH: ("hh", "preference", 300),
}


def _is_data_file(p: Path) -> bool:
    name = p.name
    return not (name == "dataset_info.json" or name.startswith(("EXPECTED_", "LICENSE", "README", "SOURCE")))


def _load(path: Path) -> list[dict]:
    if path.name.endswith(".gz"):
        return [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8") if line.strip()]
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(path.read_text(encoding="utf-8"))


def _roles(messages) -> list[str]:
    return [m["role"] for m in messages]


def _extra(m) -> dict:
    return json.loads(m["extra"]) if m["extra"] else {}


# -- content spot checks, one per file ---------------------------------------------------

def check_alpaca(rows, source):
    for row, rec in zip(rows, source, strict=True):
        msgs = row["messages"]
        assert _roles(msgs) == ["user", "assistant"]
        want = f"{rec['instruction']}\n\n{rec['input']}" if rec["input"] else rec["instruction"]
        assert msgs[0]["content"] == want
        assert msgs[1]["content"] == rec["output"]
        assert (_extra(msgs[0]).get("alpaca_input") or "") == rec["input"]


def check_identity(rows, source):
    check_alpaca(rows, source)
    assert any("{{name}}" in r["messages"][1]["content"] for r in rows)  # template placeholders kept verbatim


def check_llamafactory_dpo(rows, source):
    for row, rec in zip(rows, source, strict=True):
        assert row["prompt"] and row["chosen"] and row["rejected"]
        assert row["prompt"][-1]["role"] == "user"
        assert _roles(row["chosen"]) == ["assistant"] and _roles(row["rejected"]) == ["assistant"]
        assert row["chosen"][0]["content"] == rec["chosen"]["value"]
        assert row["rejected"][0]["content"] == rec["rejected"]["value"]
        assert [m["content"] for m in row["prompt"]] == [t["value"] for t in rec["conversations"]]
        assert row["origin"] == "imported"


def check_glaive(rows, source):
    calls = tool_msgs = 0
    for row, rec in zip(rows, source, strict=True):
        assert len(row["messages"]) == len(rec["conversations"])
        assert json.loads(row["tools"]) == json.loads(rec["tools"]) if rec["tools"] else row["tools"] is None
        for m, turn in zip(row["messages"], rec["conversations"], strict=True):
            if turn["from"] == "function_call":
                assert m["role"] == "assistant" and m["content"] is None
                (call,) = m["tool_calls"]
                value = json.loads(turn["value"])
                assert call["type"] == "function"
                assert call["function"]["name"] == value["name"]
                assert isinstance(call["function"]["arguments"], str)
                assert json.loads(call["function"]["arguments"]) == value["arguments"]
                calls += 1
            elif turn["from"] == "observation":
                assert m["role"] == "tool" and m["content"] == turn["value"]
                tool_msgs += 1
            else:
                assert m["role"] == {"human": "user", "gpt": "assistant"}[turn["from"]]
                assert m["content"] == turn["value"] and not m["tool_calls"]
    assert calls > 20 and tool_msgs > 20


def check_kto(rows, source):
    for row, rec in zip(rows, source, strict=True):
        assert isinstance(row["label"], bool) and row["label"] is rec["label"]
        assert _roles(row["completion"]) == ["assistant"]
        assert row["completion"][0]["content"] == rec["messages"][-1]["content"]
        assert [m["content"] for m in row["prompt"]] == [m["content"] for m in rec["messages"][:-1]]
    labels = [r["label"] for r in rows]
    assert labels.count(True) == sum(r["label"] for r in source) > 0 and False in labels


def check_v1_dpo(rows, source):
    for row in rows:
        assert _roles(row["prompt"]) == ["system", "user"]
        assert _roles(row["chosen"]) == ["assistant"] and _roles(row["rejected"]) == ["assistant"]
        for m in row["prompt"] + row["chosen"] + row["rejected"]:
            extra = _extra(m)
            assert extra["content_parts"][0]["value"] == m["content"]  # text extracted, parts kept
            assert "loss_weight" in extra
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]


def check_v1_sft(rows, source):
    for row, rec in zip(rows, source, strict=True):
        for m, orig in zip(row["messages"], rec["messages"], strict=True):
            assert m["content"] == "".join(p["value"] for p in orig["content"])
            extra = _extra(m)
            assert extra["content_parts"] == orig["content"]
            assert extra["loss_weight"] == orig["loss_weight"]
    assert rows[0]["messages"][0]["content"] == "hi"


def check_drone(rows, source):
    n_calls = 0
    for row, rec in zip(rows, source, strict=True):
        assert json.loads(row["tools"]) == rec["tools"]
        assert json.loads(row["metadata"]) == {"parallel_tool_calls": False}
        for m, orig in zip(row["messages"], rec["messages"], strict=True):
            if orig.get("tool_calls"):
                assert m["role"] == "assistant" and m["content"] is None
                assert m["tool_calls"] == orig["tool_calls"]  # id, type, name, arguments as given
                for call in m["tool_calls"]:
                    assert isinstance(call["function"]["arguments"], str)
                    json.loads(call["function"]["arguments"])
                n_calls += 1
            else:
                assert m["content"] == orig["content"] and m["tool_calls"] is None
    assert n_calls == len(rows)


def check_toy_chat(rows, source):
    assert len(rows) == 5
    roles = [_roles(r["messages"]) for r in rows]
    assert sum("system" not in r for r in roles) == 1
    assert sum("user" not in r for r in roles) == 1
    assert ["system", "assistant"] in roles
    answers = [r["messages"][-1]["content"] for r in rows]
    assert "Eat a banana!" * 2000 in answers  # degenerate answer kept: later filters must see it
    assert max(len(r["messages"]) for r in rows) == 9


def check_fastchat(rows, source):
    for row, rec in zip(rows, source, strict=True):
        assert row["source_id"] == rec["id"]
        assert [m["content"] for m in row["messages"]] == [t["value"] for t in rec["conversations"]]
    assert len({r["id"] for r in rows}) == len(rows)


def check_hh(rows, source):
    for row, rec in zip(rows, source, strict=True):
        assert row["prompt"] and row["prompt"][-1]["role"] == "user"
        assert row["chosen"] and row["chosen"][0]["role"] == "assistant"
        assert row["rejected"] and row["rejected"][0]["role"] == "assistant"
        assert row["prompt"][0]["role"] == "user"
        text = "".join(f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}"
                       for m in row["prompt"] + row["chosen"])
        assert text == rec["chosen"]  # the transcript is split without losing a character


CHECKS = {
    "alpaca_en_demo.json": check_alpaca, "alpaca_zh_demo.json": check_alpaca, "identity.json": check_identity,
    "dpo_en_demo.json": check_llamafactory_dpo, "dpo_zh_demo.json": check_llamafactory_dpo,
    "glaive_toolcall_en_demo.json": check_glaive, "kto_en_demo.json": check_kto,
    "v1_dpo_demo.jsonl": check_v1_dpo, "v1_sft_demo.jsonl": check_v1_sft, "drone_training.jsonl": check_drone,
    "toy_chat_fine_tuning.jsonl": check_toy_chat, "fastchat_dummy_conversation.json": check_fastchat,
    "harmless-base_test.jsonl.gz": check_hh,
}


def test_every_shared_data_file_is_covered(shared_data):
    found = {str(p.relative_to(shared_data)) for p in (shared_data / "formats").rglob("*")
             if p.is_file() and _is_data_file(p)}
    found.add(HH)
    assert found == set(EXPECTED), "a data file was added or removed: give it an expectation here"
    assert set(CHECKS) == {Path(k).name for k in EXPECTED}


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_ingest_reference_file(rel, shared_data, store):
    path = shared_data / rel
    fmt, kind, n = EXPECTED[rel]
    result = ingest([str(path)], to="ref", store=store, workers=1)

    (report,) = result.files
    assert (report.format, report.kind) == (fmt, kind)
    version = store.resolve("ref@latest")
    manifest = version.manifest
    assert manifest["kind"] == kind == version.kind

    # accounting, from the manifest: in = kept + quarantined, per file and in total
    (inp,) = manifest["inputs"]
    assert inp["format"] == fmt and inp["kind"] == kind
    assert inp["rows_in"] == inp["kept"] + inp["quarantined"] == n
    assert inp["quarantined"] == sum(inp["quarantined_by_kind"].values()) == 0
    acc = manifest["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"] == n
    assert acc["kept"] == n and manifest["rows"] == n

    data = version.read()
    SCHEMAS[kind].validate(data)
    assert data.num_rows == n and version.read("quarantine").num_rows == 0
    assert data.column("source").to_pylist() == [path.name.removesuffix(".gz")] * n
    source = _load(path)
    # ids hash the source id, else the content: only records that are exact duplicates share one
    ids = data.column("id").to_pylist()
    assert all(ids)
    assert len(set(ids)) == len({json.dumps(r, sort_keys=True) for r in source})

    CHECKS[path.name](data.to_pylist(), source)


def test_mixed_record_kinds_fail_clearly(shared_data, store):
    chat = shared_data / "formats/llamafactory/alpaca_en_demo.json"
    prefs = shared_data / "formats/llamafactory/dpo_en_demo.json"
    with pytest.raises(InputError) as err:
        ingest([str(chat), str(prefs)], to="mixed", store=store, workers=1)
    text = str(err.value)
    assert "different record kinds" in err.value.message
    assert str(chat) in text and "conversation" in text
    assert str(prefs) in text and "preference" in text
    assert store.versions("mixed") == []


def test_dataset_info_is_not_data(shared_data, store):
    info = shared_data / "formats/llamafactory/dataset_info.json"
    with pytest.raises(InputError) as err:
        ingest([str(info)], to="info", store=store, workers=1)
    assert str(info) in str(err.value)
    assert "cannot tell the format" in str(err.value)
    assert store.versions("info") == []


def test_dataset_info_in_a_directory_is_named(shared_data, store):
    """Ingesting the whole llamafactory folder stops before any work and names the offending file."""
    folder = shared_data / "formats/llamafactory"
    with pytest.raises(InputError) as err:
        ingest([str(folder)], to="folder", store=store, workers=1)
    assert "dataset_info.json" in str(err.value)
    assert store.versions("folder") == []


def test_self_instruct_seed_tasks(shared_data, store):
    path = shared_data / "instructions/alpaca_seed_tasks/seed_tasks.jsonl"
    result = ingest([str(path)], to="seeds", store=store, workers=1)
    assert result.files[0].format == "self-instruct-seed"
    source = _load(path)
    assert result.kept == result.rows_in == len(source) == 20
    rows = {r["source_id"]: r for r in store.resolve("seeds").read().to_pylist()}
    for rec in source:
        row = rows[rec["id"]]
        first = rec["instances"][0]
        user, answer = row["messages"]
        assert user["role"] == "user" and user["content"].startswith(rec["instruction"])
        assert (first["input"] in user["content"]) and answer["content"] == first["output"]
        meta = json.loads(row["metadata"])
        assert meta["name"] == rec["name"] and meta.get("other_instances", []) == rec["instances"][1:]
