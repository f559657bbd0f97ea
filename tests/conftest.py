"""Shared fixtures. Tests run offline on tiny data; nothing here downloads anything."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parents[1]
# Small slices of public reference datasets, vendored with their licenses (tests/data/reference/SOURCE.md).
REFERENCE_DATA = REPO / "tests" / "data" / "reference"
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))  # examples/generate_logs.py is a script, importable in tests
sys.path.insert(0, str(REFERENCE_DATA))  # make_slices.py: the list of vendored samples


@pytest.fixture
def store(tmp_path):
    from sluice.store import Store

    return Store(tmp_path / "store")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The vendored reference samples, laid out like the full sample folder (formats/, evalsets/, …)."""
    return REFERENCE_DATA


@pytest.fixture(scope="session")
def sample_logs() -> Path:
    return EXAMPLES / "data" / "sample_logs.jsonl"
