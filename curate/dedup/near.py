"""minhash / near_dedup — near duplicates by MinHash LSH (datasketch-compatible signatures).

``minhash`` (score, whole dataset) reads ``messages`` and adds
  ``dup_near_cluster`` — id of the cluster's first row (in input order) for rows with at least
  one verified near duplicate, else null;
  ``dup_near_jaccard`` — the best estimated Jaccard with a verified neighbour (null: none).
Signatures equal ``datasketch.MinHash(num_perm, seed, hashfunc=minhash.shingle_hash)`` over the
same shingles (see minhash.py); bands × rows follow datasketch's optimal-parameter rule for
``threshold`` unless ``bands``/``rows`` are given; candidate pairs from a polars group-by per
band are verified by estimated Jaccard ≥ threshold; clusters are transitive (union-find).
Bounded form (what the runner uses): signatures and band keys are a map over batches; LSH is
a shuffle by band key (one band's keys at a time); only the signatures of candidate rows are
gathered for verification; clusters are the connected components of the verified edges.

``near_dedup`` (decide, whole dataset; bounded: only clustered rows travel) keeps one row per
``dup_near_cluster`` by the keep policy and rejects the others with reason ``near_duplicate`` and ``duplicate_of`` = the kept id
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
import pyarrow as pa
from pydantic import Field, model_validator

from sluice.stage import ROW, Filter, Requirement, Scorer, StageConfig

from .keep import KeepOptions, combine_clusters, decide_clusters, keep_reads, partial_clusters
from .lsh import band_keys, bucket_pairs, near_duplicates, optimal_bands, verify
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
    bounded = True
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


    def bands(self) -> tuple[int, int]:
        c = self.config
        return (c.bands, c.rows) if c.bands else optimal_bands(c.threshold, c.num_perm, c.weights)

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Per valid row: position, id, signature (bytes) and one uint64 key per band."""
        c = self.config
        bands, rows = self.bands()
        texts = normalized_key(batch, c.key, c.normalize)
        valid = (texts.str.len_bytes() > 0).to_numpy()
        sig = signatures(texts.filter(pl.Series(valid)), c.ngram, c.unit, c.num_perm, c.seed, c.threads)
        keys = {f"b{band}": band_keys(sig, band, rows) for band in range(bands)}
        raw = pl.from_arrow(pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(4 * c.num_perm), len(sig), [None, pa.py_buffer(np.ascontiguousarray(sig))])).alias("sig")
        return batch.filter(pl.Series(valid)).select(ROW, "id").with_columns(raw, **keys)

    def combine(self, parts) -> pl.DataFrame:
        c = self.config
        bands, _ = self.bands()
        empty = pl.DataFrame(schema={ROW: pl.Int64, "dup_near_cluster": pl.String, "dup_near_jaccard": pl.Float32})
        if not parts.files:
            return empty
        pairs = []
        for band in range(bands):  # the shuffle: one band's keys at a time, by hash partition when large
            for frame in parts.partitions(f"b{band}", [ROW, f"b{band}"]):
                pairs.append(bucket_pairs(frame[f"b{band}"].to_numpy(), frame[ROW].to_numpy()))
        pairs = pl.concat(pairs).unique()
        if not pairs.height:
            return empty
        # only candidate rows' signatures are gathered, in a compact index
        rows_c = np.unique(np.r_[pairs["left"].to_numpy(), pairs["right"].to_numpy()])
        got = parts.read([ROW, "sig"], pl.col(ROW).is_in(pl.Series(rows_c).implode())).sort(ROW)
        sig = np.frombuffer(b"".join(got["sig"].to_list()), dtype=np.uint32).reshape(len(rows_c), c.num_perm)
        found = verify(sig, np.searchsorted(rows_c, pairs["left"].to_numpy()),
                       np.searchsorted(rows_c, pairs["right"].to_numpy()), c.threshold)
        log.info("minhash: %d bands, %d candidate pairs, %d verified", bands, found.candidates, found.verified)
        inside = np.flatnonzero(found.cluster >= 0)
        if not len(inside):
            return empty
        first = pl.DataFrame({"c": found.cluster[inside], ROW: rows_c[inside]}).with_columns(
            pl.col(ROW).min().over("c").alias("rep"))
        reps = parts.read([ROW, "id"], pl.col(ROW).is_in(first["rep"].unique().implode())).rename({ROW: "rep"})
        jac = pl.Series(found.max_jaccard[inside]).fill_nan(None).cast(pl.Float32)
        return (first.with_columns(jac.alias("dup_near_jaccard"))
                .join(reps, on="rep", how="left")
                .select(ROW, pl.col("id").alias("dup_near_cluster"), "dup_near_jaccard"))


class NearDedup(Filter):
    name = "near_dedup"
    Config = KeepOptions
    whole_dataset = True
    bounded = True
    reads = ("id", "dup_near_cluster", "dup_near_jaccard")
    reasons = {"near_duplicate": "MinHash near duplicate (estimated Jaccard ≥ threshold) of the kept row in duplicate_of"}

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        self.optional_reads = keep_reads(self.config)

    @staticmethod
    def _detail() -> pl.Expr:
        return pl.format("jaccard≈{}", pl.col("dup_near_jaccard").round(3))

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        return decide_clusters(batch, pl.col("dup_near_cluster"), self.config, "near_duplicate", self._detail())

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        # only rows of a cluster travel to the combine step
        return partial_clusters(batch.filter(pl.col("dup_near_cluster").is_not_null()), pl.col("dup_near_cluster"),
                                self.config, self._detail())

    def combine(self, parts) -> pl.DataFrame:
        return combine_clusters(parts, self.config, "near_duplicate")
