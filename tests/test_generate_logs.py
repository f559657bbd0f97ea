"""Tests for examples/generate_logs.py, the deterministic fake production-log generator."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import generate_logs  # noqa: E402

ROLES = ("system", "user", "assistant", "tool")
KINDS = generate_logs.MALFORMED_KINDS


def conversation(obj: dict, fmt: str):
    """The full message list of a parsed record (chat: messages; gateway: request + answer)."""
    if fmt == "chat":
        return obj.get("messages")
    msgs = obj["request"].get("messages")
    if not isinstance(msgs, list):
        return msgs
    return msgs + [c["message"] for c in obj["response"]["choices"]] if msgs else []


def classify(line: bytes, fmt: str) -> tuple[str | None, dict | None]:
    """Reference validator: (malformed kind or None, parsed record if valid)."""
    if not line.strip():
        return "blank_line", None
    if len(line) > generate_logs.OVERSIZED_BYTES:
        return "oversized", None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return "bad_json", None
    if not isinstance(obj, dict):
        return "not_object", None
    msgs = conversation(obj, fmt)
    if not isinstance(msgs, list):
        return "wrong_type", None
    if not msgs:
        return "empty_messages", None
    for m in msgs:
        if not isinstance(m, dict):
            return "wrong_type", None
        if "role" not in m:
            return "missing_role", None
        if m["role"] not in ROLES:
            return "unknown_role", None
        content = m.get("content")
        if not (isinstance(content, str) or (content is None and m["role"] == "assistant" and m.get("tool_calls"))):
            return "wrong_type", None
    if not any(m["role"] == "assistant" for m in msgs):
        return "no_assistant", None
    return None, obj


def read_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    elif path.suffix == ".zst":
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def tally(lines: list[bytes], fmt: str) -> dict:
    """Recount from the file what `write` reports."""
    out = {"lines": len(lines), "malformed": dict.fromkeys(KINDS, 0), "valid": 0, "thumbs_up": 0,
           "thumbs_down": 0, "edits": 0, "ratings": 0, "exact_duplicates": 0}
    seen = set()
    for line in lines:
        kind, obj = classify(line, fmt)
        if kind:
            out["malformed"][kind] += 1
            continue
        out["valid"] += 1
        fb = obj.get("feedback")
        if fb is not None:
            out["thumbs_up"] += fb["thumb"] == "up"
            out["thumbs_down"] += fb["thumb"] == "down"
            out["edits"] += fb["edited"] is not None
            out["ratings"] += fb["rating"] is not None
        key = json.dumps(conversation(obj, fmt), sort_keys=True)
        out["exact_duplicates"] += key in seen
        seen.add(key)
    return out


@pytest.mark.parametrize("fmt", generate_logs.FORMATS)
def test_deterministic(fmt):
    a = list(generate_logs.generate_lines(600, seed=3, fmt=fmt))
    b = list(generate_logs.generate_lines(600, seed=3, fmt=fmt))
    c = list(generate_logs.generate_lines(600, seed=4, fmt=fmt))
    assert len(a) == 600 and all(isinstance(x, bytes) and b"\n" not in x for x in a)
    assert a == b
    assert a != c


def test_write_is_byte_identical(tmp_path):
    for suffix in (".jsonl", ".jsonl.gz", ".jsonl.zst"):
        p1, p2 = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        generate_logs.write(p1, 300, seed=5)
        generate_logs.write(p2, 300, seed=5)
        assert p1.read_bytes() == p2.read_bytes(), suffix


@pytest.mark.parametrize("fmt", generate_logs.FORMATS)
def test_counts_match_file_and_every_kind_appears(tmp_path, fmt):
    path = tmp_path / "logs.jsonl"
    counts = generate_logs.write(path, 2000, seed=0, fmt=fmt)
    lines = read_lines(path)
    found = tally(lines, fmt)
    for key, value in found.items():
        assert counts[key] == value, key
    assert counts["lines"] == 2000
    assert counts["valid"] + sum(counts["malformed"].values()) == 2000
    assert all(counts["malformed"][k] >= 1 for k in KINDS), counts["malformed"]
    assert counts["malformed"]["oversized"] == 1
    assert sum(counts["malformed"].values()) == 20  # round(2000 * 0.01), at least one of each kind
    # the content mix is roughly as documented
    valid = counts["valid"]
    assert 0.02 < counts["exact_duplicates"] / valid < 0.045
    assert 0.02 < counts["near_duplicates"] / valid < 0.045
    assert 0.33 < counts["pii"] / valid < 0.47
    assert 0.07 < counts["tool_calls"] / valid < 0.13
    assert 0.68 < counts["languages"]["en"] / valid < 0.82
    assert set(counts["languages"]) == set(generate_logs.LOCALES)
    assert 0.25 < sum(1 for line in lines if b'"feedback"' in line) / valid < 0.36


def test_small_files_have_every_kind_but_oversized():
    kinds = {}
    for line in generate_logs.generate_lines(200, seed=9):
        kind, _ = classify(line, "chat")
        kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) == (set(KINDS) - {"oversized"}) | {None}


@pytest.mark.parametrize("fmt", generate_logs.FORMATS)
def test_clean_output_is_all_valid(tmp_path, fmt):
    path = tmp_path / "clean.jsonl"
    counts = generate_logs.write(path, 3000, seed=2, fmt=fmt, clean=True)
    lines = read_lines(path)
    assert counts["valid"] == len(lines) == 3000
    assert not any(counts["malformed"].values())
    finish = {}
    for line in lines:
        kind, obj = classify(line, fmt)
        assert kind is None, (kind, line[:200])
        msgs = conversation(obj, fmt)
        last = msgs[-1]
        assert last["role"] == "assistant"
        if fmt == "chat":
            assert isinstance(last["content"], str)
            assert obj["id"].startswith("conv_") and obj["created_at"].endswith("Z")
            assert set(obj["metadata"]) == {"user_id", "app", "session_id", "latency_ms", "region"}
        else:
            choice = obj["response"]["choices"][0]
            finish[choice["finish_reason"]] = finish.get(choice["finish_reason"], 0) + 1
            assert (choice["finish_reason"] == "tool_calls") == (last["content"] is None)
            usage = obj["response"]["usage"]
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        # tool flows: each call is answered by a tool message with the same id; arguments are JSON strings
        for i, m in enumerate(msgs):
            if m.get("tool_calls"):
                assert "tools" in (obj if fmt == "chat" else obj["request"])
                call = m["tool_calls"][0]
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
                if i + 1 < len(msgs):
                    assert msgs[i + 1] == {"role": "tool", "tool_call_id": call["id"], "content": msgs[i + 1]["content"]}
                    json.loads(msgs[i + 1]["content"])
                    assert msgs[i + 2]["role"] == "assistant" and isinstance(msgs[i + 2]["content"], str)
        assert len(line) < generate_logs.OVERSIZED_BYTES
    if fmt == "request-response":
        assert finish.keys() == {"stop", "length", "tool_calls"}
    ids = [json.loads(x)["id" if fmt == "chat" else "request_id"] for x in lines]
    assert len(set(ids)) == len(ids)


def test_content_features():
    lines = [json.loads(x) for x in generate_logs.generate_lines(3000, seed=1, clean=True)]
    texts = [m["content"] or "" for r in lines for m in r["messages"]]
    blob = "\n".join(texts)
    assert len(set(texts)) > 0.6 * len(texts)  # diverse, not a handful of strings
    assert "As an AI language model" in blob and "sk-" in blob and "@" in blob
    assert any(r["messages"][-1]["content"] == "" for r in lines)
    assert max(len(r["messages"][-1]["content"]) for r in lines) > 3000  # some very long answers
    assert any(len(set(r["messages"][-1]["content"].split(". "))) == 1 and len(r["messages"][-1]["content"]) > 500
               for r in lines)  # repetitive answers
    assert sum(r["messages"][0]["role"] == "system" for r in lines) / len(lines) > 0.6
    feedback = [r["feedback"] for r in lines if "feedback" in r]
    assert {f["thumb"] for f in feedback} == {"up", "down", None}
    assert {f["rating"] for f in feedback} == {None, 1, 2, 3, 4, 5}
    assert any(f["edited"] for f in feedback) and any(f["comment"] for f in feedback)


def test_compressed_round_trip(tmp_path):
    expected = list(generate_logs.generate_lines(400, seed=7, fmt="request-response"))
    for suffix in (".gz", ".zst"):
        path = tmp_path / f"logs.jsonl{suffix}"
        counts = generate_logs.write(path, 400, seed=7, fmt="request-response")
        assert read_lines(path) == expected
        assert counts["lines"] == 400
    assert gzip.open(tmp_path / "logs.jsonl.gz").read().count(b"\n") == 400


def test_cli(tmp_path):
    out = tmp_path / "cli.jsonl.gz"
    subprocess.run([sys.executable, str(EXAMPLES / "generate_logs.py"), "--n", "250", "--seed", "1", "--out", str(out),
                    "--format", "request-response", "--malformed-rate", "0.02"], check=True, capture_output=True)
    assert read_lines(out) == list(generate_logs.generate_lines(250, seed=1, fmt="request-response", malformed_rate=0.02))


def test_committed_samples_parse():
    data = EXAMPLES / "data"
    chat, gateway = data / "sample_logs.jsonl", data / "sample_gateway_logs.jsonl.gz"
    if not chat.exists() or not gateway.exists():
        pytest.skip("samples not generated")
    for path, fmt, n in ((chat, "chat", 600), (gateway, "request-response", 200)):
        assert path.stat().st_size < 1_500_000
        found = tally(read_lines(path), fmt)
        assert found["lines"] == n
        assert all(found["malformed"][k] >= 1 for k in KINDS if k != "oversized")
        assert found["malformed"]["oversized"] == 0


def test_speed_report():
    t0 = time.perf_counter()
    generate_logs._pools(0)
    t1 = time.perf_counter()
    n = sum(1 for _ in generate_logs.generate_lines(20_000, seed=0, clean=True))
    t2 = time.perf_counter()
    print(f"\npools {t1 - t0:.2f}s; {n} chat records in {t2 - t1:.2f}s ({n / (t2 - t1):,.0f} records/s)")
