"""minhash / near_dedup — near duplicates by MinHash LSH (datasketch-compatible signatures).

``minhash`` (score, whole dataset) reads ``messages`` and adds
  ``dup_near_cluster`` — id of the cluster's first row (in input order) for rows with at least
  one verified near duplicate, else null;
  ``dup_near_jaccard`` — the best estimated Jaccard with a verified neighbour (null: none).
Signatures equal ``datasketch.MinHash(num_perm, seed, hashfunc=minhash.shingle_hash)`` over the
same shingles (see minhash.py); bands × rows follow datasketch's optimal-parameter rule for
``threshold`` unless ``bands``/``rows`` are given; candidate pairs from a polars group-by per
band are verified by estimated Jaccard ≥ threshold; clusters are transitive (union-find).

``near_dedup`` (decide, whole dataset) keeps one row per ``dup_near_cluster`` by the keep policy
and rejects the others with reason ``near_duplicate`` and ``duplicate_of`` = the kept id
(``detail``: the row's best estimated Jaccard).

    - stage: minhash
      key: dialogue       # default; conversation also compares the system prompt
      unit: word          # word | char shingles
      ngram: 5
      num_perm: 128
      threshold: 0.8      # target Jaccard
    - stage: near_dedup
      keep: auto          # auto | quality | longest | earliest
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from sluice.stage import Filter, Requirement, Scorer, StageConfig

from .keep import KeepOptions, decide_clusters
from .lsh import near_duplicates, optimal_bands
from .minhash import Unit, signatures
from .normalize import Key, NormalizeOptions, normalized_key

log = logging.getLogger(__name__)


class MinHashConfig(StageConfig):
    key: Key = Field("dialogue", description="which text is compared (default: the turns without the system "
                                             "prompt and tool definitions, which agent data shares across rows)")
    normalize: NormalizeOptions = Field(default_factory=NormalizeOptions, description="normalization before shingling")
    unit: Unit = Field("word", description="shingle unit: word or char n-grams")
    ngram: int = Field(5, ge=1, le=64, description="shingle length in units")
    num_perm: int = Field(128, ge=8, le=1024, description="permutations (signature length)")
    seed: int = Field(1, description="permutation seed (datasketch's MinHash seed)")
    threshold: float = Field(0.8, gt=0, lt=1, description="target Jaccard similarity of near duplicates")
    weights: tuple[float, float] = Field((0.2, 0.8), description="false-positive / false-negative weights of the bands × rows rule; candidates are verified, so misses cost more than extra candidates")
    bands: int | None = Field(None, ge=1, description="override the band count (with rows)")
    rows: int | None = Field(None, ge=1, description="override the rows per band (with bands)")
    threads: int = Field(2, ge=1, description="threads for signatures (a resource knob)")

    @model_validator(mode="after")
    def _bands_rows(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they follow threshold)")
        if self.bands and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class MinHashScorer(Scorer):
    name = "minhash"
    Config = MinHashConfig
    whole_dataset = True
    reads = ("id", "messages")
    adds = ("dup_near_cluster", "dup_near_jaccard")
    requires = (Requirement("datasketch", "dedup"), Requirement("scipy", "dedup"))

    def fingerprint(self, upstream: str) -> str:
        # threads change how fast, never what: leave them out of the checkpoint key
        saved, self.config = self.config, self.config.model_copy(update={"threads": 1})
        try:
            return super().fingerprint(upstream)
        finally:
            self.config = saved

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        bands, rows = (c.bands, c.rows) if c.bands else optimal_bands(c.threshold, c.num_perm, c.weights)
        texts = normalized_key(batch, c.key, c.normalize)
        sig = signatures(texts, c.ngram, c.unit, c.num_perm, c.seed, c.threads)
        valid = (texts.str.len_bytes() > 0).to_numpy()  # empty keys are not near duplicates of each other
        del texts
        found = near_duplicates(sig, c.threshold, bands, rows, valid)
        log.info("minhash: %d bands x %d rows, %d candidate pairs, %d verified", bands, rows,
                 found.candidates, found.verified)
        # name each cluster by its first row's id (component labels are arbitrary integers)
        rows_in = np.flatnonzero(found.cluster >= 0)
        first = np.full(batch.height, batch.height, dtype=np.int64)
        np.minimum.at(first, found.cluster[rows_in], rows_in)
        rep = np.zeros(batch.height, dtype=np.int64)
        rep[rows_in] = first[found.cluster[rows_in]]
        in_cluster = pl.Series(found.cluster >= 0)
        cluster = pl.select(pl.when(in_cluster).then(batch["id"].gather(rep))).to_series()
        jac = pl.Series(found.max_jaccard).fill_nan(None).cast(pl.Float32)
        return pl.select(cluster.alias("dup_near_cluster"), jac.alias("dup_near_jaccard"))


class NearDedup(Filter):
    name = "near_dedup"
    Config = KeepOptions
    whole_dataset = True
    reads = ("id", "messages", "dup_near_cluster", "dup_near_jaccard")
    reasons = {"near_duplicate": "MinHash near duplicate (estimated Jaccard ≥ threshold) of the kept row in duplicate_of"}

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        detail = pl.format("jaccard≈{}", pl.col("dup_near_jaccard").round(3))
        return decide_clusters(batch, pl.col("dup_near_cluster"), self.config, "near_duplicate", detail)
