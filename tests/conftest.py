"""Shared fixtures. Tests run offline on tiny data; nothing here downloads anything."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))  # examples/generate_logs.py is a script, importable in tests


@pytest.fixture
def store(tmp_path):
    from sluice.store import Store

    return Store(tmp_path / "store")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA} (CI places ../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_logs() -> Path:
    return EXAMPLES / "data" / "sample_logs.jsonl"
