"""quality_score — complexity × quality per user turn: DEITA scorers, or the offline heuristic.

Reads ``messages``; adds
  ``score_complexity`` (list<f64>, one per user turn, 1..6), ``score_quality`` (list<f64>, 1..6),
  ``score_total`` (Σ over turns of complexity × quality — DEITA's evol score when DEITA ran),
  ``scorer`` (which scorer produced the row: ``deita-transformers``, ``deita-openai`` or
  ``heuristic-v1``). Drops nothing. A turn the endpoint cannot score (no score token among the
  returned logprobs) is null, and so is that row's ``score_total``; ``select`` rejects it as
  ``unscored``.

Multi-turn as the DEITA reference scores ShareGPT chats: each user message with the assistant
text that answers it (empty if none) is one (instruction, response) pair.

``scorer: auto`` (the default) resolves when the config is built: ``deita`` when both
``complexity_model`` and ``quality_model`` are set, else ``heuristic`` — and the resolved value
is what the manifest records. The heuristic scorer is a weaker offline stand-in (see
``deita.heuristic_quality``), never labeled DEITA, and announced with a warning when it runs.

    - stage: quality_score              # DEITA with the released scorers, on GPU when present
      complexity_model: hkust-nlp/deita-complexity-scorer
      quality_model: hkust-nlp/deita-quality-scorer
    - stage: quality_score              # the same models served by vLLM
      endpoint: http://127.0.0.1:8000/v1
      complexity_model: deita-complexity-scorer
      quality_model: deita-quality-scorer
"""

from __future__ import annotations

import logging
import os
from typing import Literal
from urllib.parse import urlparse

import polars as pl
from pydantic import Field, model_validator

from sluice.errors import RecipeError
from sluice.stage import Requirement, Scorer, StageConfig

from . import deita
from .text import turns

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class QualityScoreConfig(StageConfig):
    scorer: Literal["auto", "deita", "heuristic"] = Field(
        "auto", description="auto: deita when both models are set, else the offline heuristic (recorded resolved)")
    complexity_model: str | None = Field(None, description="DEITA complexity scorer: hub id or local path "
                                                           "(with endpoint: the model name served there)")
    quality_model: str | None = Field(None, description="DEITA quality scorer: hub id or local path "
                                                        "(with endpoint: the model name served there)")
    endpoint: str | None = Field(None, description="OpenAI-compatible base URL returning logprobs, e.g. "
                                                   "http://127.0.0.1:8000/v1 (vLLM); unset: run models locally")
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
        if self.scorer == "auto":
            object.__setattr__(self, "scorer", "deita" if models else "heuristic")
        if self.scorer == "deita" and not models:
            raise ValueError("scorer: deita needs complexity_model and quality_model (hub ids, local paths, "
                             "or model names at endpoint); or use scorer: heuristic offline")
        if self.endpoint and not self.allow_remote and urlparse(self.endpoint).hostname not in LOOPBACK:
            raise ValueError(f"endpoint {urlparse(self.endpoint).hostname!r} is not on this machine; set "
                             "allow_remote: true only for redacted data")
        return self


class QualityScore(Scorer):
    name = "quality_score"
    Config = QualityScoreConfig
    reads = ("messages",)
    adds = ("score_complexity", "score_quality", "score_total", "scorer")
    requires = (Requirement("transformers", "quality"), Requirement("openai", "quality"))
    version = 1

    def remote_endpoints(self) -> list[str]:
        return [self.config.endpoint] if self.config.endpoint else []

    @property
    def scorer_name(self) -> str:
        if self.config.scorer == "heuristic":
            return deita.HEURISTIC_NAME
        return "deita-openai" if self.config.endpoint else "deita-transformers"

    def setup(self) -> None:
        c = self.config
        if c.scorer == "heuristic":
            log.warning("quality_score: no DEITA scorer models configured; using the offline heuristic scorer "
                        "(%s), which is weaker and is not DEITA", deita.HEURISTIC_NAME)
            self.backends = None
            return
        if c.endpoint:
            key = os.environ.get(c.api_key_env)
            self.backends = tuple(deita.OpenAIBackend(c.endpoint, m, api_key=key, batch_size=c.batch_size,
                                                      top_logprobs=c.top_logprobs)
                                  for m in (c.complexity_model, c.quality_model))
        else:
            self.backends = tuple(deita.TransformersBackend(m, batch_size=c.batch_size, max_length=c.max_length,
                                                            device=c.device)
                                  for m in (c.complexity_model, c.quality_model))

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "backends"):
            self.setup()
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
            total.append(sum(a * b for a, b in zip(c, q)) if ok else None)
        if at != len(cx):
            raise RecipeError("quality_score: scorer returned the wrong number of scores")
        return pl.DataFrame({
            "score_complexity": pl.Series(complexity, dtype=pl.List(pl.Float64)),
            "score_quality": pl.Series(quality, dtype=pl.List(pl.Float64)),
            "score_total": pl.Series(total, dtype=pl.Float64),
            "scorer": pl.Series([self.scorer_name] * batch.height, dtype=pl.String),
        })
