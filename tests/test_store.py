"""The dataset store: publish / resolve, immutability, exact accounting, crash safety, racing writers."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice import __version__
from sluice.errors import DatasetNotFound, SchemaValidationError, SluiceError
from sluice.schemas import CONVERSATION, QUARANTINE
from sluice.store import Store

REPO = Path(__file__).resolve().parents[1]


# -- helpers ---------------------------------------------------------------------------------

def conversations(n: int, tag: str = "a", start: int = 0) -> pa.Table:
    rows = [{"id": f"{tag}-{i}", "source": tag, "source_id": str(i), "created_at": None,
             "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
             "tools": None, "feedback": None, "metadata": None} for i in range(start, start + n)]
    return pa.Table.from_pylist(rows, schema=CONVERSATION.schema)


def quarantine_rows(n: int) -> pa.Table:
    rows = [{"source_file": "x.jsonl", "line": i + 1, "row": i, "stage": "ingest", "error_kind": "bad_json",
             "field": None, "error": "malformed JSON", "raw": b"{", "raw_size": 1, "id": None} for i in range(n)]
    return pa.Table.from_pylist(rows, schema=QUARANTINE.schema)


def accounting(kept: int, quarantined: int = 0, rejected: dict | None = None) -> dict:
    rejected = rejected or {}
    rej_total = sum(sum(r.values()) for r in rejected.values())
    return {"rows_in": kept + quarantined + rej_total, "kept": kept, "rejected_total": rej_total,
            "rejected": rejected, "quarantined_total": quarantined,
            "quarantined": {"ingest": {"bad_json": quarantined}} if quarantined else {}}


def publish(store: Store, name: str, n: int = 5, tag: str = "a", **manifest):
    with store.create(name, "conversation", **manifest) as w:
        w.write(conversations(n, tag))
        return w.publish(accounting(n))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_complete(version) -> None:
    """A published version: manifest present, every shard listed with matching hash and row count."""
    m = version.manifest
    assert m["version"] == version.number and m["name"] == version.name
    listed = set()
    for part, desc in m["parts"].items():
        assert desc["rows"] == sum(s["rows"] for s in desc["shards"])
        for shard in desc["shards"]:
            path = version.path / shard["path"]
            assert path.is_file(), shard["path"]
            assert sha256(path) == shard["sha256"], f"{shard['path']} was modified or is incomplete"
            assert pq.ParquetFile(path).metadata.num_rows == shard["rows"]
            assert path.stat().st_size == shard["bytes"]
            listed.add(path)
        on_disk = set((version.path / part).glob("*")) if (version.path / part).is_dir() else set()
        assert on_disk == {p for p in listed if p.parent.name == part}, f"unlisted files in {part}/"
    acc = m["accounting"]
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    assert acc["kept"] == m["parts"]["data"]["rows"] == version.num_rows() == m["rows"]
    assert (version.path / "DATACARD.md").is_file()
    version.read()  # readable by a plain reader


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(*args: str, root: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "sluice"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sluice.cli"]
    env = {**os.environ, "SLUICE_HOME": str(root), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


# -- publish / resolve -----------------------------------------------------------------------

def test_publish_and_resolve(store):
    assert store.names() == []
    v1 = publish(store, "raw", 5, parents=["upstream@v3"])
    assert v1.ref == "raw@v1" and v1.number == 1
    assert store.names() == ["raw"]
    assert [v.ref for v in store.versions("raw")] == ["raw@v1"]
    for ref in ("raw", "raw@latest", "raw@v1", " raw@v1 "):
        assert store.resolve(ref).path == v1.path
    assert v1.num_rows() == 5
    t = v1.read()
    assert t.column("id").to_pylist() == [f"a-{i}" for i in range(5)]
    assert v1.read("rejected").num_rows == 0 and v1.read("quarantine").num_rows == 0
    assert [f.name for f in v1.files()] == ["part-00000.parquet"]

    v2 = publish(store, "raw", 7, tag="b")
    assert v2.ref == "raw@v2"
    assert store.resolve("raw@latest").ref == "raw@v2"
    assert store.resolve("raw").ref == "raw@v2"
    assert store.resolve("raw@v1").num_rows() == 5


def test_resolve_errors(store):
    publish(store, "raw")
    with pytest.raises(DatasetNotFound) as e:
        store.resolve("nope@latest")
    assert "nope" in e.value.message and "raw" in e.value.hint
    with pytest.raises(DatasetNotFound) as e:
        store.resolve("raw@v9")
    assert "v9" in e.value.message and "v1" in e.value.hint
    with pytest.raises(DatasetNotFound):
        store.resolve("raw@vX")
    with pytest.raises(SluiceError):
        store.create("../escape", "conversation")
    with pytest.raises(SluiceError):
        store.create("ok", "rejected")  # not a data kind


def test_manifest_contents(store):
    with store.create("raw", "conversation", parents=["logs@v1"], recipe={"name": "r"}) as w:
        w.parts["data"].rows_per_shard = 4
        for k in range(3):
            w.write(conversations(5, "a", start=5 * k))
        w.write_quarantine(quarantine_rows(2))
        v = w.publish(accounting(15, quarantined=2), fingerprint="abc")
    m = v.manifest
    assert m["kind"] == "conversation" and m["schema_version"] == CONVERSATION.version
    assert m["parents"] == ["logs@v1"]
    assert m["tool"] == {"name": "sluice", "version": __version__}
    assert m["fingerprint"] == "abc" and m["recipe"] == {"name": "r"}
    created = m["created_at"]
    from datetime import datetime, timezone

    assert abs((datetime.fromisoformat(created) - datetime.now(timezone.utc)).total_seconds()) < 120
    shards = m["parts"]["data"]["shards"]
    assert len(shards) == 4 and [s["rows"] for s in shards] == [4, 4, 4, 3]
    assert all(len(s["sha256"]) == 64 for s in shards)
    assert m["parts"]["quarantine"]["rows"] == 2
    assert_complete(v)
    card = (v.path / "DATACARD.md").read_text()
    assert "raw v1" in card and "rows in 17 = kept 15" in card and "bad_json" in card
    # only the version folder and nothing else is left in the dataset folder
    assert sorted(p.name for p in (store.root / "raw").iterdir()) == ["v1"]


def test_a_published_writer_is_closed(store):
    with store.create("raw", "conversation") as w:
        w.write(conversations(2))
        v = w.publish(accounting(2))
        before = snapshot(v.path)
        with pytest.raises(SluiceError, match="published"):
            w.write(conversations(1, "late"))
        with pytest.raises(SluiceError, match="published"):
            w.publish(accounting(2))
    assert snapshot(v.path) == before and [x.ref for x in store.versions("raw")] == ["raw@v1"]


def test_parents_default_to_empty(store):
    assert publish(store, "raw").manifest["parents"] == []


def test_versions_are_immutable(store):
    v1 = publish(store, "raw", 5)
    before = snapshot(v1.path)
    v2 = publish(store, "raw", 5)  # identical content still makes a new version
    v3 = publish(store, "raw", 9, tag="c")
    assert [v.number for v in store.versions("raw")] == [1, 2, 3]
    assert snapshot(v1.path) == before
    assert v2.path != v1.path and v3.read().num_rows == 9
    for v in store.versions("raw"):
        assert_complete(v)


def test_readers_never_list_tmp_dirs(store):
    w = store.create("fresh", "conversation")
    w.write(conversations(3))
    assert w.tmp.is_dir() and w.tmp.name.startswith(f".tmp-{os.getpid()}-")
    assert store.names() == [] and store.versions("fresh") == []
    with pytest.raises(DatasetNotFound):
        store.resolve("fresh@latest")
    # a tmp folder holding a complete-looking manifest is still not a version
    (w.tmp / "manifest.json").write_text("{}")
    assert store.versions("fresh") == []
    # a live writer's folder survives another writer's stale-folder cleanup
    v = publish(store, "fresh", 2)
    assert w.tmp.is_dir()
    assert [x.ref for x in store.versions("fresh")] == [v.ref]
    w.abort()
    assert not w.tmp.exists()


def test_exception_in_writer_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.create("raw", "conversation") as w:
            w.write(conversations(3))
            raise RuntimeError("boom")
    assert store.versions("raw") == []
    assert list((store.root / "raw").iterdir()) == []


@pytest.mark.parametrize("bad", [
    {"kept": 4},                                  # fewer than the data holds
    {"rows_in": 6},                               # does not add up
    {"quarantined_total": 1},                     # no quarantine rows written
    {"rejected_total": 2, "rows_in": 7},          # adds up, but rejected/ is empty
    {"rejected": {"length_filter": {"too_short_user": 1}}},  # per-stage counts disagree with the total
    {"quarantined": {"ingest": {"bad_json": 3}}},
])
def test_accounting_mismatch_refuses_to_publish(store, bad):
    with store.create("raw", "conversation") as w:
        w.write(conversations(5))
        with pytest.raises(SchemaValidationError) as e:
            w.publish({**accounting(5), **bad})
        assert "accounting" in str(e.value)
    assert store.versions("raw") == []
    assert store.names() == []
    assert not any((store.root / "raw").iterdir())


def test_accounting_with_rejected_and_quarantined(store):
    from sluice.runner import _reject_schema

    rej = conversations(2, "r")
    rej = rej.append_column("stage", pa.array(["f", "f"])).append_column("reason", pa.array(["x", "y"]))
    rej = rej.append_column("detail", pa.nulls(2, pa.string())).append_column("duplicate_of", pa.nulls(2, pa.string()))
    assert set(_reject_schema(CONVERSATION.schema).names) == set(rej.column_names)
    with store.create("cur", "conversation") as w:
        w.write(conversations(5))
        w.write_rejected(rej)
        w.write_quarantine(quarantine_rows(1))
        v = w.publish(accounting(5, quarantined=1, rejected={"f": {"x": 1, "y": 1}}))
    assert_complete(v)
    assert v.read("rejected").column("reason").to_pylist() == ["x", "y"]
    assert v.read("quarantine").num_rows == 1


def test_loser_of_a_race_takes_the_next_number(store, monkeypatch):
    """A racing writer publishes vN between this writer choosing vN and renaming: this one takes N+1."""
    import sluice.store as store_mod

    real_rename = os.rename
    targets = []

    def racing_rename(src, dst):
        targets.append(Path(dst).name)
        if len(targets) == 1:  # the racer wins v1 right now
            racer_tmp = store.root / "raw" / ".tmp-racer"
            racer_tmp.mkdir()
            (racer_tmp / "manifest.json").write_text("{}")
            real_rename(racer_tmp, dst)
        return real_rename(src, dst)

    w = store.create("raw", "conversation")
    w.write(conversations(3, "late"))
    monkeypatch.setattr(store_mod.os, "rename", racing_rename)
    v = w.publish(accounting(3))
    monkeypatch.undo()
    assert targets == ["v1", "v2"]
    assert v.ref == "raw@v2" and v.manifest["version"] == 2
    assert (store.root / "raw" / "v1" / "manifest.json").read_text() == "{}"  # the winner's folder untouched
    assert_complete(v)
    assert v.read().column("source").unique().to_pylist() == ["late"]


def test_stray_version_folder_without_manifest_is_skipped(store):
    (store.root / "raw" / "v1").mkdir(parents=True)
    (store.root / "raw" / "v1" / "junk").write_text("left by hand")
    v = publish(store, "raw", 2)
    assert v.number == 2 and [x.ref for x in store.versions("raw")] == ["raw@v2"]


# -- crash safety: a publisher killed with SIGKILL ---------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    import pyarrow as pa
    import pyarrow.parquet as pq
    sys.path.insert(0, {tests!r})
    from test_store import accounting, conversations, quarantine_rows
    import sluice.store as store_mod
    from sluice.store import Store, VersionWriter

    root, mode, tag = sys.argv[1], sys.argv[2], sys.argv[3]

    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)

    if mode == "mid_shard":
        real_write = pq.ParquetWriter.write_table
        calls = [0]
        def write_table(self, *a, **k):
            calls[0] += 1
            if calls[0] == 4:
                die()
            return real_write(self, *a, **k)
        pq.ParquetWriter.write_table = write_table
    elif mode == "describe":
        VersionWriter._describe = die
    elif mode == "before_rename":
        def rename(src, dst):
            if os.path.basename(str(dst)).startswith("v"):
                die()
            return os.replace(src, dst)
        store_mod.os.rename = rename
    elif mode == "after_rename":
        real_rename = os.rename
        def rename(src, dst):
            real_rename(src, dst)
            die()
        store_mod.os.rename = rename

    with Store(root).create("ds", "conversation", parents=["logs@v1"]) as w:
        for p in w.parts.values():
            p.rows_per_shard = 7
        for k in range(4):
            w.write(conversations(5, tag, start=5 * k))
        w.write_quarantine(quarantine_rows(3))
        w.publish(accounting(20, quarantined=3))
    if mode != "none":
        print("child survived", mode, file=sys.stderr)
        sys.exit(3)
""")


@pytest.fixture
def child_script(tmp_path) -> Path:
    path = tmp_path / "child.py"
    path.write_text(CHILD.format(tests=str(Path(__file__).parent)))
    return path


def run_child(script: Path, root: Path, mode: str, tag: str = "k") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), str(root), mode, tag], capture_output=True, text=True,
                          timeout=120, cwd=script.parent)


@pytest.mark.parametrize("mode", ["mid_shard", "describe", "before_rename", "after_rename"])
def test_publish_killed_with_sigkill(store, child_script, mode):
    v1 = publish(store, "ds", 4, tag="base")
    before = snapshot(v1.path)
    proc = run_child(child_script, store.root, mode)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    versions = store.versions("ds")
    assert [v.number for v in versions] in ([1], [1, 2])
    if mode == "after_rename":
        assert [v.number for v in versions] == [1, 2], "the rename happened, so v2 is published"
    if mode in ("mid_shard", "describe", "before_rename"):
        assert [v.number for v in versions] == [1]
    for v in versions:
        assert_complete(v)
    if len(versions) == 2:
        v2 = versions[1]
        assert v2.num_rows() == 20 and v2.read("quarantine").num_rows == 3
        assert len(v2.files()) == 3  # 7 + 7 + 6 rows
        assert v2.manifest["parents"] == ["logs@v1"]
    assert snapshot(v1.path) == before

    stale = list((store.root / "ds").glob(".tmp-*"))
    assert len(stale) == (0 if mode == "after_rename" else 1)

    # readers, including the CLI in another process, are unaffected
    listed = cli("datasets", "list", "--json", root=store.root)
    assert listed.returncode == 0, listed.stderr
    refs = [r["ref"] for r in json.loads(listed.stdout)]
    assert refs == [v.ref for v in versions]
    shown = cli("datasets", "show", "ds@latest", "--json", root=store.root)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["ref"] == versions[-1].ref

    # the next publish removes the dead writer's folder and takes the next number
    nxt = publish(store, "ds", 2, tag="next")
    assert nxt.number == len(versions) + 1
    assert list((store.root / "ds").glob(".tmp-*")) == []
    assert_complete(nxt)


def test_clean_stale_keeps_live_writers(store):
    live = store.create("ds", "conversation")
    dead = store.root / "ds" / ".tmp-999999999-deadbeef"  # above any pid_max
    dead.mkdir()
    (dead / "data").mkdir()
    odd = store.root / "ds" / ".tmp-notapid"
    odd.mkdir()
    removed = store.clean_stale("ds")
    assert removed == [dead] and not dead.exists()
    assert live.tmp.is_dir() and odd.is_dir()
    live.abort()


# -- two processes publishing the same name at once -----------------------------------------

RACER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from test_store import accounting, conversations
    from sluice.store import Store

    root, tag, go, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = Store(root)
    open(f"{{go}}.ready.{{tag}}", "w").close()
    for r in range(rounds):
        while not os.path.exists(f"{{go}}.{{r}}"):
            time.sleep(0.0005)
        try:
            with store.create("ds", "conversation", writer=f"{{tag}}-{{r}}") as w:
                for p in w.parts.values():
                    p.rows_per_shard = 6
                for k in range(3):
                    w.write(conversations(5, f"{{tag}}-{{r}}", start=5 * k))
                v = w.publish(accounting(15))
            print("ok", r, v.number, flush=True)
        except Exception as e:  # a clean failure is allowed; a corrupt version is not
            print("failed", r, type(e).__name__, e, flush=True)
        with open(f"{{go}}.{{r}}.{{tag}}.done", "w"):
            pass
""")


def test_concurrent_publishers(store, tmp_path):
    rounds = 4
    script = tmp_path / "racer.py"
    script.write_text(RACER.format(tests=str(Path(__file__).parent)))
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(store.root), tag, str(go), str(rounds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for tag in ("A", "B")]
    try:
        deadline = time.time() + 60
        while not all(Path(f"{go}.ready.{t}").exists() for t in ("A", "B")):  # both imported: start together
            assert time.time() < deadline and all(p.poll() is None for p in procs), "racers did not start"
            time.sleep(0.005)
        for r in range(rounds):
            Path(f"{go}.{r}").touch()
            deadline = time.time() + 60
            while not all(Path(f"{go}.{r}.{t}.done").exists() for t in ("A", "B")):
                assert time.time() < deadline, "racers hung"
                assert all(p.poll() is None or p.returncode == 0 for p in procs)
                time.sleep(0.005)
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    lines = [line.split() for out, _ in outs for line in out.splitlines()]
    ok = [line for line in lines if line[0] == "ok"]
    assert len(lines) == 2 * rounds
    assert len(ok) >= rounds, lines  # at most one of each pair may fail, and cleanly

    versions = store.versions("ds")
    assert len(versions) == len(ok)
    assert sorted(int(line[2]) for line in ok) == [v.number for v in versions] == list(range(1, len(ok) + 1))
    writers = set()
    for v in versions:
        assert_complete(v)
        ids = v.read().column("id").to_pylist()
        writer = v.manifest["writer"]
        assert ids == [f"{writer}-{i}" for i in range(15)], f"{v.ref} mixes writers"
        assert v.manifest["version"] == v.number
        writers.add(writer)
    assert len(writers) == len(versions)
    assert list((store.root / "ds").glob(".tmp-*")) == []


def test_later_tables_are_conformed_to_the_first(store):
    with store.create("raw", "conversation") as w:
        w.write(conversations(3))
        later = conversations(2, "b")
        w.write(later.select(list(reversed(later.column_names))))  # same columns, another order
        with pytest.raises(SchemaValidationError) as e:
            w.write(conversations(2, "c").append_column("extra", pa.array([1, 2])))
        assert "extra" in str(e.value)
        v = w.publish(accounting(5))
    assert v.read().column("id").to_pylist() == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert_complete(v)


def test_invalid_rows_are_refused_at_write(store):
    bad = conversations(3)
    rows = bad.to_pylist()
    rows[1]["messages"] = []
    with store.create("raw", "conversation") as w:
        with pytest.raises(SchemaValidationError) as e:
            w.write(pa.Table.from_pylist(rows, schema=CONVERSATION.schema))
        assert "'messages' row 1" in str(e.value)
        with pytest.raises(SchemaValidationError):
            w.write_quarantine(quarantine_rows(2).drop_columns(["error"]))
    assert store.versions("raw") == []
