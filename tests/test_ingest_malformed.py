"""Bad input never stops ingest and is never lost: each bad record becomes one quarantine row
with file, line, error kind and field; good records around it are kept; accounting is exact;
errors never quote record values. Also: strict mode, inputs that are not there, compressed
files, directories, globs, parallel parsing and table (CSV / Parquet) inputs."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from sluice.curate.ingest import ingest
from sluice.errors import DataError, InputError
from sluice.schemas import CONVERSATION, PREFERENCE, QUARANTINE, RAW_PREFIX_BYTES

EMAIL = "jane.doe@example.com"
NAME = "Jane Doe"
SECRETS = (EMAIL, NAME, "Jane", "555-0199")
PII = f"Hi, I am {NAME}, mail me at {EMAIL} or call 555-0199"
MAX = 4096


def j(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def good(i: int) -> bytes:
    return j({"id": f"good-{i}", "created_at": "2026-03-10T08:25:36Z",
              "messages": [{"role": "user", "content": f"question {i}: {PII}"},
                           {"role": "assistant", "content": f"answer {i}"}]})


def chat(*messages, **extra) -> bytes:
    return j({"messages": list(messages), **extra})


U = {"role": "user", "content": PII}
A = {"role": "assistant", "content": f"Sure, {NAME}."}

# (error_kind, field, the line's bytes) — one of each kind of bad input
BAD: list[tuple[str, str | None, bytes]] = [
    ("bad_json", None, b'{"id": "x1", "messages": [{"role": "user", "content": "' + PII.encode() + b'"}'),
    ("wrong_type", "messages", j({"messages": PII})),
    ("wrong_type", "messages[0].content", chat({"role": "user", "content": 5550199}, A)),
    ("unknown_role", "messages[1].role", chat(U, {"role": "Jane", "content": PII}, A)),
    ("missing_role", "messages[0].role", chat({"content": PII}, A)),
    ("empty_conversation", "messages", chat(note=PII)),
    ("no_assistant_turn", "messages", chat({"role": "system", "content": "be nice"}, U)),
    ("invalid_utf8", None, b'{"messages": [{"role": "user", "content": "' + PII.encode() + b' \xff\xfe"}]}'),
    ("oversized", None, chat(U, {"role": "assistant", "content": PII * 2000})),  # > RAW_PREFIX_BYTES too
    ("not_object", None, j([U, A])),
    ("empty_line", None, b""),
    ("empty_line", None, b"   \t"),
    # type confusion deep inside a record must cost that record only, not crash the batch
    ("wrong_type", "messages[1].tool_calls[0].type",
     chat(U, {"role": "assistant", "content": None,
              "tool_calls": [{"id": "c1", "type": 7, "function": {"name": "f", "arguments": "{}"}}]})),
    ("wrong_type", "messages[1].tool_calls[0].function.name",
     chat(U, {"role": "assistant", "tool_calls": [{"function": {"name": None, "arguments": PII}}]})),
    ("bad_timestamp", "created_at", chat(U, A, created_at=PII)),
    ("bad_timestamp", "created_at", chat(U, A, created_at=1e300)),
    ("wrong_type", "feedback.thumb", chat(U, A, feedback={"thumb": PII})),
]


def write_mixed(path: Path, crlf_last: bool = True) -> tuple[list[bytes], dict[int, tuple[str, str | None, bytes]]]:
    """good, bad, good, bad, ..., good. Returns the lines and {1-based line: bad entry}."""
    lines: list[bytes] = []
    bad_at = {}
    for i, entry in enumerate(BAD):
        lines.append(good(i))
        lines.append(entry[2])
        bad_at[len(lines)] = entry
    lines.append(good(len(BAD)) + (b"\r" if crlf_last else b""))  # a Windows line ending is fine
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines, bad_at


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked"


def test_each_bad_line_is_quarantined_with_kind_line_and_field(tmp_path, store):
    path = tmp_path / "logs.jsonl"
    lines, bad_at = write_mixed(path)
    result = ingest([str(path)], to="logs", store=store, max_record_bytes=MAX, workers=1)
    version = result.version

    q = version.read("quarantine")
    QUARANTINE.validate(q)
    rows = q.to_pylist()
    assert [r["line"] for r in rows] == sorted(bad_at)
    for r in rows:
        kind, field, raw = bad_at[r["line"]]
        assert (r["error_kind"], r["field"]) == (kind, field), r["line"]
        assert r["row"] == r["line"] - 1
        assert r["source_file"] == str(path)
        assert r["stage"] == "ingest" and r["id"] is None
        assert r["raw"] == raw[:RAW_PREFIX_BYTES] and r["raw_size"] == len(raw)
        assert r["error"]
        assert_no_secrets(r["error"])
    oversized = next(r for r in rows if r["error_kind"] == "oversized")
    assert oversized["raw_size"] > RAW_PREFIX_BYTES == len(oversized["raw"])  # a bounded prefix

    data = version.read()
    CONVERSATION.validate(data)
    assert data.column("source_id").to_pylist() == [f"good-{i}" for i in range(len(BAD) + 1)]

    # accounting adds up: result, manifest totals, per-kind counts and per-file inputs
    n_good, n_bad = len(BAD) + 1, len(BAD)
    assert (result.rows_in, result.kept, sum(result.quarantined.values())) == (n_good + n_bad, n_good, n_bad)
    manifest = version.manifest
    acc = manifest["accounting"]
    assert acc["rows_in"] == len(lines) == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    assert acc["kept"] == n_good and acc["quarantined_total"] == n_bad
    by_kind: dict[str, int] = {}
    for kind, _, _ in BAD:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    assert acc["quarantined"] == {"ingest": by_kind}
    (inp,) = manifest["inputs"]
    assert (inp["rows_in"], inp["kept"], inp["quarantined"]) == (len(lines), n_good, n_bad)
    assert inp["quarantined_by_kind"] == by_kind
    assert manifest["parts"]["quarantine"]["rows"] == n_bad

    # nothing a record said reaches the manifest, the data card or the examples shown to users
    assert_no_secrets((version.path / "manifest.json").read_text())
    assert_no_secrets((version.path / "DATACARD.md").read_text())
    assert_no_secrets(json.dumps(result.examples, default=str))
    assert all("raw" not in e for e in result.examples)


def test_unknown_role_names_a_known_code_but_never_free_text(tmp_path, store):
    path = tmp_path / "roles.jsonl"
    path.write_bytes(b"\n".join([good(0), chat(U, {"role": "bot", "content": "x"}),
                                 chat(U, {"role": "Jane", "content": "x"}), chat({"role": EMAIL, "content": "x"}, A)]))
    ingest([str(path)], to="roles", store=store, workers=1)
    errors = store.resolve("roles").read("quarantine").column("error").to_pylist()
    assert "'bot'" in errors[0]  # a role code of another format helps the user fix the mapping
    for e in errors[1:]:
        assert_no_secrets(e)
        assert "unknown role;" in e


def test_strict_raises_and_publishes_nothing(tmp_path, store):
    path = tmp_path / "logs.jsonl"
    write_mixed(path)
    with pytest.raises(DataError) as err:
        ingest([str(path)], to="strict", store=store, strict=True, max_record_bytes=MAX, workers=1)
    assert "strict" in err.value.message
    assert_no_secrets(str(err.value))
    assert store.versions("strict") == []
    assert not any((store.root / "strict").glob(".tmp-*")), "the temporary version folder is removed"


def test_all_bad_file_raises_and_publishes_nothing(tmp_path, store):
    path = tmp_path / "bad.jsonl"
    # the first line makes the format detectable; every record is still bad
    path.write_bytes(b"\n".join([chat(U), entry_bytes("wrong_type"), b"", b"{nope"]) + b"\n")
    with pytest.raises(DataError) as err:
        ingest([str(path)], to="allbad", store=store, workers=1)
    assert "every one of the 4" in err.value.message
    assert_no_secrets(str(err.value))
    assert store.versions("allbad") == []
    assert not any((store.root / "allbad").glob(".tmp-*"))


def entry_bytes(kind: str) -> bytes:
    return next(raw for k, _, raw in BAD if k == kind)


def test_clean_file_under_strict_publishes(tmp_path, store):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(b"\n".join(good(i) for i in range(3)) + b"\n")
    result = ingest([str(path)], to="ok", store=store, strict=True, workers=1)
    assert result.version.ref == "ok@v1" and result.kept == 3 and not result.quarantined


@pytest.mark.parametrize("case", ["missing", "empty_dir", "unknown_ext", "dir_without_logs", "glob_no_match"])
def test_bad_inputs_raise_input_error_naming_the_path(tmp_path, store, case):
    if case == "missing":
        target = str(tmp_path / "nope" / "logs.jsonl")
    elif case == "empty_dir":
        (tmp_path / "empty").mkdir()
        target = str(tmp_path / "empty")
    elif case == "unknown_ext":
        target = str(tmp_path / "notes.txt")
        Path(target).write_text("hello world\nnot logs\n")
    elif case == "dir_without_logs":
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "README.md").write_text("# logs live elsewhere\n")
        target = str(tmp_path / "docs")
    else:
        target = str(tmp_path / "*.jsonl")
    with pytest.raises(InputError) as err:
        ingest([target], to="x", store=store, workers=1)
    assert target in str(err.value)
    assert err.value.hint
    assert store.versions("x") == []


def _table_of(version):
    return version.read(), version.read("quarantine").drop_columns(["source_file"])


def test_gz_and_zst_inputs_match_plain(tmp_path, store):
    plain_dir, gz_dir, zst_dir = (tmp_path / d for d in ("plain", "gz", "zst"))
    for d in (plain_dir, gz_dir, zst_dir):
        d.mkdir()
    write_mixed(plain_dir / "logs.jsonl")
    raw = (plain_dir / "logs.jsonl").read_bytes()
    (gz_dir / "logs.jsonl.gz").write_bytes(gzip.compress(raw))
    (zst_dir / "logs.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))

    ref = _table_of(ingest([str(plain_dir / "logs.jsonl")], to="plain", store=store, max_record_bytes=MAX,
                           workers=1).version)
    for name, path, compression in (("gz", gz_dir / "logs.jsonl.gz", "gz"), ("zst", zst_dir / "logs.jsonl.zst", "zst")):
        result = ingest([str(path)], to=name, store=store, max_record_bytes=MAX, workers=1)
        assert result.files[0].compression == compression and result.files[0].format == "openai"
        data, quarantine = _table_of(result.version)
        assert data.equals(ref[0])  # source is the name without the compression suffix
        assert quarantine.equals(ref[1])
        assert set(result.version.read("quarantine").column("source_file").to_pylist()) == {str(path)}


def test_directory_and_glob_inputs(tmp_path, store):
    root = tmp_path / "logs"
    (root / "day2").mkdir(parents=True)
    (root / "a.jsonl").write_bytes(good(1) + b"\n" + good(2) + b"\n")
    (root / "day2" / "b.jsonl.gz").write_bytes(gzip.compress(good(3) + b"\n"))
    (root / "day2" / "c.json").write_bytes(b"[" + good(4) + b"," + good(5) + b"]")
    (root / ".hidden.jsonl").write_bytes(b"{broken\n")  # hidden files are skipped
    (root / "notes.txt").write_text("not a log")  # unknown types inside a directory are skipped

    result = ingest([str(root)], to="dir", store=store, workers=1)
    assert [Path(f.path).name for f in result.files] == ["a.jsonl", "b.jsonl.gz", "c.json"]
    assert result.version.read().column("source_id").to_pylist() == [f"good-{i}" for i in range(1, 6)]
    assert [i["rows_in"] for i in result.version.manifest["inputs"]] == [2, 1, 2]

    result = ingest([str(root / "**" / "*.jsonl*")], to="glob", store=store, workers=1)
    assert [Path(f.path).name for f in result.files] == ["a.jsonl", "b.jsonl.gz"]  # not the hidden one
    assert result.kept == 3

    # the same file named twice (path and glob) is read once
    result = ingest([str(root / "a.jsonl"), str(root / "*.jsonl")], to="dedup", store=store, workers=1)
    assert len(result.files) == 1 and result.kept == 2


def test_parallel_parsing_is_identical_to_serial(sample_logs, tmp_path, store):
    serial = ingest([str(sample_logs)], to="serial", store=store, workers=1).version
    parallel = ingest([str(sample_logs)], to="parallel", store=store, workers=2, chunk_bytes=4096).version
    assert serial.manifest["accounting"] == parallel.manifest["accounting"]
    assert serial.manifest["accounting"]["rows_in"] == 600
    assert serial.manifest["accounting"]["quarantined_total"] > 5  # the sample holds malformed lines
    assert parallel.read().equals(serial.read())  # same rows, same order
    assert parallel.read("quarantine").equals(serial.read("quarantine"))

    # chunk boundaries inside compressed input: line numbers still count from the file's start
    gz = tmp_path / "sample_logs.jsonl.gz"
    gz.write_bytes(gzip.compress(sample_logs.read_bytes()))
    compressed = ingest([str(gz)], to="gz", store=store, workers=1, chunk_bytes=4096).version
    assert compressed.read().equals(serial.read())
    assert (compressed.read("quarantine").drop_columns(["source_file"])
            .equals(serial.read("quarantine").drop_columns(["source_file"])))


def test_csv_with_mapping(tmp_path, store):
    path = tmp_path / "qa.csv"
    path.write_text(
        "id,question,answer,created_at,thumb,team\n"
        "007,What is 6 x 7?,42,2026-03-10T08:25:36Z,up,math\n"  # a numeric answer stays text
        "8,Why?,because,2026-03-10T08:25:37Z,,misc\n"  # an empty cell is a missing value
        f'9,"Say ""hi"", {NAME}","Hi, {NAME}!",2026-03-10T08:25:38Z,down,misc\n'
        "10,,no question,2026-03-10T08:25:39Z,,misc\n",  # bad: empty prompt
        encoding="utf-8")
    result = ingest([str(path)], to="csv", store=store, mapping={"prompt": "question", "completion": "answer"},
                    workers=1)
    assert result.files[0].format == "prompt-completion" and result.files[0].container == "csv"
    data = result.version.read()
    CONVERSATION.validate(data)
    rows = data.to_pylist()
    assert [r["source_id"] for r in rows] == ["007", "8", "9"]
    assert [[m["role"] for m in r["messages"]] for r in rows] == [["user", "assistant"]] * 3
    assert rows[0]["messages"][1]["content"] == "42"
    assert rows[2]["messages"][0]["content"] == f'Say "hi", {NAME}'
    assert rows[0]["created_at"] == datetime(2026, 3, 10, 8, 25, 36, tzinfo=timezone.utc)
    assert [r["feedback"] and r["feedback"]["thumb"] for r in rows] == [1, None, -1]
    assert json.loads(rows[0]["metadata"])["team"] == "math"

    (q,) = result.version.read("quarantine").to_pylist()
    assert (q["row"], q["line"], q["error_kind"], q["field"]) == (3, None, "missing_field", "prompt")
    assert q["source_file"] == str(path) and b"no question" in q["raw"]
    assert result.version.manifest["accounting"]["rows_in"] == 4


def test_parquet_with_mapping(tmp_path, store):
    path = tmp_path / "qa.parquet"
    ts = pa.array([datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)] * 3, pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({
        "question": ["q1", "q2", None],
        "answer": ["a1", "a2", "a3"],
        "asked_at": ts,
        "score": pa.array([1.5, None, 2.0]),
        "tags": [["x", "y"], [], None],
    }), path)
    result = ingest([str(path)], to="pq", store=store, workers=1,
                    mapping={"prompt": "question", "completion": "answer", "created_at": "asked_at"})
    assert result.files[0].container == "parquet" and result.files[0].format == "prompt-completion"
    rows = result.version.read().to_pylist()
    assert [[m["content"] for m in r["messages"]] for r in rows] == [["q1", "a1"], ["q2", "a2"]]
    assert rows[0]["created_at"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert json.loads(rows[0]["metadata"]) == {"score": 1.5, "tags": ["x", "y"]}
    (q,) = result.version.read("quarantine").to_pylist()
    assert (q["row"], q["error_kind"], q["field"]) == (2, "missing_field", "prompt")


def test_json_array_records_are_held_to_the_size_limit(tmp_path, store):
    path = tmp_path / "chats.json"
    records = [json.loads(good(0)), json.loads(chat(U, {"role": "assistant", "content": "x" * 5000})),
               json.loads(good(1))]
    path.write_bytes(orjson.dumps(records))
    result = ingest([str(path)], to="arr", store=store, workers=1, max_record_bytes=MAX)
    assert result.kept == 2
    (q,) = result.version.read("quarantine").to_pylist()
    assert (q["row"], q["line"], q["error_kind"]) == (1, None, "oversized")


def test_utf8_bom_at_file_start(tmp_path, store):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good(0) + b"\n" + good(1) + b"\n")
    assert ingest([str(path)], to="bom", store=store, workers=1).kept == 2
    arr = tmp_path / "bom.json"
    arr.write_bytes(b"\xef\xbb\xbf[" + good(0) + b"]")
    assert ingest([str(arr)], to="bomarr", store=store, workers=1).kept == 1


def test_a_label_field_does_not_make_a_chat_log_kto(tmp_path, store):
    path = tmp_path / "labelled.jsonl"
    path.write_bytes(chat(U, A, label="billing") + b"\n")
    result = ingest([str(path)], to="lab", store=store, workers=1)
    assert result.files[0].format == "openai" and result.kept == 1
    assert json.loads(result.version.read().column("metadata")[0].as_py()) == {"label": "billing"}


def test_native_rows_with_wrong_types_cost_one_row(tmp_path, store):
    """sluice's own layouts are restored column by column: a bad value is quarantined, never
    passed to Arrow (where it would fail the whole batch)."""
    ok = {"id": "a", "source": "s", "source_id": "1", "created_at": None,
          "messages": [U, A], "tools": None, "feedback": None, "metadata": {"k": 1}}
    path = tmp_path / "native.jsonl"
    path.write_bytes(b"\n".join([j(ok), j({**ok, "source": 5}), j({**ok, "metadata": [PII]}),
                                 j({**ok, "sluice_extra_stage_column": 1, "id": "b"})]))
    result = ingest([str(path)], to="native", store=store, workers=1)
    assert result.files[0].format == "sluice"
    assert result.version.read().column("id").to_pylist() == ["a", "b"]
    q = result.version.read("quarantine").to_pylist()
    assert [(r["line"], r["error_kind"], r["field"]) for r in q] == [(2, "wrong_type", "source"),
                                                                    (3, "wrong_type", "metadata")]

    pref = {"id": "p", "source": "s", "source_id": None, "created_at": None, "prompt": [U], "chosen": [A],
            "rejected": [{"role": "assistant", "content": "no"}], "origin": "edit", "score_chosen": 1,
            "score_rejected": None, "source_ids": ["a"], "metadata": None}
    path = tmp_path / "pref.jsonl"
    path.write_bytes(b"\n".join([j(pref), j({**pref, "score_chosen": "high"}), j({**pref, "source_ids": [1]}),
                                 j({**pref, "origin": None, "id": "p2"})]))
    result = ingest([str(path)], to="pref", store=store, workers=1)
    data = result.version.read()
    PREFERENCE.validate(data)
    assert data.column("origin").to_pylist() == ["edit", "imported"]
    q = result.version.read("quarantine").to_pylist()
    assert [(r["error_kind"], r["field"]) for r in q] == [("wrong_type", "score_chosen"),
                                                          ("wrong_type", "source_ids[0]")]



def test_pair_rows_the_schema_would_refuse_are_quarantined(tmp_path, store):
    """Empty chosen / rejected / completion lists: quarantined one by one, not a failed batch."""
    turn = lambda who, text: {"from": who, "value": text}  # noqa: E731
    ok = {"conversations": [turn("human", PII)], "chosen": turn("gpt", "yes"), "rejected": turn("gpt", "no")}
    path = tmp_path / "dpo.json"
    path.write_bytes(orjson.dumps([ok, {**ok, "chosen": []}, {**ok, "rejected": []}, {**ok, "system": 5}, ok]))
    result = ingest([str(path)], to="dpo", store=store, workers=1)
    assert result.files[0].format == "llamafactory-preference" and result.kept == 2
    PREFERENCE.validate(result.version.read())
    q = result.version.read("quarantine").to_pylist()
    assert [(r["row"], r["error_kind"], r["field"]) for r in q] == [
        (1, "empty_conversation", "chosen"), (2, "empty_conversation", "rejected"), (3, "wrong_type", "system")]
    for r in q:
        assert_no_secrets(r["error"])

    path = tmp_path / "kto.jsonl"
    path.write_bytes(b"\n".join([j({"prompt": PII, "completion": "fine", "label": True}),
                                 j({"prompt": PII, "completion": [], "label": False}),
                                 j({"prompt": PII, "completion": "meh", "label": "no"})]))
    result = ingest([str(path)], to="kto", store=store, workers=1)
    assert result.files[0].format == "trl-kto" and result.kept == 1
    q = result.version.read("quarantine").to_pylist()
    assert [(r["line"], r["error_kind"], r["field"]) for r in q] == [(2, "empty_conversation", "completion"),
                                                                    (3, "wrong_type", "label")]
