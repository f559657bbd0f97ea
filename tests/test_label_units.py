"""Pieces of the review loop that need no server: agreement, sampling, settings checks."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.labeling.agreement import krippendorff_alpha
from sluice.labeling.client import ArgillaError, settings
from sluice.labeling.sampling import sample


def test_krippendorff_alpha_known_values():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: alpha = 0.743
    data = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
            [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1], [None, None, 3, None]]
    assert round(krippendorff_alpha(dict(enumerate(data)), "nominal"), 3) == 0.743
    assert krippendorff_alpha({"a": [1, 1], "b": [5, 5]}, "interval") == 1.0
    assert krippendorff_alpha({"a": [1, 5], "b": [5, 1]}, "interval") < 0
    assert krippendorff_alpha({"a": [3]}, "interval") is None


def test_strategies_and_their_clear_fallbacks():
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(10)], "quality_score": [float(i) for i in range(10)],
                          "messages": [[]] * 10})
    low = sample(frame, 3, "lowest-score")
    assert low.frame["id"].to_list() == ["r0", "r1", "r2"] and low.strategy == "lowest-score"
    mid = sample(frame, 2, "uncertain")
    assert set(mid.frame["id"].to_list()) <= {"r4", "r5"}
    plain = frame.drop("quality_score")
    fallback = sample(plain, 3, "lowest-score")
    assert fallback.strategy == "random" and "fell back to random" in fallback.note and fallback.frame.height == 3
    assert "dup_" in sample(plain, 3, "near-duplicate-boundary").note
    assert "no rejected rows" in sample(plain, 3, "rejected").note
    dup = frame.with_columns(pl.Series("dup_similarity", [0.1 * i for i in range(10)]))
    assert sample(dup, 2, "near-duplicate-boundary").frame["id"].to_list() == ["r9", "r8"]
    assert sample(frame, 4, "random", seed=1).frame["id"].to_list() == sample(frame, 4, "random", seed=1).frame["id"].to_list()


def test_key_is_required_and_never_echoed(monkeypatch):
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    with pytest.raises(ArgillaError, match="no Argilla API key"):
        settings("http://x")
    monkeypatch.setenv("ARGILLA_API_KEY", "k-123")
    assert settings(None, None)[1] == "k-123"
