"""split — a deterministic train / validation / test split.

Reads ``id`` (or the configured ``group_by`` column) and adds ``split``. A row's split depends
only on a keyed hash of its key, so it never changes when rows are added or removed, and rows
sharing a key (e.g. a near-duplicate cluster or a user) always land in the same split — no
leakage between train and test. Drops nothing; training reads the column
(`sluice train … --eval` uses ``validation``).

    - stage: split
      fractions: {train: 0.9, validation: 0.05, test: 0.05}
      group_by: id
"""

from __future__ import annotations

import hashlib

import polars as pl
from pydantic import Field, field_validator

from sluice.stage import Scorer, StageConfig


class SplitConfig(StageConfig):
    fractions: dict[str, float] = Field(default_factory=lambda: {"train": 0.9, "validation": 0.05, "test": 0.05},
                                        description="split name → share of rows (shares sum to 1)")
    group_by: str = Field("id", description="column whose value decides the split; equal values share a split")
    seed: str = Field("sluice", description="hash key: change it to draw a different split")

    @field_validator("fractions")
    @classmethod
    def _sum_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(x < 0 for x in v.values()) or abs(sum(v.values()) - 1) > 1e-6:
            raise ValueError(f"fractions must be non-negative and sum to 1 (they sum to {sum(v.values()):g})")
        return v


class Split(Scorer):
    name = "split"
    Config = SplitConfig
    reads = ("id",)
    adds = ("split",)

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        self.reads = (self.config.group_by,)  # the key column is configurable

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        key = self.config.seed.encode()
        names = list(self.config.fractions)
        bounds, total = [], 0.0
        for name in names:
            total += self.config.fractions[name]
            bounds.append(total)

        def assign(value) -> str:
            digest = hashlib.blake2b(str(value).encode(), key=key, digest_size=8).digest()
            u = int.from_bytes(digest, "big") / 2**64  # uniform in [0, 1)
            return next((n for n, b in zip(names, bounds) if u < b), names[-1])

        values = batch[self.config.group_by].to_list()
        return pl.DataFrame({"split": [assign(v) for v in values]}, schema={"split": pl.String})
