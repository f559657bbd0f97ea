"""The tests carry their own data: nothing reads a folder beside the repository, every vendored
sample names its origin and license, and CI fails on a skip that is not a missing GPU or browser."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
REFERENCE = TESTS / "data" / "reference"


def test_no_test_reads_outside_the_repository():
    pattern = re.compile(r"""\.\./shared|/work/shared|parents?\[?\d*\]?\s*/\s*["']shared["']""")
    offenders = [str(p.relative_to(REPO)) for p in TESTS.rglob("*.py")  # test code, not the slicing tool in data/
                 if p != Path(__file__) and "data" not in p.relative_to(TESTS).parts
                 and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_every_vendored_sample_names_its_source_and_license():
    source = (REFERENCE / "SOURCE.md").read_text(encoding="utf-8")
    data = [p for p in REFERENCE.rglob("*") if p.is_file() and "LICENSE" not in p.name
            and p.name not in ("SOURCE.md", "make_slices.py") and "__pycache__" not in p.parts]
    assert len(data) >= 15
    for p in data:
        assert p.name.split(".")[0] in source or p.parent.name in source, p
        licenses = list(p.parent.glob("*LICENSE*"))
        assert licenses, f"{p.relative_to(REPO)} has no license file beside it"
    from make_slices import SLICES  # noqa: PLC0415 — the script sits beside the data

    assert {str(p.relative_to(REFERENCE)) for p in data} <= set(SLICES)


def _check(tmp_path, text: str) -> subprocess.CompletedProcess:
    log = tmp_path / "pytest.log"
    log.write_text(text)
    return subprocess.run(["bash", str(REPO / ".ci" / "check-skips"), str(log)], capture_output=True, text=True)


def test_ci_fails_on_a_skip_for_missing_data(tmp_path):
    ok = ("SKIPPED [1] tests/test_report_browser.py:34: Debian's chromium is not installed (apt-get install chromium)\n"
          "SKIPPED [1] tests/test_train_units.py:156: this machine has CUDA\n"
          "= 300 passed, 2 skipped in 200s =\n")
    assert _check(tmp_path, ok).returncode == 0
    bad = ok + "SKIPPED [44] tests/conftest.py:30: shared sample data not found\n"
    r = _check(tmp_path, bad)
    assert r.returncode == 1 and "shared sample data not found" in r.stderr and "chromium" not in r.stderr
    r = _check(tmp_path, "SKIPPED [3] tests/test_label_loop.py:41: argilla-server cannot run on this machine\n")
    assert r.returncode == 1
