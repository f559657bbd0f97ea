"""The split stage: deterministic, stable under added rows, groups never straddle splits."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from sluice.curate.stages.split import Split


def test_split_is_deterministic_stable_and_grouped():
    stage = Split(fractions={"train": 0.8, "test": 0.2})
    ids = [f"id{i}" for i in range(5000)]
    first = stage.score(pl.DataFrame({"id": ids}))["split"].to_list()
    assert first == Split(fractions={"train": 0.8, "test": 0.2}).score(pl.DataFrame({"id": ids}))["split"].to_list()
    more = stage.score(pl.DataFrame({"id": ["new1", *ids, "new2"]}))["split"].to_list()[1:-1]
    assert more == first  # adding rows never moves existing ones
    share = first.count("test") / len(first)
    assert 0.17 < share < 0.23
    other = Split(fractions={"train": 0.8, "test": 0.2}, seed="other").score(pl.DataFrame({"id": ids}))
    assert other["split"].to_list() != first

    grouped = Split(group_by="user").score(pl.DataFrame({"user": [f"u{i % 50}" for i in range(1000)]}))
    frame = pl.DataFrame({"user": [f"u{i % 50}" for i in range(1000)], "split": grouped["split"]})
    assert frame.group_by("user").agg(pl.col("split").n_unique())["split"].max() == 1


def test_fractions_must_sum_to_one():
    with pytest.raises(ValidationError, match="sum to 1"):
        Split(fractions={"train": 0.9, "test": 0.2})
