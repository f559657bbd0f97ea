"""Damaged compressed input, folders and odd files: nothing is lost silently.

A truncated or corrupt .zst/.gz/.bz2/.xz file fails with one line naming the file, the byte
offset and the lines recovered, and publishes nothing — unless --allow-partial, which keeps the
lines read and quarantines the damage. A folder reads every compressed form of every format
and lists each file it does not read, with the reason, in the output and the manifest.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import json
import lzma

import pytest
import zstandard
from typer.testing import CliRunner

from sluice.cli import app
from sluice.curate.ingest import ingest
from sluice.errors import DataError, InputError

N = 20_000
COMPRESS = {"zst": zstandard.ZstdCompressor().compress, "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


def lines(n: int = N) -> bytes:
    return b"".join(json.dumps({"id": f"c{i}", "messages": [
        {"role": "user", "content": f"question {i} " * 4}, {"role": "assistant", "content": f"answer {i}"}]}).encode()
        + b"\n" for i in range(n))


def sluice(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def payload() -> bytes:
    return lines()


@pytest.mark.parametrize("ext", list(COMPRESS))
def test_truncated_file_fails_naming_file_offset_and_lines(ext, payload, tmp_path, store):
    whole = COMPRESS[ext](payload)
    path = tmp_path / f"half.jsonl.{ext}"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as err:
        ingest([str(path)], to="t", store=store, workers=1)
    message = err.value.message
    assert str(path) in message and "nothing was published" in message
    assert f"near byte {len(whole) // 2:,}" in message and "lines recovered" in message
    assert "--allow-partial" in err.value.hint
    assert store.versions("t") == [] and not list((store.root / "t").glob(".tmp-*"))

    result = ingest([str(path)], to="t", store=store, workers=1, allow_partial=True)
    recovered = result.kept
    assert 0 < recovered < N
    assert result.rows_in == recovered + 1 and dict(result.quarantined) == {"damaged_file": 1}
    version = result.version
    kept_ids = version.read().column("source_id").to_pylist()
    assert kept_ids == [f"c{i}" for i in range(recovered)]  # every line read before the damage, in order
    (row,) = version.read("quarantine").to_pylist()
    assert row["source_file"] == str(path) and row["line"] == recovered + 1
    assert f"{recovered:,} lines recovered" in row["error"]
    (inp,) = version.manifest["inputs"]
    assert inp["damage"] == row["error"] and version.manifest["ingest"]["allow_partial"] is True
    acc = version.manifest["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["quarantined_total"]


def test_zstd_names_the_size_its_frame_header_declares(payload, tmp_path, store):
    whole = zstandard.ZstdCompressor(write_content_size=True).compress(payload)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=f"declares {len(payload):,} bytes"):
        ingest([str(path)], to="z", store=store, workers=1, fmt="openai")


def test_gzip_trailer_mismatch_keeps_every_line(payload, tmp_path, store):
    data = bytearray(gzip.compress(payload))
    data[-6] ^= 0xFF  # the CRC32 of the trailer
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="incorrect data check"):
        ingest([str(path)], to="g", store=store, workers=1)
    result = ingest([str(path)], to="g", store=store, workers=1, allow_partial=True)
    assert result.kept == N  # the damage is in the trailer: every line decoded before it


def test_multi_member_and_padded_streams_are_whole(payload, tmp_path, store):
    half = payload.index(b"\n", len(payload) // 2) + 1
    for ext, compress in COMPRESS.items():
        path = tmp_path / f"two.jsonl.{ext}"
        path.write_bytes(compress(payload[:half]) + compress(payload[half:]) + (b"\0" * 8 if ext == "xz" else b""))
        result = ingest([str(path)], to=f"m{ext}", store=store, workers=1, chunk_bytes=1 << 16)
        assert result.kept == N and not result.quarantined and not result.damaged, ext


def test_cli_error_is_one_line_without_traceback(payload, tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(payload)[:5000])
    r = sluice("ingest", path, "--to", "x", "--root", tmp_path / "store")
    assert r.exit_code == 1 and "Traceback" not in r.output
    first = r.output.splitlines()[0]
    assert first.startswith("error: ") and str(path) in first and "lines recovered" in first
    r = sluice("ingest", path, "--to", "x", "--root", tmp_path / "store", "--allow-partial", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["quarantined"] == {"damaged_file": 1}


def test_folder_reads_every_compression_and_lists_what_it_skips(tmp_path, store):
    root = tmp_path / "logs"
    root.mkdir()
    rows = lines(10).splitlines(keepends=True)
    for i, (ext, compress) in enumerate(COMPRESS.items()):
        (root / f"part{i}.jsonl.{ext}").write_bytes(compress(rows[i]))
    (root / "alpaca.json.xz").write_bytes(lzma.compress(json.dumps([{"instruction": "hi", "output": "yo"}]).encode()))
    (root / "gateway.log").write_bytes(rows[5])  # JSON lines under another name: read
    (root / "app.log").write_bytes(b"2026-01-01 INFO started\n")  # a text log: listed, not read
    (root / ".hidden.jsonl").write_bytes(rows[6])
    (root / "README.md").write_text("about these logs")
    (root / "empty.jsonl").write_bytes(b"")
    result = ingest([str(root)], to="f", store=store, workers=1)
    assert sorted(p.split("/")[-1] for p in (f.path for f in result.files)) == [
        "alpaca.json.xz", "gateway.log", "part0.jsonl.zst", "part1.jsonl.gz", "part2.jsonl.bz2", "part3.jsonl.xz"]
    assert result.kept == 6
    skipped = {s["path"].split("/")[-1]: s["reason"] for s in result.version.manifest["skipped"]}
    assert set(skipped) == {"app.log", ".hidden.jsonl", "README.md", "empty.jsonl"}
    assert "hidden" in skipped[".hidden.jsonl"] and "empty" in skipped["empty.jsonl"]
    assert "not JSON lines" in skipped["app.log"] and "unknown file type .md" in skipped["README.md"]

    r = sluice("ingest", root, "--to", "f2", "--root", store.root)
    assert r.exit_code == 0
    for name in skipped:
        assert name in r.output


def test_empty_and_utf16_files(tmp_path, store):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(InputError) as err:
        ingest([str(empty)], to="e", store=store, workers=1)
    assert "the file is empty" in str(err.value) and str(empty) in str(err.value)
    blank_gz = tmp_path / "blank.jsonl.gz"
    blank_gz.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError, match="empty"):
        ingest([str(blank_gz)], to="e", store=store, workers=1)

    text = lines(3).decode()
    for encoding in ("utf-16", "utf-32", "utf-16-be"):
        path = tmp_path / f"{encoding}.jsonl"
        data = text.encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        path.write_bytes(data)
        result = ingest([str(path)], to=encoding, store=store, workers=1)
        assert result.kept == 3 and not result.quarantined, encoding
        assert result.version.manifest["inputs"][0]["encoding"] in ("utf-16", "utf-32")


def test_disk_full_is_one_line_and_leaves_no_temporary_folder(tmp_path, monkeypatch, payload):
    """A full disk cannot be made portably in a test: the shard writer raises ENOSPC here (a fault
    injected at the store's write call and at closing, as a real full disk does)."""
    from sluice import store as store_module

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.folder))

    monkeypatch.setattr(store_module._PartWriter, "write", full)
    monkeypatch.setattr(store_module._PartWriter, "close", full)
    path = tmp_path / "a.jsonl"
    path.write_bytes(payload[:100_000])
    root = tmp_path / "store"
    r = sluice("ingest", path, "--to", "x", "--root", root)
    assert r.exit_code == 1 and "Traceback" not in r.output
    first = r.output.splitlines()[0]
    assert first.startswith("error: ") and "No space left on device" in first
    assert "free space" in r.output
    assert not list(root.rglob(".tmp-*"))


def test_damaged_tables_are_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"prompt": ["a"] * 100, "completion": ["b"] * 100}), path)
    path.write_bytes(path.read_bytes()[:200])  # cut short
    r = sluice("ingest", path, "--to", "x", "--root", tmp_path / "store")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert str(path) in r.output and "cannot" in r.output
