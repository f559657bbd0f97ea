"""contamination / decontaminate — word n-gram overlap with evaluation sets.

``contamination`` (score, per batch) reads ``messages`` and adds, for the eval item sharing the
most word n-grams (default 13, after normalization) with the row's prompts and answers:
  ``contam_set`` (eval set name), ``contam_item`` (item id), ``contam_ngrams`` (shared n-grams;
  0 and nulls when the row shares none).
Eval sets are JSONL / JSONL.gz / JSON / Parquet files or conversation dataset versions
(``ref: golden@v1``). Items with fewer words than ``ngram`` in a field cannot be matched at that
size; their count is logged. The checkpoint key covers the eval sets' contents, not just paths.

``decontaminate`` (decide, per batch) rejects rows with ``contam_ngrams ≥ min_ngrams`` as
``contaminated``; ``detail`` is JSON ``{"set", "item", "ngrams"}``.

    - stage: contamination
      ngram: 13
      evalsets:
        - {name: gsm8k, path: ../shared/data/evalsets/gsm8k/test.jsonl, fields: [question, answer]}
        - {name: humaneval, path: ../shared/data/evalsets/humaneval/HumanEval.jsonl.gz,
           fields: [prompt, canonical_solution], id_field: task_id}
    - stage: decontaminate
      min_ngrams: 1
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from sluice.errors import DataError
from sluice.recipe import ExistingRecipePath
from sluice.stage import Filter, Scorer, StageConfig

from .minhash import shingle_hashes
from .normalize import Key, NormalizeOptions, key_text, normalize_strings, normalized_key

log = logging.getLogger(__name__)
ID_FIELDS = ("task_id", "id", "idx", "question_id")


class EvalSet(StageConfig):
    name: str | None = Field(None, description="set name reported in detail (default: file stem or dataset name)")
    path: ExistingRecipePath | None = Field(None, description="JSONL / JSONL.gz / JSON / Parquet file "
                                                          "(relative to the recipe's folder)")
    ref: str | None = Field(None, description="or a conversation dataset version, e.g. golden@v1")
    root: str | None = Field(None, description="store folder for ref (default: $SLUICE_HOME or ./sluice-data)")
    fields: list[str] | None = Field(None, description="text fields to check (default: every string field)")
    id_field: str | None = Field(None, description="item id field (default: task_id/id if present, else the row number)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.ref is None):
            raise ValueError("give exactly one of path or ref")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.ref:
            return self.ref.split("@")[0]
        stem = Path(self.path).name
        for suffix in (".gz", ".jsonl", ".json", ".parquet"):
            stem = stem.removesuffix(suffix)
        return stem


class ContaminationConfig(StageConfig):
    evalsets: list[EvalSet] = Field(min_length=1, description="reference eval sets")
    ngram: int = Field(13, ge=3, le=64, description="n-gram length in words")
    key: Key = Field("prompts_and_answers", description="which text of a conversation is checked")
    normalize: NormalizeOptions = Field(default_factory=NormalizeOptions, description="normalization of both sides")


def _read_file(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"eval set file not found: {path}", hint="fix the path (relative paths start at the "
                                                                  "working directory)")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
        raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        if name.removesuffix(".gz").endswith(".json"):
            return pl.DataFrame(json.loads(raw))
        return pl.read_ndjson(io.BytesIO(raw), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, OSError) as e:
        raise DataError(f"cannot read eval set {path}: {type(e).__name__}",
                        hint="eval sets are JSONL (optionally .gz), a JSON list, or Parquet") from None


def load_items(spec: EvalSet, key: Key) -> tuple[pl.Series, dict[str, pl.Series]]:
    """(item ids, {field: texts}) of one eval set."""
    if spec.ref:
        from sluice.store import Store

        df = pl.from_arrow(Store(spec.root).resolve(spec.ref).read())
        return df["id"].cast(pl.String), {"messages": df.select(key_text(key)).to_series()}
    df = _read_file(Path(spec.path))
    id_field = spec.id_field or next((f for f in ID_FIELDS if f in df.columns), None)
    if id_field and id_field not in df.columns:
        raise DataError(f"eval set {spec.path} has no field {id_field!r}", hint=f"fields: {', '.join(df.columns)}")
    ids = df[id_field].cast(pl.String) if id_field else pl.Series([str(i) for i in range(df.height)])
    fields = spec.fields or [c for c, t in df.schema.items() if t == pl.String and c != id_field]
    missing = [f for f in fields if f not in df.columns]
    if missing:
        raise DataError(f"eval set {spec.path} lacks fields {missing}", hint=f"fields: {', '.join(df.columns)}")
    return ids, {f: df[f] for f in fields}


def full_ngrams(texts: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc, 64-bit hash) of every complete word n-gram (texts shorter than n give none)."""
    doc, h = shingle_hashes(texts, n, "word")
    words = (texts.str.count_matches(" ") + 1).to_numpy()
    ok = words[doc] >= n
    return doc[ok], h[ok]


class Contamination(Scorer):
    name = "contamination"
    Config = ContaminationConfig
    reads = ("messages",)
    adds = ("contam_set", "contam_item", "contam_ngrams")

    def fingerprint(self, upstream: str) -> str:
        digest = hashlib.sha256()
        for spec in self.config.evalsets:
            if spec.path:
                p = Path(spec.path)
                digest.update(p.read_bytes() if p.is_file() else b"missing:" + spec.path.encode())
            else:
                from sluice.store import Store

                shards = Store(spec.root).resolve(spec.ref).manifest["parts"]["data"]["shards"]
                digest.update(json.dumps([s["sha256"] for s in shards]).encode())
        return super().fingerprint(f"{upstream}|evalsets={digest.hexdigest()[:16]}")

    def setup(self) -> None:
        c = self.config
        frames, short = [], 0
        for spec in c.evalsets:
            ids, fields = load_items(spec, "prompts_and_answers")
            for texts in fields.values():
                norm = normalize_strings(texts, c.normalize)
                doc, h = full_ngrams(norm, c.ngram)
                short += int(((norm.str.count_matches(" ") + 1) < c.ngram).sum())
                frames.append(pl.DataFrame({"h": h, "contam_set": spec.label, "contam_item": ids.gather(doc)}))
        self.index = pl.concat(frames).unique() if frames else pl.DataFrame(
            schema={"h": pl.UInt64, "contam_set": pl.String, "contam_item": pl.String})
        log.info("contamination: %d distinct %d-grams from %d eval sets; %d fields shorter than n cannot match",
                 self.index["h"].n_unique(), c.ngram, len(c.evalsets), short)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        if not hasattr(self, "index"):
            self.setup()
        texts = normalized_key(batch, c.key, c.normalize)
        doc, h = full_ngrams(texts, c.ngram)
        hits = (pl.DataFrame({"doc": doc, "h": h}).join(self.index, on="h")
                .group_by("doc", "contam_set", "contam_item").agg(pl.col("h").n_unique().alias("contam_ngrams"))
                .sort("contam_ngrams", "contam_set", "contam_item", descending=[True, False, False])
                .group_by("doc", maintain_order=True).first())
        rows = pl.DataFrame({"doc": np.arange(batch.height, dtype=doc.dtype)})
        out = rows.join(hits, on="doc", how="left", maintain_order="left")
        return out.select("contam_set", "contam_item",
                          pl.col("contam_ngrams").fill_null(0).cast(pl.Int32))


class DecontaminateConfig(StageConfig):
    min_ngrams: int = Field(1, ge=1, description="shared n-grams with one eval item that make a row contaminated")


class Decontaminate(Filter):
    name = "decontaminate"
    Config = DecontaminateConfig
    reads = ("contam_set", "contam_item", "contam_ngrams")
    reasons = {"contaminated": "shares word n-grams with an eval item (detail: set, item, n-grams)"}

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        hit = pl.col("contam_ngrams") >= self.config.min_ngrams
        detail = pl.struct(set=pl.col("contam_set"), item=pl.col("contam_item"),
                           ngrams=pl.col("contam_ngrams")).struct.json_encode()
        return batch.select(pl.when(hit).then(pl.lit("contaminated")).alias("reason"),
                            pl.when(hit).then(detail).alias("detail"))
