"""exact_hash / exact_dedup — exact duplicates after normalization.

``exact_hash`` (score, per batch) reads ``messages`` and adds ``dup_exact_hash``: the hex
xxh3 hash (64 or 128 bit) of the normalized key text. Rows whose key text is empty get null
(nothing to compare).

``exact_dedup`` (decide, whole dataset) reads ``dup_exact_hash`` (and the keep-policy
columns) and keeps one row per hash; the others are rejected with reason
``exact_duplicate`` and ``duplicate_of`` = the kept row's id. Bounded form: hash → group-by
(each batch yields its rows' hash and rank values; they are shuffled by hash partition and
decided one partition at a time).

    - stage: exact_hash
      key: conversation      # conversation | first_user | prompts | final_answer | prompts_and_answers
      normalize: {unicode: NFKC, lowercase: true, punctuation: false, whitespace: true}
      bits: 128
    - stage: exact_dedup
      keep: auto             # auto | quality | longest | earliest
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from sluice.stage import Filter, Requirement, Scorer, StageConfig

from .keep import KeepOptions, combine_clusters, decide_clusters, keep_reads, partial_clusters
from .normalize import Key, NormalizeOptions, normalized_key


class ExactHashConfig(StageConfig):
    key: Key = Field("conversation", description="which text is compared")
    normalize: NormalizeOptions = Field(default_factory=lambda: NormalizeOptions(punctuation=False),
                                        description="normalization before hashing")
    bits: Literal[64, 128] = Field(128, description="hash width (xxh3)")


class ExactHash(Scorer):
    name = "exact_hash"
    Config = ExactHashConfig
    reads = ("messages",)
    adds = ("dup_exact_hash",)
    requires = (Requirement("xxhash", "dedup"),)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        import xxhash

        c = self.config
        digest = xxhash.xxh3_128_hexdigest if c.bits == 128 else xxhash.xxh3_64_hexdigest
        texts = normalized_key(batch, c.key, c.normalize, words=False)
        hashes = [digest(t.encode()) if t else None for t in texts.to_list()]
        return pl.DataFrame({"dup_exact_hash": pl.Series(hashes, dtype=pl.String)})


class ExactDedup(Filter):
    name = "exact_dedup"
    Config = KeepOptions
    whole_dataset = True
    bounded = True
    reads = ("id", "dup_exact_hash")
    reasons = {"exact_duplicate": "same normalized text as the kept row named in duplicate_of"}

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        self.optional_reads = keep_reads(self.config)

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        return decide_clusters(batch, pl.col("dup_exact_hash"), self.config, "exact_duplicate")

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        return partial_clusters(batch, pl.col("dup_exact_hash"), self.config)

    def combine(self, parts) -> pl.DataFrame:
        return combine_clusters(parts, self.config, "exact_duplicate")
