"""quality_judge — an LLM judge's rating of a sample of conversations, to fit a scorer on.

Judge a sample well (a GPU-backed judge on a few thousand rows), fit a small scorer on those
verdicts (``sluice quality fit judged@vN --label judge_score --threshold 4``), and apply the
scorer to every row on CPU (``quality_score scorer: DIR``). See examples/quality_judge.yaml.

Reads ``messages``; adds ``judge_score`` (f64: the rating of the first ``max_turns`` user turns
and their answers, averaged; null for rows outside the sample and for verdicts that could not be
read) and ``judge`` (what judged: ``ultrafeedback-<aspect>:<model>`` or ``deita-quality:<model>``;
null outside the sample). Drops nothing; counters record judged / unparseable / failed rows.

Two judges:
  * ``llm`` — any chat model (``sluice.synth.llm.LLMSpec``: an OpenAI-compatible endpoint such
    as vLLM or ``transformers serve``, or a local transformers model) with the UltraFeedback
    rubric of ``aspect`` (helpfulness by default; distilabel's UltraFeedback task through
    ``synth.tasks``), rating 1–5, parsed by ``synth.judge.read_ratings``;
  * ``deita_model`` — the DEITA quality scorer by path or hub id (or the model name served at
    ``endpoint``), 1–6, the logprob-weighted score of ``deita.py``.

The sample is the rows whose ``id`` hashes below ``sample_rate`` — stable, so a rerun judges the
same rows. A judge that is not on this machine needs ``allow_remote`` and redacted data (the
runner enforces it from the manifest).

    - stage: quality_judge
      sample_rate: 0.05
      llm: {backend: openai, model: Qwen/Qwen2.5-7B-Instruct, base_url: http://127.0.0.1:8000/v1}
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from sluice.privacy import is_remote
from sluice.stage import Requirement, Resources, Scorer, StageConfig

from . import deita
from .text import turns


def in_sample(row_id: str, rate: float) -> bool:
    if rate >= 1:
        return True
    h = int.from_bytes(hashlib.blake2b(f"judge:{row_id}".encode(), digest_size=8).digest(), "big")
    return h / 2**64 < rate


class QualityJudgeConfig(StageConfig):
    llm: dict[str, Any] | None = Field(None, description="chat judge: an LLMSpec (backend, model, base_url, "
                                                         "generation, …) as for `sluice synth --llm`")
    aspect: Literal["helpfulness", "overall-rating", "honesty", "instruction-following", "truthfulness"] = Field(
        "helpfulness", description="UltraFeedback rubric the chat judge applies (1–5)")
    deita_model: str | None = Field(None, description="DEITA quality scorer (1–6): local path or hub id, or the model "
                                                      "name served at endpoint")
    endpoint: str | None = Field(None, description="OpenAI-compatible /v1 URL serving deita_model with logprobs")
    allow_remote: bool = Field(False, description="allow a judge that is not on this machine (redacted data only)")
    sample_rate: float = Field(1.0, gt=0, le=1, description="share of rows judged (stable hash of id)")
    max_turns: int = Field(1, gt=0, description="user turns judged per conversation (the first ones), averaged")
    device: str | None = Field(None, description="torch device for a local DEITA model")

    @model_validator(mode="after")
    def _one_judge(self):
        if (self.llm is None) == (self.deita_model is None):
            raise ValueError("give exactly one judge: llm (a chat model) or deita_model (the DEITA quality scorer)")
        if self.llm is not None:
            from sluice.synth.llm import LLMSpec

            LLMSpec.model_validate(self.llm)
        url = self.endpoint or (self.llm or {}).get("base_url")
        if url and is_remote(url) and not self.allow_remote:
            raise ValueError(f"judge endpoint {url!r} is not on this machine; set allow_remote: true only for "
                             "redacted data")
        return self


class QualityJudge(Scorer):
    name = "quality_judge"
    Config = QualityJudgeConfig
    reads = ("id", "messages")
    adds = ("judge_score", "judge")
    requires = (Requirement("openai", "quality"), Requirement("transformers", "quality"))
    # a local DEITA model or calls to an endpoint: one CPU each; `resources: {gpus: 1}` for a local model on a
    # GPU node, `max_workers` to bound the requests in flight to an endpoint (set in the recipe)
    resources = Resources(cpus=1)

    def remote_endpoints(self) -> list[str]:
        url = self.config.endpoint or (self.config.llm or {}).get("base_url")
        return [url] if url else []

    @property
    def judge_name(self) -> str:
        c = self.config
        return f"deita-quality:{c.deita_model}" if c.deita_model else f"ultrafeedback-{c.aspect}:{c.llm['model']}"

    def describe(self) -> dict:
        return {"judge": self.judge_name, "sample_rate": self.config.sample_rate}

    def setup(self) -> None:
        c = self.config
        if c.deita_model:
            self.backend = (deita.OpenAIBackend(c.endpoint, c.deita_model) if c.endpoint
                            else deita.TransformersBackend(c.deita_model, device=c.device))
        else:
            from sluice.synth.llm import LLMSpec, build_backend

            self.backend = build_backend(LLMSpec.model_validate(c.llm))

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "backend"):
            self.setup()
        c = self.config
        picked = [i for i, rid in enumerate(batch["id"].to_list()) if in_sample(rid, c.sample_rate)]
        messages = batch["messages"].to_list()
        pairs = {i: turns(messages[i])[:c.max_turns] for i in picked}
        pairs = {i: p for i, p in pairs.items() if p}
        flat = [(i, q, a) for i, p in pairs.items() for q, a in p]
        ratings = self._deita(flat) if c.deita_model else asyncio.run(self._chat(flat))
        per_row: dict[int, list[float | None]] = {}
        for (i, _, _), r in zip(flat, ratings):
            per_row.setdefault(i, []).append(r)
        scores: list[float | None] = [None] * batch.height
        judges: list[str | None] = [None] * batch.height
        for i, rs in per_row.items():
            judges[i] = self.judge_name
            if all(r is not None for r in rs):
                scores[i] = sum(rs) / len(rs)
                self.count("judged")
        return pl.DataFrame({"judge_score": pl.Series(scores, dtype=pl.Float64),
                             "judge": pl.Series(judges, dtype=pl.String)})

    def _deita(self, flat: list[tuple[int, str, str]]) -> list[float | None]:
        out = self.backend.score([deita.quality_prompt(q, a) for _, q, a in flat]) if flat else []
        self.count("unparseable", sum(r is None for r in out))
        return out

    async def _chat(self, flat: list[tuple[int, str, str]]) -> list[float | None]:
        from sluice.synth import tasks
        from sluice.synth.judge import JudgeParseError, read_ratings
        from sluice.synth.llm import GenerationFailed

        task = tasks.make("UltraFeedback", self.backend.model_name, aspect=self.config.aspect)

        async def one(q: str, a: str) -> float | None:
            inp = {"instruction": q, "generations": [a]}
            try:
                reply = await self.backend.chat(task.format_input(inp))
                return read_ratings(task, reply, inp)[0]
            except JudgeParseError as e:
                self.count(e.reason)
            except GenerationFailed as e:
                self.count(e.reason)
            return None

        return list(await asyncio.gather(*(one(q, a) for _, q, a in flat)))
