"""`sluice datasets export --out`: never clobbers what is not a regular file (issue #35)."""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli import common


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(common.console, "_width", 400)  # one-line messages stay one line


@pytest.fixture(scope="module")
def root(tmp_path_factory, sample_logs) -> Path:
    root = tmp_path_factory.mktemp("store")
    r = CliRunner().invoke(app, ["ingest", str(sample_logs), "--to", "raw", "--root", str(root)])
    assert r.exit_code == 0, r.stderr
    return root


def export(root: Path, out, *extra):
    return CliRunner().invoke(app, ["datasets", "export", "raw", "--allow-unredacted", "--root", str(root), "--out", str(out), "--allow-unredacted", *extra])


@pytest.fixture(scope="module")
def reference(root, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("ref") / "ref.jsonl"
    r = export(root, out)
    assert r.exit_code == 0, r.stderr
    return out.read_bytes()


def test_out_dash_streams_to_standard_output(root, reference):
    done = subprocess.run([sys.executable, "-m", "sluice.cli", "datasets", "export", "raw", "--allow-unredacted", "--root", str(root),
                           "--out", "-"], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference and reference.count(b"\n") > 10
    assert b"standard output" in done.stderr
    assert not Path("-").exists()


def test_regular_file_is_replaced_by_rename_keeping_its_mode(root, reference, tmp_path):
    out = tmp_path / "out.jsonl.gz"
    out.write_bytes(b"old")
    out.chmod(0o640)
    inode = out.stat().st_ino
    r = export(root, out)
    assert r.exit_code == 0, r.stderr
    assert gzip.decompress(out.read_bytes()) == reference
    assert out.stat().st_ino != inode  # a new file renamed into place, not rewritten in place
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl.gz"]  # no temporary file left


def test_directory_is_refused(root, tmp_path):
    r = export(root, tmp_path, "--force")
    assert r.exit_code != 0 and "is a directory" in r.stderr and "nothing was written" in r.stderr
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


def test_device_is_refused_and_left_alone(root):
    before = os.stat("/dev/full")
    r = export(root, "/dev/full")
    assert r.exit_code != 0
    assert "/dev/full is a device, not a regular file; nothing was written" in r.stderr and "--force" in r.stderr
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_device_with_force_is_written_into_and_a_full_one_fails(root):
    assert export(root, "/dev/null", "--force").exit_code == 0
    r = export(root, "/dev/full", "--force")
    assert r.exit_code != 0 and "wrote" not in r.stderr
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_fifo_is_refused_then_written_into_with_force(root, reference, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = export(root, fifo)  # refused before opening: no reader needed, nothing blocks
    assert r.exit_code != 0 and "is a named pipe (FIFO)" in r.stderr
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = export(root, fifo, "--force")
    reader.join(timeout=60)
    assert r.exit_code == 0, r.stderr
    assert got == [reference]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_symlink_is_refused_then_written_through(root, reference, tmp_path):
    target = tmp_path / "real.jsonl"
    target.write_bytes(b"old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    r = export(root, link)
    assert r.exit_code != 0 and "is a symbolic link" in r.stderr
    assert target.read_bytes() == b"old\n"
    r = export(root, link, "--force")
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link itself is kept
    assert target.read_bytes() == reference


def test_json_summary_and_dash_conflict(root):
    r = CliRunner().invoke(app, ["datasets", "export", "raw", "--allow-unredacted", "--root", str(root), "--out", "-", "--json"])
    assert r.exit_code != 0 and "standard output" in r.stderr
    assert "messages" not in r.stdout
