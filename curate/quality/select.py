"""select — DEITA's score-first, diversity-aware selection (whole dataset).

Reads ``score_total`` (or ``score_column``), ``scorer``, ``id`` and ``embedding``. Walks the rows
by score, highest first (ties keep input order), and keeps a row only if its cosine similarity to
*every* row kept so far is at most ``threshold`` (τ, default 0.9); stops at ``budget`` rows. This
is the rule of the paper and of the reference code with batch size 1.

Order (``order``): ``auto`` ranks by the score unless every row was scored by the offline
heuristic (``scorer`` = ``heuristic-v1``), which on labelled data ranks no better than chance
(BENCHMARKS.md), or only by a fitted scorer recorded as no better than chance
(``learned-chance:<name>``) — then the walk is diversity-only, in a stable hash order of ``id``, and the run
says so (warning, manifest, data card). ``score`` always ranks by the score (the heuristic by
name); ``diversity`` never does. When ``auto`` finds no quality signal and no ``budget`` is set,
``unranked: keep`` (the default) keeps every row and says what the walk would have cut: choosing
among near-duplicates in hash order is a coin toss that lowered the good-row rate on labelled
data (BENCHMARKS.md, issue #32); ``unranked: diversity`` walks the hash order anyway.

Lift: with ``label`` (a column, ``metadata.<key>``, ``feedback.thumb``, ``feedback.rating``; a
numeric one needs ``label_threshold``), the stage reports the selected rows' label rate against
the input's — printed as a warning line and stored in the manifest (stage info) and data card. It is not distilabel's
``DeitaFiltering`` (which keeps rows whose nearest neighbour in the whole pool is far enough),
nor the reference's batched mode (which also rejects a row for resembling an earlier row of the
same batch that was itself rejected).

Drops rows with these reasons:
  ``similar_to_selected`` — cosine above τ to a kept row (``duplicate_of`` = the most similar kept
  row's id, ``detail`` = the similarity), ``over_budget`` — never reached: the budget was full,
  ``unscored`` — null/NaN score or missing embedding.

Exact and fast: candidates are taken in blocks (``GreedyWalk``); one matrix product per block against
the kept set (float32) rejects most of them, the survivors are checked in order against the rows
kept earlier in the same block (one Gram matrix and a running mask), and any similarity within 1e-5
of τ is recomputed in float64, so the result equals the one-candidate-at-a-time loop
(``greedy_reference``) exactly. The walk holds only the kept set — ``8 · budget · dim`` bytes
(float32 unit rows for the screen, raw rows for the float64 re-check) plus one block's
``4 · block · (block + min(kept, 16384))`` — so it is fed score-sorted partitions one at a time:
the runner uses the bounded form (``partial`` spills keys and embeddings per batch, ``combine``
walks them by partition), which holds the kept set, one partition's embeddings and about 45 bytes
of keys per row, never the whole embedding column (issue #30).

    - stage: embed
    - stage: quality_score
    - stage: select
      budget: 10000
      threshold: 0.9
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from sluice.errors import DataError
from sluice.stage import ROW, Filter, StageConfig

from . import labels
from .deita import HEURISTIC_NAME
from .score import CHANCE

log = logging.getLogger(__name__)
EPS = 1e-5  # float32 cosine error on unit vectors is ~1e-6; closer calls are settled in float64


@dataclass
class Selection:
    selected: np.ndarray   # row indices, in selection order
    similar_to: np.ndarray  # per row: index of the most similar kept row that rejected it, or -1
    similarity: np.ndarray  # per row: that similarity (NaN when not rejected for similarity)


def walk_order(scores: np.ndarray) -> np.ndarray:
    """Rows with a finite score, highest first; ties in input order."""
    finite = np.flatnonzero(np.isfinite(scores))
    return finite[np.argsort(-scores[finite], kind="stable")]


def hash_order(ids: list[str], eligible: np.ndarray) -> np.ndarray:
    """Eligible rows in a stable pseudo-random order: by a hash of the id (the same rows, the same order)."""
    keys = np.array([int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "big") for i in ids],
                    dtype=np.uint64)
    rows = np.flatnonzero(eligible)
    return rows[np.argsort(keys[rows], kind="stable")]


def _unit64(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def greedy_reference(embeddings: np.ndarray, order: np.ndarray, threshold: float, budget: int) -> list[int]:
    """The straightforward loop: one similarity pass against everything kept, per candidate (float64)."""
    kept = np.empty((min(budget, len(order)), embeddings.shape[1]), dtype=np.float64)
    out: list[int] = []
    for i in order:
        if len(out) >= budget:
            break
        x = _unit64(embeddings[i])
        if not out or float(np.max(kept[:len(out)] @ x)) <= threshold:
            kept[len(out)] = x
            out.append(int(i))
    return out


def _unit32(rows: np.ndarray) -> np.ndarray:
    """Unit rows in float32 (the screening copy; decisions within ``EPS`` of τ are redone in float64)."""
    rows = np.array(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    rows /= np.where(norms == 0, np.float32(1), norms)
    return rows


class GreedyWalk:
    """The greedy walk as a stream: feed candidate rows in walk order, block by block, and it
    decides each one exactly as ``greedy_reference`` would.

    It holds only the kept set: their unit vectors in float32 (the screen) and their raw rows (to
    settle a similarity within ``EPS`` of τ in float64) — ``8 · budget · dim`` bytes — plus one
    block's working arrays (``4 · block · (block + min(kept, chunk))`` bytes). Memory is a
    function of the budget, not of the number of candidates, so the candidates can come from
    score-sorted partitions read one at a time.

    Per block: one matrix product against the kept set rejects most candidates; the survivors
    are decided in order against the rows kept earlier in the same block with one Gram matrix
    and a running "rejected by a kept row" mask (no per-pair Python work).
    """

    def __init__(self, dim: int, threshold: float, budget: int, chunk: int = 16384):
        self.threshold, self.budget, self.chunk = threshold, budget, chunk
        self.kept = np.empty((0, dim), dtype=np.float32)  # unit rows, grown geometrically up to budget
        self.raw = np.empty((0, dim), dtype=np.float32)
        self.kept_idx: list[int] = []
        self.rejected: list[np.ndarray] = []  # (row, similar_to, similarity) triples, per block
        self.last_block: np.ndarray | None = None

    @property
    def full(self) -> bool:
        return len(self.kept_idx) >= self.budget

    def _exact_max(self, raw: np.ndarray, against: np.ndarray) -> float:
        return float(np.max(_unit64(against) @ _unit64(raw)))

    def _keep(self, idx: np.ndarray, unit: np.ndarray, raw: np.ndarray) -> None:
        k, m = len(self.kept_idx), len(idx)
        if k + m > len(self.kept):
            cap = min(self.budget, max(k + m, 2 * len(self.kept), 256))
            grown, grown_raw = (np.empty((cap, unit.shape[1]), np.float32) for _ in range(2))
            grown[:k], grown_raw[:k] = self.kept[:k], self.raw[:k]
            self.kept, self.raw = grown, grown_raw
        self.kept[k:k + m], self.raw[k:k + m] = unit, raw
        self.kept_idx.extend(int(i) for i in idx)

    def feed(self, idx: np.ndarray, rows: np.ndarray) -> None:
        """Decide the candidates ``idx`` (row numbers, in walk order) with raw embeddings ``rows``."""
        if self.full or not len(idx):
            return
        tau, n_kept = self.threshold, len(self.kept_idx)
        x = _unit32(rows)
        best = np.full(len(idx), -np.inf, dtype=np.float32)
        arg = np.full(len(idx), -1, dtype=np.int64)  # the most similar kept row (first of equals)
        for c0 in range(0, n_kept, self.chunk):  # similarity to every row kept before this block
            sims = x @ self.kept[c0:min(c0 + self.chunk, n_kept)].T
            a = sims.argmax(1)
            m = sims[np.arange(len(idx)), a]
            better = m > best
            best[better], arg[better] = m[better], a[better] + c0
        alive = best <= tau + EPS
        for j in np.flatnonzero(alive & (best > tau - EPS)):
            alive[j] = self._exact_max(rows[j], self.raw[:n_kept]) <= tau
        survivors = np.flatnonzero(alive)
        gram = x[survivors] @ x[survivors].T
        over = gram > tau + EPS  # certainly too similar
        near = gram > tau - EPS  # too close for float32: settled in float64
        blocked = np.zeros(len(survivors), dtype=bool)
        unsure = np.zeros(len(survivors), dtype=bool)
        local: list[int] = []  # positions in `survivors` kept, in order
        dropped: list[int] = []  # positions in `survivors` rejected by a row kept earlier in the block
        stop = len(idx)  # candidates from here on were never reached (the budget filled before them)
        for k in range(len(survivors)):
            if n_kept + len(local) >= self.budget:
                break
            if blocked[k] or (unsure[k] and self._exact_max(rows[survivors[k]], rows[survivors[local]]) > tau):
                dropped.append(k)
                continue
            local.append(k)
            blocked |= over[k]
            unsure |= near[k]
        if n_kept + len(local) >= self.budget:  # rows after the last pick were never reached: not "similar"
            stop = int(survivors[local[-1]]) + 1
        reached = np.arange(len(idx)) < stop
        # rejected before the block: the most similar kept row (float32 screen), as found by chunk
        pre = np.flatnonzero(~alive & reached)
        if len(pre):
            to, sim = np.asarray(self.kept_idx, dtype=np.int64)[arg[pre]], best[pre].astype(np.float64)
            if local:  # a row kept earlier in this block may be more similar still (ties: the earlier kept row)
                at = survivors[np.asarray(local, dtype=np.int64)]
                g = np.where(at[None, :] < pre[:, None], x[pre] @ x[at].T, -np.inf)
                t = g.argmax(1)
                m = g[np.arange(len(pre)), t]
                closer = m > sim
                to[closer], sim[closer] = idx[at[t[closer]]], m[closer]
            self.rejected.append(np.stack([idx[pre], to, sim]).T)
        # rejected within the block: the most similar row kept earlier in the block
        local_arr = np.asarray(local, dtype=np.int64)
        inside = np.asarray(dropped, dtype=np.int64)
        if len(inside):
            g = gram[np.ix_(inside, local_arr)] if len(local_arr) else np.zeros((len(inside), 0), np.float32)
            g = np.where(local_arr[None, :] < inside[:, None], g, -np.inf)  # only rows kept before it
            t = g.argmax(1)
            self.rejected.append(np.stack([idx[survivors[inside]], idx[survivors[local_arr[t]]],
                                           g[np.arange(len(inside)), t].astype(np.float64)]).T)
        self._keep(idx[survivors[local_arr]], x[survivors[local_arr]], rows[survivors[local_arr]])

    def selection(self, n: int) -> Selection:
        """The result over ``n`` rows (row numbers index into it)."""
        similar_to = np.full(n, -1, dtype=np.int64)
        similarity = np.full(n, np.nan)
        if self.rejected:
            r = np.concatenate(self.rejected)
            rows = r[:, 0].astype(np.int64)
            similar_to[rows], similarity[rows] = r[:, 1].astype(np.int64), r[:, 2]
        return Selection(np.asarray(self.kept_idx, dtype=np.int64), similar_to, similarity)


def greedy_select(embeddings: np.ndarray, order: np.ndarray, threshold: float, budget: int,
                  block: int = 1024, chunk: int = 16384) -> Selection:
    """Exactly ``greedy_reference``, computed with blocked matrix products (:class:`GreedyWalk`)."""
    walk = GreedyWalk(embeddings.shape[1], threshold, budget, chunk)
    for start in range(0, len(order), block):
        if walk.full:
            break
        cand = order[start:start + block]
        walk.feed(cand, embeddings[cand])
    return walk.selection(len(embeddings))


class SelectConfig(StageConfig):
    budget: int | None = Field(None, gt=0, description="rows to keep (None: every row that passes the diversity rule)")
    threshold: float = Field(0.9, ge=-1, le=1, description="τ: keep a row only if its cosine similarity to every "
                                                           "kept row is at most this")
    score_column: str = Field("score_total", description="column to rank by (highest first)")
    embedding_column: str = Field("embedding", description="column of embeddings (from the embed stage)")
    order: Literal["auto", "score", "diversity"] = Field(
        "auto", description="auto: by score unless only the offline heuristic or a chance-level fitted scorer "
                            "scored the rows (then diversity); "
                            "score: always by score; diversity: stable hash order of id")
    unranked: Literal["keep", "diversity"] = Field(
        "keep", description="when auto finds no quality signal and no budget is set: keep every row (a pick among "
                            "near-duplicates in hash order is a coin toss that can lower the good-row rate; "
                            "BENCHMARKS.md #32) or walk the diversity-only order anyway")
    label: str | None = Field(None, description="report the lift on this label: a column, metadata.<key>, "
                                                "feedback.thumb or feedback.rating")
    label_threshold: float | None = Field(None, description="a numeric label counts as positive at or above this")


class Select(Filter):
    name = "select"
    Config = SelectConfig
    whole_dataset = True
    reasons = {
        "similar_to_selected": "cosine similarity above threshold to an already selected row (duplicate_of)",
        "over_budget": "not reached: the budget was filled by rows earlier in the walk (higher-scored, or earlier "
                       "in the diversity-only hash order)",
        "unscored": "no score or no embedding",
    }

    def __init__(self, config=None, **fields):
        super().__init__(config, **fields)
        c = self.config
        label = labels.columns_for(c.label) if c.label else ()
        self.reads = tuple(dict.fromkeys(("id", c.score_column, c.embedding_column, *label)))
        self.optional_reads = ("scorer",)  # which scorer made the score decides the auto order
        self.facts: dict = {}

    def describe(self) -> dict:
        return self.facts

    def _order(self, batch: pl.DataFrame, scores: np.ndarray, has_emb: np.ndarray) -> np.ndarray:
        names = batch["scorer"].drop_nulls().unique().to_list() if "scorer" in batch.columns else []
        mode = self._mode(names)
        if mode == "diversity":
            return hash_order(batch["id"].to_list(), has_emb)
        return walk_order(scores)

    def _mode(self, names: list[str]) -> str:
        """score or diversity (``auto`` decided by which scorers scored the rows); records the fallback note."""
        c = self.config
        order = c.order
        if order == "auto":
            unranked = bool(names) and all(n == HEURISTIC_NAME or n.startswith(f"{CHANCE}:") for n in names)
            order = "diversity" if unranked else "score"
            if order == "diversity":
                which = (f"the offline heuristic ({HEURISTIC_NAME}), which does not predict quality on labelled data"
                         if names == [HEURISTIC_NAME] else
                         f"a fitted scorer no better than chance in cross-validation ({', '.join(sorted(names))})")
                note = (f"select: rows were scored only by {which}; keeping a diversity-only order (stable hash of "
                        "id). Fit a scorer (`sluice quality fit`) or set `order: score` to rank by this score")
                log.warning(note)
                self.facts["fallback"] = note
                self.facts.setdefault("notes", []).append(note.removeprefix("select: "))
        self.facts["order"] = order
        return order

    def _keep_all(self, walked: Selection, order: np.ndarray) -> Selection:
        """No score to choose between near-duplicates and no budget to meet: keep every row, say what the
        diversity walk would have cut."""
        cut = len(order) - len(walked.selected)
        note = (f"select: no quality signal ranks these rows, so which of two similar rows is better is unknown; kept "
                f"all {len(order):,} rows with an embedding instead of cutting {cut:,} near-duplicates (cosine > "
                f"{self.config.threshold}) at random, which cannot raise quality and can lower it. Set a budget, "
                "`unranked: diversity`, or fit a scorer (`sluice quality fit`) to thin them")
        log.warning(note)
        self.facts["unranked"] = {"kept_all": True, "diversity_walk_would_cut": int(cut)}
        self.facts.setdefault("notes", []).append(note.removeprefix("select: "))
        n = len(walked.similar_to)
        return Selection(np.asarray(order, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.full(n, np.nan))

    def _label(self, batch: pl.DataFrame) -> np.ndarray:
        c = self.config
        values = labels.binary(labels.label_values(batch, c.label), c.label_threshold)
        return values.cast(pl.Float64).fill_null(float("nan")).to_numpy()

    def _lift(self, values: np.ndarray, kept: np.ndarray) -> None:
        c = self.config
        report = labels.lift(kept, values)
        self.facts["lift"] = {"label": c.label, "threshold": c.label_threshold, **report}
        line = (f"label {c.label}: selected {report['labelled_selected']:,} rows at rate {report['selected_rate']:.3f} "
                f"vs input {report['input_rate']:.3f} → lift {report['lift']:.2f}×")
        log.warning("select: %s", line)
        self.facts.setdefault("notes", []).append(line)

    def _check(self, batch: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(scores with NaN where unscored or unembedded, has_emb) of a batch; one embedding length per batch."""
        c = self.config
        scores = batch[c.score_column].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        emb_col = batch[c.embedding_column]
        has_emb = emb_col.is_not_null().to_numpy()
        dims = emb_col.drop_nulls().list.len().unique() if emb_col.dtype != pl.Null and isinstance(
            emb_col.dtype, pl.List) else None
        if dims is not None and len(dims) > 1:
            self._dims_error(dims.to_list())
        return np.where(has_emb, scores, np.nan), has_emb

    def _dims_error(self, dims: list) -> None:
        raise DataError(f"select: embeddings in {self.config.embedding_column!r} have different lengths {dims}",
                        hint="embed every row with the same model")

    def _no_embeddings(self) -> None:
        raise DataError(f"select: column {self.config.embedding_column!r} is null in every row",
                        hint="run the embed stage before select")

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        n = batch.height
        self.facts = {}
        scores, has_emb = self._check(batch)
        if n and not has_emb.any():
            self._no_embeddings()
        emb = _matrix(batch[c.embedding_column], has_emb)
        order = self._order(batch, scores, has_emb)
        result = greedy_select(emb, order, c.threshold, c.budget or n)
        ids = batch["id"].to_numpy()
        return self._answer(result, order, scores, has_emb, ids, self._label(batch) if c.label else None)

    def _answer(self, result: Selection, order: np.ndarray, scores: np.ndarray, has_emb: np.ndarray,
                ids: np.ndarray, label: np.ndarray | None) -> pl.DataFrame:
        """reason / detail / duplicate_of per row from the walk (``ids`` only needs the kept rows' ids)."""
        c = self.config
        n = len(scores)
        fell_back = c.order == "auto" and self.facts["order"] == "diversity"  # no quality signal ranked the rows
        if fell_back and c.budget is None and c.unranked == "keep":
            result = self._keep_all(result, order)
        reason = np.full(n, "over_budget", dtype=object)
        reason[~(np.isfinite(scores) if self.facts["order"] == "score" else has_emb)] = "unscored"
        similar = result.similar_to >= 0
        reason[similar] = "similar_to_selected"
        reason[result.selected] = None
        if label is not None:
            kept = np.zeros(n, dtype=bool)
            kept[result.selected] = True
            self._lift(label, kept)
        dup = np.where(similar, ids[np.maximum(result.similar_to, 0)], None)
        detail = [f"cosine={s:.4f}" if ok else None for s, ok in zip(result.similarity, similar)]
        return pl.DataFrame({"reason": pl.Series(reason.tolist(), dtype=pl.String),
                             "detail": pl.Series(detail, dtype=pl.String),
                             "duplicate_of": pl.Series(dup.tolist(), dtype=pl.String)})

    # -- bounded form: per batch the walk keys and embeddings are spilled; combine walks score-sorted
    # partitions of them with one GreedyWalk (memory: the kept set + one partition, plus 8-byte keys per row)
    bounded = True

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        scores, has_emb = self._check(batch)
        keys = [int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "big")
                for i in batch["id"].to_list()]
        emb = batch[c.embedding_column]
        cols = {ROW: batch[ROW], "_id": batch["id"].cast(pl.String), "_s": pl.Series(scores, dtype=pl.Float64),
                "_h": pl.Series(keys, dtype=pl.UInt64), "_e": pl.Series(has_emb, dtype=pl.Boolean),
                "_d": emb.list.len() if isinstance(emb.dtype, pl.List) else pl.Series([_dim(emb)] * batch.height),
                "_v": emb.cast(pl.List(pl.Float32)) if isinstance(emb.dtype, (pl.List, pl.Array)) else emb,
                "_scorer": batch["scorer"] if "scorer" in batch.columns else pl.Series([None] * batch.height,
                                                                                       dtype=pl.String)}
        if c.label:
            cols["_y"] = pl.Series(self._label(batch), dtype=pl.Float64)
        return pl.DataFrame(cols)

    def combine(self, parts) -> pl.DataFrame:
        c = self.config
        self.facts = {}
        if not parts.files:
            return pl.DataFrame(schema={ROW: pl.Int64, "reason": pl.String, "detail": pl.String,
                                        "duplicate_of": pl.String})
        keys = parts.read([ROW, "_s", "_h", "_e", "_d"] + (["_y"] if c.label else [])).sort(ROW)
        n = keys.height
        rows = keys[ROW].to_numpy()
        scores, has_emb = keys["_s"].to_numpy(), keys["_e"].to_numpy()
        if n and not has_emb.any():
            self._no_embeddings()
        dims = keys["_d"].filter(keys["_e"]).unique().sort().to_list()
        if len(dims) > 1:
            self._dims_error(dims)
        mode = self._mode(parts.read(["_scorer"])["_scorer"].drop_nulls().unique().to_list())
        if mode == "diversity":
            eligible = np.flatnonzero(has_emb)
            order = eligible[np.argsort(keys["_h"].to_numpy()[eligible], kind="stable")]
        else:
            order = walk_order(scores)
        del keys
        walk = GreedyWalk(dims[0] if dims else 0, c.threshold, c.budget or n)
        step = max(1, parts.rows_per_partition)
        at = np.empty(n, dtype=np.int64)  # row position → its line in the partition read
        for lo in range(0, len(order), step):  # score-sorted partitions, one at a time
            if walk.full:
                break
            part = order[lo:lo + step]
            got = parts.read([ROW, "_v"], pl.col(ROW).is_in(pl.Series(rows[part]).implode()))
            pos = np.searchsorted(rows, got[ROW].to_numpy())
            emb = got["_v"].cast(pl.Array(pl.Float32, dims[0])).to_numpy()
            at[pos] = np.arange(len(pos))
            for b in range(0, len(part), 1024):
                block = part[b:b + 1024]
                walk.feed(block, emb[at[block]])
        result = walk.selection(n)
        wanted = np.unique(np.r_[result.selected, result.similar_to[result.similar_to >= 0]])
        ids = np.full(n, None, dtype=object)
        named = parts.read([ROW, "_id"], pl.col(ROW).is_in(pl.Series(rows[wanted]).implode()))
        ids[np.searchsorted(rows, named[ROW].to_numpy())] = named["_id"].to_numpy()
        label = parts.read([ROW, "_y"]).sort(ROW)["_y"].to_numpy() if c.label else None
        answer = self._answer(result, order, scores, has_emb, ids, label)
        return answer.with_columns(pl.Series(ROW, rows)).filter(pl.col("reason").is_not_null())

def _matrix(col: pl.Series, present: np.ndarray) -> np.ndarray:
    """The embedding column as an (n, d) float32 matrix; rows without one are zeros (never walked)."""
    dense = col.cast(pl.Array(pl.Float32, _dim(col))) if isinstance(col.dtype, pl.List) else col
    out = np.array(dense.to_numpy(), dtype=np.float32)  # a writable copy
    if out.ndim != 2:  # nulls make polars return an object array
        d = _dim(col)
        out = np.stack([np.zeros(d, np.float32) if v is None else np.asarray(v, np.float32) for v in dense.to_list()])
    out[~present] = 0
    return out


def _dim(col: pl.Series) -> int:
    if isinstance(col.dtype, pl.Array):
        return col.dtype.size
    first = col.drop_nulls()
    return len(first[0]) if len(first) else 0
