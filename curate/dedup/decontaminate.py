"""contamination / decontaminate — eval-set items found in the data, verbatim, edited or embedded.

``contamination`` (score, per batch) reads ``messages`` and adds, for the eval item that covers
the most of itself inside the row's text (``key``, default prompts and answers):
  ``contam_set``, ``contam_item`` (item id), ``contam_field`` (which field of the item),
  ``contam_words`` (the item's length in words), ``contam_matched`` (its words found, in order,
  inside one window of the row), ``contam_run`` (the longest verbatim run of its words),
  ``contam_similarity`` (cosine to the item when the optional semantic check found it);
  nulls and zeros when no item comes close.

How: both sides are normalized (Unicode NFKC, case, punctuation, whitespace — normalize.py), then
split into words. Candidates share rare word bigrams with an item (bigrams found in more than
``max_df`` items are stop-phrases and not indexed); each candidate is verified by aligning the
item's words with the row's (difflib matching blocks) and counting the item words matched inside
a window of the row no longer than the item plus a few words. So an item is found verbatim, with
case/punctuation/whitespace changes, with a word swapped or dropped, with a ``Question:`` prefix,
and embedded in a longer prompt. Items shorter than ``min_words`` cannot be told from chance;
their count is logged and recorded in the manifest (``too_short_items``). Multiple-choice items
are matched with and without their options (evalsets.py). Eval sets are JSONL / JSON / CSV /
Parquet files, folders written by ``datasets``' ``save_to_disk``, or dataset versions (``ref:``);
the checkpoint key covers their contents, not just paths.

With ``semantic: {model, threshold}``, each row's nearest item by embedding
(``sluice.curate.quality.embed``, default the static model) with cosine ≥ threshold is a candidate
too, and ``contam_similarity`` records its cosine (null otherwise); then the n-gram test still
decides, with the lower ``semantic_coverage`` bar, as the paraphrase-contamination literature does.
And a verifier (rephrased.py: offline number / function-name checks, or an LLM judge) looks at the
row's ``top_k`` nearest items: the one it confirms fills ``contam_semantic`` (the verifier),
``contam_semantic_item`` and ``contam_semantic_sim``, and ``decontaminate`` rejects the row as
``contaminated_semantic`` — a reworded or translated item the word test cannot see.

``decontaminate`` (decide, per batch) rejects as ``contaminated`` rows where the item is at least
``min_words`` long and at most ``misses(words)`` of its words are missing (none below
``fuzzy_from`` words — whole-item containment — else ``floor(words × (1 − min_coverage))``, at least
one), or where a verbatim run reaches ``min_run`` words; ``detail`` is JSON
``{"set", "item", "field", "matched", "words", "run"}``. Defaults are chosen from the curve in
BENCHMARKS.md ("Decontamination"), measured with benchmarks/bench_decontaminate.py.

    - stage: contamination
      key: prompts
      evalsets:
        - {name: gsm8k, path: ../shared/data/evalsets/gsm8k/test.jsonl, fields: [question]}
        - {name: mmlu, path: mmlu_test.csv}
        - {name: truthfulqa, path: truthful_qa_saved/}        # datasets' save_to_disk folder
    - stage: decontaminate
"""

from __future__ import annotations

import hashlib
import json
import logging
from difflib import SequenceMatcher
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from sluice.errors import DataError
from sluice.recipe import ExistingRecipePath
from sluice.stage import Filter, Scorer, StageConfig

from .evalsets import ID_FIELDS, Item, conversation_items, missing_fields, read_records, record_items, registered_golden
from .normalize import Key, NormalizeOptions, key_text, normalize_strings
from .rephrased import JUDGE_PROMPT, Fingerprints, nearest, parse_judge, verify_offline

log = logging.getLogger(__name__)
_BIG = np.int64(1 << 31)
SEMANTIC_THRESHOLD = 0.7  # chosen from the curve, BENCHMARKS.md "Semantic decontamination (issue #32 item 5)"


class EvalSet(StageConfig):
    name: str | None = Field(None, description="set name reported in detail (default: file stem or dataset name)")
    path: ExistingRecipePath | None = Field(None, description="JSONL / JSONL.gz / JSON / CSV / Parquet file, or a "
                                                          "save_to_disk folder (relative to the recipe's folder)")
    ref: str | None = Field(None, description="or a conversation dataset version, e.g. golden@v1")
    root: str | None = Field(None, description="store folder for ref (default: $SLUICE_HOME or ./sluice-data)")
    fields: list[str] | None = Field(None, description="text fields to check, dotted for nested ones "
                                                       "(default: every string field)")
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
        stem = Path(self.path.rstrip("/")).name
        for suffix in (".gz", ".jsonl", ".json", ".parquet", ".csv", ".tsv"):
            stem = stem.removesuffix(suffix)
        return stem


class SemanticCheck(StageConfig):
    model: str = Field("static", description="embedding model (sluice.curate.quality.embed; default: the project's "
                                             "static model distilled from all-MiniLM-L6-v2)")
    threshold: float = Field(SEMANTIC_THRESHOLD, gt=0, le=1, description="cosine similarity to an item that makes it "
                                                                         "a candidate (BENCHMARKS.md, issue #32 item 5)")
    top_k: int = Field(3, ge=1, description="nearest items per row handed to the verifier")
    verifier: Literal["offline", "llm", "none"] = Field(
        "offline", description="who confirms a candidate as a rephrased item (contaminated_semantic): offline "
                               "(numbers / function name / text_threshold, rephrased.py), llm (the "
                               "LLM-decontaminator judge, needs llm) or none (only the word test's lower bar)")
    text_threshold: float = Field(0.95, gt=0, le=1, description="offline verifier: cosine that alone confirms an item "
                                                                "with neither numbers nor code")
    fingerprints: bool = Field(True, description="also verify items found by their numbers or function name alone, "
                                                 "whatever their cosine (translations)")
    llm: dict | None = Field(None, description="verifier llm: the judge model (sluice.synth.llm.LLMSpec)")

    @model_validator(mode="after")
    def _judge(self):
        if self.verifier == "llm" and not self.llm:
            raise ValueError("verifier: llm needs llm: {backend, model, base_url, ...}")
        return self


class ContaminationConfig(StageConfig):
    evalsets: list[EvalSet] = Field(default_factory=list, description="reference eval sets")
    golden: bool = Field(False, description="also every golden set frozen in the store (`sluice golden freeze`), "
                                            "prompts and answers as separate items; fails if one changed since")
    root: str | None = Field(None, description="store folder for golden (default: $SLUICE_HOME or ./sluice-data)")
    key: Key = Field("prompts_and_answers", description="which text of a conversation is checked")
    normalize: NormalizeOptions = Field(default_factory=NormalizeOptions, description="normalization of both sides")
    min_words: int = Field(4, ge=2, description="items shorter than this (after normalization) are not indexed: "
                                                "too short to tell from chance; their count is reported")
    max_df: int = Field(50, ge=1, description="a word bigram shared by more items than this is a stock phrase "
                                              "and does not make candidates")
    slack: int = Field(4, ge=0, description="extra row words a matched window may span beyond the item's length")
    semantic: SemanticCheck | None = Field(None, description="also take each row's nearest item by embedding "
                                                             "(cosine ≥ threshold) as a candidate: paraphrases that "
                                                             "share no rare bigram; off by default (slow on CPU)")

    @model_validator(mode="after")
    def _some_reference(self):
        if not self.evalsets and not self.golden:
            raise ValueError("give evalsets, or golden: true (the golden sets frozen in the store)")
        return self


def golden_specs(c: ContaminationConfig) -> list[EvalSet]:
    """The store's frozen golden sets as eval sets (each checked against its frozen hash when read)."""
    if not c.golden:
        return []
    from sluice.store import Store

    root = Store(c.root).root
    return [EvalSet(ref=g["ref"], root=str(root), name=f"golden:{g['ref']}") for g in registered_golden(root)]


def load_items(spec: EvalSet) -> list[Item]:
    """Every reference item of one eval set."""
    if spec.ref:
        from sluice.store import Store

        return conversation_items(Store(spec.root).resolve(spec.ref).read(columns=["id", "messages"]).to_pylist(),
                                  spec.label)
    records = read_records(Path(spec.path))
    id_field = spec.id_field or next((f for f in ID_FIELDS if records and f in records[0]), None)
    if spec.id_field and records and spec.id_field not in records[0]:
        raise DataError(f"eval set {spec.path} has no field {spec.id_field!r}",
                        hint=f"fields: {', '.join(records[0])}")
    missing = missing_fields(records, spec.fields or [])
    if missing:
        raise DataError(f"eval set {spec.path} lacks fields {missing}",
                        hint=f"fields: {', '.join(records[0]) if records else 'none (empty file)'}")
    return [it for n, r in enumerate(records)
            for it in record_items(r, spec.label, str(r.get(id_field, n)) if id_field else str(n), spec.fields)]


def _words(norm: pl.Series) -> list[list[str]]:
    return [t.split(" ") if t else [] for t in norm.to_list()]


# What redact_pii writes (curate/pii/detector.py PLACEHOLDER); kept here so dedup does not load the PII stack.
PLACEHOLDER = r"<[A-Z][A-Z_]*(?:_\d+|:[0-9a-f]{8,})>"
_WILD_WORD = "sluicewildcardplaceholder"
_WILD = -(1 << 40)
MAX_WILD_WORDS = 10  # item words one placeholder may stand for: a full postal address is 7-10 words


class _Block(NamedTuple):
    a: int
    b: int
    size: int


def _wildcards(item: list[int], row: list[int], blocks: list) -> list[_Block]:
    """Matching blocks plus the item gaps that placeholders of the row fill (redacted names, e-mails):
    a gap between two matched blocks (or before the first / after the last) whose row side is only
    placeholders counts as matched, up to MAX_WILD_WORDS item words per placeholder."""
    out: list[_Block] = []
    prev_a = prev_b = 0
    for k, blk in enumerate([*blocks, _Block(len(item), len(row), 0)]):
        gap_a, gap_b = blk.a - prev_a, blk.b - prev_b
        if k == 0:  # before the first block: the placeholders right before it
            gap_b = 0
            while gap_b < blk.b and row[blk.b - gap_b - 1] == _WILD:
                gap_b += 1
        elif blk.size == 0:  # after the last block: the placeholders right after it
            gap_b = 0
            while prev_b + gap_b < len(row) and row[prev_b + gap_b] == _WILD:
                gap_b += 1
        elif any(w != _WILD for w in row[prev_b:blk.b]):
            gap_b = 0
        if 0 < gap_a <= MAX_WILD_WORDS * gap_b:
            out.append(_Block(prev_a, blk.b - gap_b if k == 0 else prev_b, gap_a))
        if blk.size:
            out.append(_Block(blk.a, blk.b, blk.size))
        prev_a, prev_b = blk.a + blk.size, blk.b + blk.size
    return out


def _match(item: list[int], row: list[int], slack: int) -> tuple[int, int]:
    """(item words matched in order inside one row window of len(item)+slack words, longest run).

    Placeholders in the row (redacted PII) match the item words they stand for (``_wildcards``);
    the longest verbatim run counts real matches only, and at least half of the item's words must
    match for real before placeholders count."""
    blocks = [b for b in SequenceMatcher(None, item, row, autojunk=False).get_matching_blocks() if b.size]
    real_run = max((b.size for b in blocks), default=0)
    if _WILD in row and 2 * sum(b.size for b in blocks) >= len(item):  # placeholders fill gaps, never most of it
        blocks = _wildcards(item, row, blocks)
    best = total = lo = 0
    span = len(item) + slack
    for b in blocks:
        total += b.size
        while blocks[lo].b < b.b + b.size - span:
            total -= blocks[lo].size
            lo += 1
        best = max(best, total)
    return min(best, len(item)), real_run


class Contamination(Scorer):
    name = "contamination"
    Config = ContaminationConfig
    reads = ("messages",)
    adds = ("contam_set", "contam_item", "contam_field", "contam_words", "contam_matched", "contam_run",
            "contam_similarity", "contam_semantic", "contam_semantic_item", "contam_semantic_sim")
    version = 3  # 2: alignment of normalized words; 3: rephrased items confirmed by a verifier (rephrased.py)

    def remote_endpoints(self) -> list[str]:
        """The LLM verifier's endpoint (rows are sent to it): the runner refuses a remote one before redaction."""
        sem = self.config.semantic
        url = (sem.llm or {}).get("base_url") if sem is not None and sem.verifier == "llm" else None
        return [url] if url else []

    def fingerprint(self, upstream: str) -> str:
        digest = hashlib.sha256()
        for spec in [*self.config.evalsets, *golden_specs(self.config)]:
            if spec.path:
                p = Path(spec.path)
                files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
                for f in files:
                    digest.update(f.read_bytes() if f.is_file() else b"missing:" + spec.path.encode())
            else:
                from sluice.store import Store

                shards = Store(spec.root).resolve(spec.ref).manifest["parts"]["data"]["shards"]
                digest.update(json.dumps([s["sha256"] for s in shards]).encode())
        return super().fingerprint(f"{upstream}|evalsets={digest.hexdigest()[:16]}")

    def setup(self) -> None:
        c = self.config
        specs = [*c.evalsets, *golden_specs(c)]
        items = [it for spec in specs for it in load_items(spec)]
        words = _words(normalize_strings(pl.Series([it.text for it in items], dtype=pl.String), c.normalize))
        keep = [i for i, w in enumerate(words) if len(w) >= c.min_words]
        ids_per_item = {(items[i].set, items[i].id) for i in range(len(items))}
        long_ids = {(items[i].set, items[i].id) for i in keep}
        self.stats = {"items": len(ids_per_item), "texts": len(items), "too_short_items": len(ids_per_item - long_ids),
                      "too_short_texts": len(items) - len(keep), "min_words": c.min_words}
        self.items = [items[i] for i in keep]
        self.vocab: dict[str, int] = {}
        self.item_words = [np.array([self.vocab.setdefault(w, len(self.vocab)) for w in words[i]], np.int64)
                           for i in keep]
        self.index = self._bigram_index()
        if c.semantic is not None:
            from sluice.curate.quality.embed import embed_texts, load_model

            self.embedder = load_model(c.semantic.model)
            self.item_vectors = embed_texts(self.embedder, [it.text for it in self.items])
            self.item_keys = Fingerprints([it.text for it in self.items])
        log.info("contamination: %d items (%d texts) from %d eval sets; %d items shorter than %d words cannot be "
                 "detected", self.stats["items"], len(items), len(specs), self.stats["too_short_items"],
                 c.min_words)

    def _bigram_index(self) -> pl.DataFrame:
        """(bigram, item, need): each item's rare bigrams and how many a candidate must share."""
        grams = pl.DataFrame({
            "g": np.concatenate([w[:-1] * _BIG + w[1:] for w in self.item_words]) if self.item_words
            else np.zeros(0, np.int64),
            "item": np.repeat(np.arange(len(self.item_words), dtype=np.int32),
                              [len(w) - 1 for w in self.item_words])}).unique()
        grams = grams.with_columns(pl.len().over("g").alias("df"))
        # stock bigrams do not make candidates, but every item keeps its two rarest
        rank = pl.col("df").rank("ordinal").over("item")
        kept = grams.filter((pl.col("df") <= self.config.max_df) | (rank <= 2))
        return kept.with_columns((pl.len().over("item") * 0.25).ceil().cast(pl.Int32).alias("need")).select(
            "g", "item", "need")

    def describe(self) -> dict:
        if not hasattr(self, "stats"):
            self.setup()
        semantic = self.config.semantic
        return {"reference": self.stats, **({"semantic": semantic.model_dump()} if semantic else {})}

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        if not hasattr(self, "index"):
            self.setup()
        # A redaction placeholder (<PERSON_1>) stands for the words it replaced: a wildcard in the match.
        texts = batch.select(key_text(c.key).str.replace_all(PLACEHOLDER, f" {_WILD_WORD} ").alias("t")).to_series()
        rows = [np.array([_WILD if w == _WILD_WORD else self.vocab.get(w, -1 - i) for i, w in enumerate(ws)], np.int64)
                for ws in _words(normalize_strings(texts, c.normalize))]
        candidates = set(self._candidates(rows))
        neighbours = self._similar(batch) if c.semantic is not None else []
        similar = {d: near[0] for d, near in enumerate(neighbours) if near and near[0][1] >= c.semantic.threshold}
        candidates |= {(doc, item) for doc, (item, _) in similar.items()}
        best: dict[int, tuple] = {}
        for doc, item in sorted(candidates):
            matched, run = _match(self.item_words[item].tolist(), rows[doc].tolist(), c.slack)
            n = len(self.item_words[item])
            rank = (matched / n, matched, run)
            if matched and rank > best.get(doc, ((0, 0, 0),))[0]:
                best[doc] = (rank, item, matched, run)
        out = {k: [None] * batch.height for k in self.adds}
        for doc, (_, item, matched, run) in best.items():
            it = self.items[item]
            for k, v in zip(self.adds, (it.set, it.id, it.field, len(self.item_words[item]), matched, run)):
                out[k][doc] = v
        out["contam_similarity"] = [similar[d][1] if d in best and d in similar and similar[d][0] == best[d][1]
                                    else None for d in range(batch.height)]
        if neighbours and c.semantic.verifier != "none":
            texts = batch.select(key_text(c.key)).to_series().to_list()
            for doc, (item, sim, how) in self._verify(texts, neighbours).items():
                it = self.items[item]
                out["contam_semantic"][doc], out["contam_semantic_item"][doc] = how, f"{it.set}:{it.id}"
                out["contam_semantic_sim"][doc] = sim
        frame = pl.DataFrame({k: pl.Series(v, dtype=pl.String if k in (*self.adds[:3], *self.adds[7:9]) else
                                           pl.Float32 if k in ("contam_similarity", "contam_semantic_sim")
                                           else pl.Int32)
                              for k, v in out.items()})
        return frame.with_columns(pl.col(self.adds[3:6]).fill_null(0))

    def _similar(self, batch: pl.DataFrame) -> list[list[tuple[int, float]]]:
        """Per row, its top_k nearest items by embedding whose cosine reaches the threshold, nearest first,
        then the items found by their numbers or function name (rephrased.Fingerprints)."""
        from sluice.curate.quality.embed import embed_texts

        texts = batch.select(key_text(self.config.key)).to_series().to_list()
        sem = self.config.semantic
        vectors = embed_texts(self.embedder, texts)
        near = nearest(vectors, self.item_vectors, sem.top_k, sem.threshold)
        if sem.fingerprints:
            for d, text in enumerate(texts):
                seen = {i for i, _ in near[d]}
                near[d] += [(i, float(vectors[d] @ self.item_vectors[i]))
                            for i in sorted(self.item_keys.candidates(text) - seen)]
        return near

    def _verify(self, texts: list[str], neighbours: list[list[tuple[int, float]]]) -> dict[int, tuple]:
        """row → (item, cosine, verifier) for the nearest candidate the verifier confirms."""
        sem = self.config.semantic
        pairs = [(d, item, sim) for d, near in enumerate(neighbours) for item, sim in near]
        offline = [verify_offline(texts[d], self.items[item].text, sim, sem.text_threshold) for d, item, sim in pairs]
        verdicts = offline
        if sem.verifier == "llm":
            import asyncio

            judged = asyncio.run(self._judge([(texts[d], self.items[item].text) for d, item, _ in pairs]))
            self.count("judge_calls", len(judged))
            self.count("judge_unparsed", sum(j is None for j in judged))
            verdicts = [off if j is None else ("llm" if j else None) for off, j in zip(offline, judged)]
        found: dict[int, tuple] = {}
        for (d, item, sim), how in zip(pairs, verdicts):
            if how and d not in found:
                found[d] = (item, sim, how)
        return found

    async def _judge(self, pairs: list[tuple[str, str]]) -> list[bool | None]:
        import asyncio

        from sluice.synth.llm import GenerationFailed, LLMSpec, build_backend

        if not hasattr(self, "backend"):
            self.backend = build_backend(LLMSpec.model_validate(self.config.semantic.llm))

        async def one(row: str, item: str) -> bool | None:
            try:
                reply = await self.backend.chat([{"role": "user", "content": JUDGE_PROMPT.format(item=item, row=row)}])
            except GenerationFailed:
                return None
            return parse_judge(reply)

        return list(await asyncio.gather(*(one(r, i) for r, i in pairs)))

    def _candidates(self, rows: list[np.ndarray]) -> list[tuple[int, int]]:
        """(row, item) pairs sharing at least ``need`` of the item's indexed bigrams."""
        lens = [max(len(r) - 1, 0) for r in rows]
        if not sum(lens):
            return []
        g = np.concatenate([r[:-1] * _BIG + r[1:] for r in rows if len(r) > 1])
        doc = np.repeat(np.arange(len(rows), dtype=np.int32), lens)
        hits = (pl.DataFrame({"doc": doc, "g": g}).unique().join(self.index, on="g")
                .group_by("doc", "item").agg(pl.len().alias("shared"), pl.col("need").first())
                .filter(pl.col("shared") >= pl.col("need")))
        return list(zip(hits["doc"].to_list(), hits["item"].to_list()))


class DecontaminateConfig(StageConfig):
    min_words: int = Field(4, ge=2, description="items shorter than this never decide (too short to tell from chance)")
    fuzzy_from: int = Field(8, ge=2, description="items this long may miss words; shorter ones must be contained whole")
    min_coverage: float = Field(0.8, gt=0, le=1, description="share of a long item's words that must be found in order")
    min_run: int | None = Field(20, ge=5, description="a verbatim run of this many item words alone is contamination "
                                                      "(None: off)")
    semantic_coverage: float = Field(0.5, gt=0, le=1, description="with the semantic check: an item at least this "
                                                                  "similar by embedding needs only this share of its "
                                                                  "words found (a paraphrase)")


def allowed_misses(words: pl.Expr, c: DecontaminateConfig) -> pl.Expr:
    fuzzy = (words * (1 - c.min_coverage)).floor().cast(pl.Int32).clip(lower_bound=1)
    return pl.when(words >= c.fuzzy_from).then(fuzzy).otherwise(0)


class Decontaminate(Filter):
    name = "decontaminate"
    Config = DecontaminateConfig
    reads = ("contam_set", "contam_item", "contam_field", "contam_words", "contam_matched", "contam_run",
             "contam_similarity")
    reasons = {"contaminated": "an eval item is found in the row, verbatim, lightly edited or embedded "
                               "(detail: set, item, field, matched, words, run)",
               "contaminated_semantic": "a rephrased (or translated) eval item: a near neighbour by embedding that "
                                        "the verifier confirmed (detail: item, similarity, verifier)"}
    version = 3

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        words, matched = pl.col("contam_words"), pl.col("contam_matched")
        hit = (words >= c.min_words) & (matched > 0) & (matched >= words - allowed_misses(words, c))
        if c.min_run is not None:
            hit = hit | (pl.col("contam_run") >= c.min_run)
        if "contam_similarity" in batch.columns:  # set only where the semantic check found the item
            paraphrase = pl.col("contam_similarity").is_not_null() & (matched >= words * c.semantic_coverage)
            hit = hit | (paraphrase & (words >= c.min_words)).fill_null(False)
        detail = pl.struct(set=pl.col("contam_set"), item=pl.col("contam_item"), field=pl.col("contam_field"),
                           matched=matched, words=words, run=pl.col("contam_run")).struct.json_encode()
        if "contam_semantic" not in batch.columns:
            return batch.select(pl.when(hit).then(pl.lit("contaminated")).alias("reason"),
                                pl.when(hit).then(detail).alias("detail"))
        semantic = pl.col("contam_semantic").is_not_null() & ~hit
        sem_detail = pl.struct(item=pl.col("contam_semantic_item"), similarity=pl.col("contam_semantic_sim").round(3),
                               verifier=pl.col("contam_semantic")).struct.json_encode()
        return batch.select(
            pl.when(hit).then(pl.lit("contaminated")).when(semantic).then(pl.lit("contaminated_semantic"))
            .alias("reason"),
            pl.when(hit).then(detail).when(semantic).then(sem_detail).alias("detail"))
