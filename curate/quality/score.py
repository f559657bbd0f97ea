"""quality_score — a quality score per conversation: DEITA, a learned scorer, or the offline heuristic.

Reads ``messages`` (and ``embedding`` when a learned scorer can reuse it); adds
  ``score_complexity`` (list<f64>, one per user turn, 1..6; null for a learned scorer),
  ``score_quality`` (list<f64>, 1..6; null for a learned scorer),
  ``score_total`` (the score ``select`` ranks by: the *mean* over user turns of complexity ×
  quality — DEITA's evol score per turn, so a two-turn chat does not score double — or the
  learned scorer's P(label) / predicted rating),
  ``scorer`` (``deita-transformers``, ``deita-openai``, ``learned:<name>`` or ``heuristic-v1``;
  ``learned-chance:<name>`` for a fitted scorer whose cross-validated interval includes chance,
  which ``select``'s auto order then does not rank by).
Drops nothing. A turn the endpoint cannot score (no score token among the returned logprobs) is
null, and so is that row's ``score_total``; ``select`` rejects it as ``unscored``.

Multi-turn as the DEITA reference scores ShareGPT chats: each user message with the assistant
text that answers it (empty if none) is one (instruction, response) pair.

``scorer``: ``auto`` (the default) resolves when the config is built — ``deita`` when both
``complexity_model`` and ``quality_model`` are set, else ``heuristic`` — and the resolved value
is what the manifest records; or a folder written by ``sluice quality fit`` (a learned scorer,
see ``learned.py``), whose identity and cross-validated metrics go to the manifest and data
card. A learned scorer refuses to run when its embedding model loads with another identity
(weights, dimension) than the one it was fitted with; it reuses the ``embedding`` column only when
the column is what it would compute itself (checked on the first rows), and embeds the rows
itself otherwise (counted: ``embedding_column_reused`` / ``embedded_by_scorer``). The heuristic scorer is a weaker
offline stand-in (see ``deita.heuristic_quality``), never labeled DEITA, announced with a
warning, and ``select`` does not rank by it unless asked (``order: score``).

    - stage: quality_score              # DEITA with the released scorers, on GPU when present
      complexity_model: hkust-nlp/deita-complexity-scorer
      quality_model: hkust-nlp/deita-quality-scorer
    - stage: quality_score              # the same models served by vLLM (one server per model)
      endpoint: http://127.0.0.1:8001/v1
      quality_model: hkust-nlp/deita-quality-scorer
      complexity_endpoint: http://127.0.0.1:8002/v1
      complexity_model: hkust-nlp/deita-complexity-scorer
    - stage: quality_score              # a scorer fitted on your own labels (sluice quality fit)
      scorer: scorers/helpful
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from sluice.errors import RecipeError
from sluice.privacy import is_remote
from sluice.recipe import resolve_path
from sluice.stage import Requirement, Resources, Scorer, StageConfig

from . import deita
from .embed import SIGNATURE_DIMS
from .text import turns

log = logging.getLogger(__name__)
NAMES = ("auto", "deita", "heuristic")
CHANCE = "learned-chance"  # a learned scorer whose cross-validated interval includes chance: select does not rank by it
MATCH = 0.99  # mean cosine between the embedding column and the scorer's own embedding of the same rows


class QualityScoreConfig(StageConfig):
    scorer: str = Field("auto", description="auto: deita when both models are set, else the offline heuristic "
                                            "(recorded resolved); deita; heuristic; or a folder from `sluice quality fit`")
    complexity_model: str | None = Field(None, description="DEITA complexity scorer: hub id or local path "
                                                           "(with endpoint: the model name served there)")
    quality_model: str | None = Field(None, description="DEITA quality scorer: hub id or local path "
                                                        "(with endpoint: the model name served there)")
    endpoint: str | None = Field(None, description="OpenAI-compatible base URL returning logprobs, e.g. "
                                                   "http://127.0.0.1:8000/v1 (vLLM); unset: run models locally")
    complexity_endpoint: str | None = Field(None, description="URL serving complexity_model when it is not endpoint "
                                                              "(vLLM serves one model per server)")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's API key")
    allow_remote: bool = Field(False, description="allow a non-loopback endpoint (conversations leave the machine: "
                                                  "only for redacted data)")
    batch_size: int = Field(8, gt=0, description="prompts per forward pass or request")
    top_logprobs: int = Field(20, gt=0, description="logprobs asked of the endpoint per prompt (vLLM allows 20 by "
                                                    "default); score tokens outside them count as probability 0")
    max_length: int = Field(2048, gt=16, description="tokens per prompt (longer prompts keep their end)")
    max_turns: int = Field(16, gt=0, description="user turns scored per conversation (the first ones)")
    device: str | None = Field(None, description="torch device for local models (default: cuda when present)")

    @model_validator(mode="after")
    def _resolve(self):
        models = self.complexity_model and self.quality_model
        if self.scorer not in NAMES:  # a scorer folder: relative to the recipe file's folder
            object.__setattr__(self, "scorer", str(resolve_path(self.scorer)))
        if self.scorer == "auto":
            object.__setattr__(self, "scorer", "deita" if models else "heuristic")
        if self.scorer == "deita" and not models:
            raise ValueError("scorer: deita needs complexity_model and quality_model (hub ids, local paths, "
                             "or model names at endpoint); or use scorer: heuristic offline")
        for url in (self.endpoint, self.complexity_endpoint):
            if url and not self.allow_remote and is_remote(url):
                raise ValueError(f"endpoint {url!r} is not on this machine; set allow_remote: true only for "
                                 "redacted data")
        return self


def _figure(m: dict) -> str:
    if "auroc_ci95" in m:
        return f"AUROC {m['auroc']:.3f}, 95% CI {m['auroc_ci95'][0]:.3f}–{m['auroc_ci95'][1]:.3f}"
    if "cv_ci95" in m:
        return f"pairwise accuracy {m['cv_accuracy']:.3f}, 95% CI {m['cv_ci95'][0]:.3f}–{m['cv_ci95'][1]:.3f}"
    return "no interval recorded"


class QualityScore(Scorer):
    name = "quality_score"
    Config = QualityScoreConfig
    reads = ("messages",)
    optional_reads = ("embedding",)  # reused by a learned scorer when it was made the scorer's way
    adds = ("score_complexity", "score_quality", "score_total", "scorer")
    requires = (Requirement("transformers", "quality"), Requirement("openai", "quality"),
                Requirement("sklearn", "quality"))
    # local scorer models or an endpoint: one CPU each; GPUs and `max_workers` come from the recipe's `resources:`
    resources = Resources(cpus=1)
    version = 2  # score_total is the mean over turns (v1 summed them)

    @property
    def learned(self) -> bool:
        return self.config.scorer not in NAMES

    def remote_endpoints(self) -> list[str]:
        c = self.config
        return [] if self.learned else [u for u in dict.fromkeys((c.endpoint, c.complexity_endpoint)) if u]

    def fingerprint(self, upstream: str) -> str:
        if not self.learned:
            return super().fingerprint(upstream)
        self._learned()  # a clear error for a missing or foreign folder, before any work
        digest = hashlib.sha256()  # a refitted scorer in the same folder is a different stage
        for f in ("scorer.json", "head.npz"):
            digest.update((Path(self.config.scorer) / f).read_bytes())
        return super().fingerprint(f"{upstream}|scorer={digest.hexdigest()[:16]}")

    @property
    def scorer_name(self) -> str:
        if self.learned:
            scorer = self._learned()
            return f"{'learned' if scorer.better_than_chance else CHANCE}:{scorer.name}"
        if self.config.scorer == "heuristic":
            return deita.HEURISTIC_NAME
        return "deita-openai" if self.config.endpoint else "deita-transformers"

    def _learned(self):
        if getattr(self, "_scorer", None) is None:
            from .learned import LearnedScorer

            self._scorer = LearnedScorer.load(self.config.scorer)
        return self._scorer

    def describe(self) -> dict:
        if self.learned:
            return {"learned_scorer": self._learned().identity()}
        if self.config.scorer == "heuristic":
            return {"scorer": deita.HEURISTIC_NAME,
                    "fallback": f"{deita.HEURISTIC_NAME}: offline heuristic quality score (no scorer model, nothing learned); "
                                "select keeps a diversity-only order unless told `order: score`"}
        return {"scorer": self.scorer_name, "complexity_model": self.config.complexity_model,
                "quality_model": self.config.quality_model}

    def setup(self) -> None:
        c = self.config
        if self.learned:
            self._setup_learned()
            return
        if c.scorer == "heuristic":
            log.warning("quality_score: no DEITA scorer models configured; using the offline heuristic scorer "
                        "(%s), which is weaker and is not DEITA", deita.HEURISTIC_NAME)
            self.backends = None
            return
        if c.endpoint:
            self.backends = tuple(deita.OpenAIBackend(url, m, api_key_env=c.api_key_env, batch_size=c.batch_size,
                                                      top_logprobs=c.top_logprobs)
                                  for url, m in ((c.complexity_endpoint or c.endpoint, c.complexity_model),
                                                 (c.endpoint, c.quality_model)))
        else:
            self.backends = tuple(deita.TransformersBackend(m, batch_size=c.batch_size, max_length=c.max_length,
                                                            device=c.device)
                                  for m in (c.complexity_model, c.quality_model))

    def _setup_learned(self) -> None:
        from .learned import load_embedder, model_identity, same_model

        scorer = self._learned()
        if not scorer.better_than_chance:
            log.warning("quality_score: scorer %r is no better than chance in cross-validation (%s); its rows are "
                        "marked %s and select's auto order does not rank by it", scorer.name,
                        _figure(scorer.metrics), CHANCE)
        spec = scorer.embedding
        self.model = load_embedder(spec, self.config.device)
        ran = model_identity(spec.model, self.model)
        if spec.identity and not same_model(spec.identity, ran):
            raise RecipeError(f"quality_score: scorer {scorer.name!r} was fitted on embeddings of {spec.identity}, "
                              f"but {spec.model!r} loads as {ran}",
                              hint="install the embedding model the scorer was fitted with, or refit the scorer "
                                   "(`sluice quality fit`) on embeddings of this model")
        self.column_ok: bool | None = None
        self.backends = None

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "backends"):
            self.setup()
        if self.learned:
            return self._score_learned(batch)
        pairs = [turns(m)[:self.config.max_turns] for m in batch["messages"].to_list()]
        flat = [p for conv in pairs for p in conv]
        if self.backends is None:
            cx = [deita.heuristic_complexity(q) for q, _ in flat]
            qu = [deita.heuristic_quality(q, a) for q, a in flat]
        else:
            cx = self.backends[0].score([deita.complexity_prompt(q) for q, _ in flat])
            qu = self.backends[1].score([deita.quality_prompt(q, a) for q, a in flat])
        complexity, quality, total, at = [], [], [], 0
        for conv in pairs:
            c, q = cx[at:at + len(conv)], qu[at:at + len(conv)]
            at += len(conv)
            complexity.append(c)
            quality.append(q)
            ok = conv and all(x is not None for x in c + q)
            total.append(sum(a * b for a, b in zip(c, q)) / len(conv) if ok else None)
        if at != len(cx):
            raise RecipeError("quality_score: scorer returned the wrong number of scores")
        return self._frame(complexity, quality, total)

    def _score_learned(self, batch: pl.DataFrame) -> pl.DataFrame:
        from .learned import embed, features, texts

        scorer, messages = self._learned(), batch["messages"].to_list()
        spec = scorer.embedding
        conv = None
        if "embedding" in batch.columns and batch["embedding"].null_count() == 0 and batch.height:
            column = np.asarray(batch["embedding"].to_list(), dtype=np.float32)
            if column.ndim == 2 and column.shape[1] > SIGNATURE_DIMS and not np.any(column[:, -SIGNATURE_DIMS:]):
                column = column[:, :-SIGNATURE_DIMS]  # embed's agent-signature block, empty here: the model's vectors
            if self.column_ok is None:  # reuse the column only if it is what this scorer computes itself
                k = min(8, batch.height)
                own = embed(self.model, spec, texts(messages[:k], spec.text))
                agree = float(np.mean(np.sum(own * column[:k], axis=1))) if own.shape == column[:k].shape else -1.0
                self.column_ok = agree >= MATCH
                if not self.column_ok:
                    log.warning("quality_score: the embedding column was not made the way scorer %r expects (model "
                                "%s, text %s); the scorer embeds the rows itself", scorer.name, spec.model, spec.text)
            conv = column if self.column_ok else None
        self.count("embedding_column_reused" if conv is not None else "embedded_by_scorer", batch.height)
        if conv is None:
            conv = embed(self.model, spec, texts(messages, spec.text))
        total = scorer.score(features(messages, conv, self.model, spec)).tolist() if batch.height else []
        return self._frame([None] * batch.height, [None] * batch.height, total)

    def _frame(self, complexity: list, quality: list, total: list) -> pl.DataFrame:
        return pl.DataFrame({
            "score_complexity": pl.Series(complexity, dtype=pl.List(pl.Float64)),
            "score_quality": pl.Series(quality, dtype=pl.List(pl.Float64)),
            "score_total": pl.Series(total, dtype=pl.Float64),
            "scorer": pl.Series([self.scorer_name] * len(total), dtype=pl.String),
        })
