"""A SIGKILLed ingest leaves no process behind, and `sluice gc` removes its folder (issue #35)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli import common


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(common.console, "_width", 400)

# An ingest with two parser workers (chunks of 64 KiB, so even a few MB use the pool), slowed by a
# big enough input that it is still running when it is killed.
_CHILD = """
import sys
from sluice.curate.ingest import ingest
from sluice.store import Store
ingest([sys.argv[1]], to="logs", store=Store(sys.argv[2]), workers=2, chunk_bytes=64 << 10)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow  # ~25 s on the shared 2-core box: spawned workers import sluice
def test_killed_ingest_leaves_no_process_and_gc_removes_its_folder(tmp_path, sample_logs):
    logs = tmp_path / "logs.jsonl"
    lines = sample_logs.read_bytes()
    with open(logs, "wb") as f:
        for _ in range(60):  # ~20 MB
            f.write(lines)
    root = tmp_path / "store"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(logs), str(root)])
    try:
        parent = psutil.Process(child.pid)
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and child.poll() is None:
            workers = parent.children(recursive=True)  # two parsers and multiprocessing's resource tracker
            if len(workers) >= 3 and list((root / "logs").glob(".tmp-*")):
                break
            time.sleep(0.1)
        assert child.poll() is None and len(workers) >= 3, "the ingest never started its workers"
        time.sleep(0.5)  # mid-run
        workers = parent.children(recursive=True)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(w.pid) for w in workers):
        time.sleep(0.1)
    assert all(_gone(w.pid) for w in workers), [w.pid for w in workers if not _gone(w.pid)]

    (tmp,) = list((root / "logs").glob(".tmp-*"))  # raw data of the killed run
    dry = CliRunner().invoke(app, ["gc", "--dry-run", "--json", "--root", str(root)])
    assert dry.exit_code == 0, dry.stderr
    listed = json.loads(dry.stdout)["removed"]
    assert [Path(r["path"]) for r in listed] == [tmp] and tmp.exists()
    done = CliRunner().invoke(app, ["gc", "--root", str(root)])
    assert done.exit_code == 0, done.stderr
    assert not tmp.exists() and "whose writer is gone" in done.stderr


def test_gc_keeps_a_live_writer_and_removes_a_reused_pid(store):
    live = store.create("ds", "conversation")
    reused = store.root / "ds" / f".tmp-{os.getppid()}-cafe0001"  # a live pid
    reused.mkdir()
    # The pytest runner's parent started before this folder was written: it could own it, so it stays.
    assert store.stale_temporary(dry_run=True) == []
    os.utime(reused, (0, 0))  # written in 1970: before any live process started, so its pid was reused
    assert store.stale_temporary() == [reused] and not reused.exists()
    assert live.tmp.is_dir()
    live.abort()
