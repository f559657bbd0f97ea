"""The project's one LLM client module: every call to a language model — synthesis, the quality
judge (``curate/quality/judge.py``), the DEITA scorers' endpoint (``curate/quality/deita.py``), the
eval gate's judge (``train/gate.py``) — goes through it, with one key rule (``endpoint_key``) and
one retry rule (``_after_failure``: ``_fatal`` stops the run, ``_transient`` is retried).

Chat generation goes through distilabel's LLM backends, behind one small async interface.

A backend is described by an ``LLMSpec`` (one entry of the ``--llm`` YAML) and built with
``build_backend``. Three kinds:

- ``openai``: any OpenAI-compatible endpoint (vLLM, Ollama, TGI, ``transformers serve``, OpenAI)
  through distilabel's ``OpenAILLM``. ``base_url`` is required (never a silent default). The API
  key comes from the environment variable named by ``api_key_env`` or from the file named by
  ``api_key_file`` — never from code; a remote endpoint without one is refused, a loopback one is
  sent the placeholder ``NO_KEY`` (the client library insists on some key). Requests run concurrently, at most ``max_concurrency`` in flight;
  transient failures (connection errors, timeouts, 408/409/429/5xx) are retried ``max_retries``
  times with exponential backoff and jitter.
- ``transformers``: a local model by path or hub id through distilabel's ``TransformersLLM``.
- ``vllm``: vLLM in this process through distilabel's ``vLLM`` — only with vLLM installed and a
  GPU present; otherwise a clear error before any work starts.

``CompletionClient`` asks an OpenAI-compatible ``/v1/completions`` endpoint for next-token logprobs
(synchronously, batched per request), under the same key and retry rules.

Local engines batch: requests issued while the engine is busy queue up and go to the next
``LLM.generate`` call together (up to ``batch_size`` chat prompts per call, grouped by
generation parameters), so a recipe written one item at a time still fills the engine.
Whether a request leaves the machine is decided by the one loopback rule,
``sluice.privacy.is_remote``.

.. code-block:: yaml

    llm:
      backend: openai
      model: meta-llama/Llama-3.1-8B-Instruct
      base_url: http://127.0.0.1:8000/v1
      api_key_env: OPENAI_API_KEY
      max_concurrency: 8
      generation: {max_new_tokens: 256, temperature: 0.7}
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sluice.errors import MissingDependency, SluiceError


class LLMSpec(BaseModel):
    """One model: where it runs and how it is called."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["openai", "transformers", "vllm"] = Field(
        "openai", description="openai (any OpenAI-compatible endpoint), transformers (local) or vllm (local GPU)")
    model: str = Field(..., description="model id sent to the endpoint, or a local path / hub id")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    api_key_file: Path | None = Field(None, description="file holding the API key (used when the variable is unset)")
    max_concurrency: int = Field(8, ge=1, description="requests in flight at once (openai backend)")
    batch_size: int = Field(16, ge=1, description="chat prompts per generate call (transformers and vllm)")
    max_retries: int = Field(3, ge=0, description="retries of a transient failure, with exponential backoff")
    backoff_s: float = Field(0.5, ge=0, description="first backoff delay; doubles per retry, with jitter")
    timeout_s: float = Field(120, gt=0, description="seconds to wait for one response")
    generation: dict[str, Any] = Field(default_factory=dict,
                                       description="generation parameters (max_new_tokens, temperature, top_p, …)")
    device: str | None = Field(None, description="transformers/vllm: device, e.g. cpu or cuda")

    @model_validator(mode="after")
    def _check(self):
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend openai needs base_url (e.g. http://127.0.0.1:8000/v1); "
                             "sluice never falls back to a default public endpoint")
        return self

    @property
    def host(self) -> str | None:
        return urlparse(self.base_url).hostname if self.base_url else None

    @property
    def remote(self) -> bool:
        """True when requests leave this machine (the project's one loopback rule decides)."""
        from sluice.privacy import is_remote

        return self.backend == "openai" and is_remote(self.base_url or "")

    @property
    def in_flight(self) -> int:
        """How many requests callers should keep outstanding to keep this backend busy."""
        return self.max_concurrency if self.backend == "openai" else self.batch_size

    def api_key(self) -> str | None:
        """The key from the environment or the key file; None when neither holds one."""
        key = os.environ.get(self.api_key_env)
        if not key and self.api_key_file is not None:
            path = Path(self.api_key_file).expanduser()
            if not path.is_file():
                raise SluiceError(f"api_key_file {path} does not exist", hint="point api_key_file at a file "
                                  "holding only the key, or export the variable named by api_key_env")
            key = path.read_text().strip()
        return key or None

    def identity(self) -> dict[str, Any]:
        """What determines the outputs (for fingerprints and manifests) — no secrets, no resource knobs."""
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url,
                "generation": dict(sorted(self.generation.items()))}


# What the OpenAI client sends to a *loopback* server when no key is configured (the client refuses
# an empty one). It is not a credential: a remote endpoint without a configured key is refused.
NO_KEY = "no-key-configured"


class GenerationFailed(Exception):
    """One generation could not be obtained; the row is kept out of the output with ``reason``."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def describe(e: BaseException) -> str:
    """``Type: first line of the message`` (bounded), so a failure names its real cause."""
    text = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@dataclass
class Usage:
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    batches: int = 0  # generate calls of a local engine (each carries up to batch_size requests)
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_reported: bool = False

    def as_dict(self) -> dict[str, Any]:
        d = {"calls": self.calls, "failed_calls": self.failed_calls, "retries": self.retries}
        if self.batches:
            d["batches"] = self.batches
        if self.tokens_reported:
            d.update(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        return d


@dataclass
class Backend:
    """A loaded distilabel LLM: bounded concurrency and retries (openai) or batching (local)."""

    spec: LLMSpec
    llm: Any
    usage: Usage = field(default_factory=Usage)
    _sem: asyncio.Semaphore | None = None
    _batcher: _Batcher | None = None
    _loop: Any = None

    @property
    def model_name(self) -> str:
        return self.spec.model

    async def chat(self, messages: list[dict[str, str]], **overrides: Any) -> str:
        """One reply to ``messages``; raises GenerationFailed after the retries are spent."""
        params = {**self.spec.generation, **overrides}
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new run: fresh semaphore / batcher, a client bound to this loop
            if self._loop is not None and self.spec.backend == "openai":
                self.llm.load()
            self._loop = loop
            self._sem = asyncio.Semaphore(self.spec.max_concurrency)
            self._batcher = _Batcher(self._generate_batch, self.spec.batch_size)
        self.usage.calls += 1
        if self.spec.backend == "openai":
            out = await self._remote(messages, params)
        else:
            out = await self._batcher.submit(messages, params)
        if isinstance(out, GenerationFailed):
            self.usage.failed_calls += 1
            raise out
        self._count(out)
        text = (out.get("generations") or [None])[0]
        if text is None or not str(text).strip():
            raise GenerationFailed("empty_generation", "the model returned no text")
        return str(text)

    async def _remote(self, messages, params) -> dict[str, Any] | GenerationFailed:
        attempt = 0
        while True:
            try:
                async with self._sem:
                    return await self.llm.agenerate(input=messages, num_generations=1, **params)
            except Exception as e:  # noqa: BLE001 — classified below, never swallowed silently
                attempt, delay = _after_failure(e, attempt, self.spec, self.usage)
                if isinstance(delay, GenerationFailed):
                    return delay
                await asyncio.sleep(delay)

    def _generate_batch(self, batch: list[list[dict]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """One ``LLM.generate`` call for a whole batch (runs in a worker thread)."""
        self.usage.batches += 1
        if self.spec.backend == "transformers" and params.get("temperature") == 0:
            # temperature 0 means greedy, as on every server; transformers' sampler rejects it
            params = {**{k: v for k, v in params.items() if k != "temperature"}, "do_sample": False}
        return self.llm.generate(inputs=batch, num_generations=1, **params)

    def _count(self, out: dict[str, Any]) -> None:
        stats = out.get("statistics") or {}
        if "input_tokens" in stats or "output_tokens" in stats:
            self.usage.tokens_reported = True
            self.usage.input_tokens += sum(t or 0 for t in stats.get("input_tokens") or [])
            self.usage.output_tokens += sum(t or 0 for t in stats.get("output_tokens") or [])

    def close(self) -> None:
        try:
            self.llm.unload()
        except Exception:  # noqa: BLE001 — unloading is best effort
            pass


class _Batcher:
    """Collects concurrent requests and sends them to a local engine in batches.

    One drain task runs at a time: it waits until the callers that are ready have queued their
    requests (the queue stops growing, or a batch is full), takes up to ``size`` requests with the
    same generation parameters, and runs them as one generate call in a worker thread — during
    which the next batch accumulates.
    """

    def __init__(self, run_batch, size: int):
        self.run_batch, self.size = run_batch, size
        self.pending: list[tuple[list[dict], dict, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def submit(self, messages: list[dict], params: dict[str, Any]) -> dict[str, Any] | GenerationFailed:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((messages, params, fut))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self.pending:
            seen = -1
            while seen != len(self.pending) and len(self.pending) < self.size:
                seen = len(self.pending)
                await asyncio.sleep(0)
            key = json.dumps(self.pending[0][1], sort_keys=True, default=str)
            batch = [p for p in self.pending if json.dumps(p[1], sort_keys=True, default=str) == key][: self.size]
            taken = {id(p) for p in batch}
            self.pending = [p for p in self.pending if id(p) not in taken]
            try:
                outs = await asyncio.to_thread(self.run_batch, [p[0] for p in batch], batch[0][1])
                if len(outs) != len(batch):
                    raise RuntimeError(f"the engine returned {len(outs)} outputs for {len(batch)} prompts")
            except Exception as e:  # noqa: BLE001 — every request of the batch fails with the cause
                outs = [GenerationFailed("generation_failed", describe(e)) for _ in batch]
            for (_, _, fut), out in zip(batch, outs):
                if not fut.done():
                    fut.set_result(out)


def _after_failure(e: Exception, attempt: int, spec: LLMSpec, usage: Usage) -> tuple[int, float | GenerationFailed]:
    """The one retry rule of every remote call: a fatal failure raises (``_fatal``); a transient one
    (``_transient``) is retried up to ``max_retries`` times after an exponential, jittered backoff;
    anything else fails this request. Returns the next attempt and the delay, or the failure."""
    fatal = _fatal(e)
    if fatal:
        raise fatal from None
    if attempt >= spec.max_retries or not _transient(e):
        return attempt, GenerationFailed("generation_failed", describe(e))
    usage.retries += 1
    return attempt + 1, spec.backoff_s * 2 ** attempt * (0.5 + random.random())


def _transient(e: Exception) -> bool:
    try:
        import openai
    except ImportError:  # pragma: no cover
        return True
    if isinstance(e, (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                      openai.InternalServerError)):
        return True
    status = getattr(e, "status_code", None)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    return isinstance(e, (ConnectionError, TimeoutError))


def _fatal(e: Exception) -> SluiceError | None:
    """Failures every further call would repeat: stop the run (finished rows stay journaled)."""
    try:
        import openai
    except ImportError:  # pragma: no cover
        return None
    if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return SluiceError(f"the endpoint refused the credentials ({type(e).__name__})",
                           hint="check the API key (api_key_env or api_key_file in the --llm file)")
    if isinstance(e, openai.NotFoundError):
        return SluiceError("the endpoint does not know this model or path (404)",
                           hint="check `model` and `base_url` (it usually ends in /v1) in the --llm file")
    return None


def endpoint_key(spec: LLMSpec) -> str:
    """The key sent to ``spec``'s endpoint: the configured one; ``NO_KEY`` for a loopback endpoint
    without one; a remote endpoint without one is refused."""
    key = spec.api_key()
    if key is None and spec.remote:
        raise SluiceError(f"no API key for {spec.base_url}: {spec.api_key_env} is not set"
                          + (f" and {spec.api_key_file} is empty" if spec.api_key_file else ""),
                          hint=f"export {spec.api_key_env}=... or set api_key_file in the --llm file")
    return key or NO_KEY


class CompletionClient:
    """An OpenAI-compatible ``/v1/completions`` endpoint asked for next-token logprobs (the DEITA
    scorers served by vLLM, ``curate/quality/deita.py``): synchronous, with the key, retry and
    fatal rules of the chat backends."""

    def __init__(self, spec: LLMSpec):
        import openai

        self.spec, self.usage = spec, Usage()
        # Retries are ours (counted, with backoff); the client's own retries would hide them.
        self.client = openai.OpenAI(base_url=spec.base_url, api_key=endpoint_key(spec), timeout=spec.timeout_s,
                                    max_retries=0)

    def top_logprobs(self, prompts: list[str], n: int) -> list[dict[str, float] | None]:
        """Per prompt, the top ``n`` tokens that would come next with their logprobs (None: none returned);
        raises GenerationFailed once the retries are spent."""
        attempt = 0
        self.usage.calls += 1
        while True:
            try:
                resp = self.client.completions.create(model=self.spec.model, prompt=prompts, max_tokens=1,
                                                      temperature=0.0, logprobs=n)
                break
            except Exception as e:  # noqa: BLE001 — classified by the one rule
                attempt, delay = _after_failure(e, attempt, self.spec, self.usage)
                if isinstance(delay, GenerationFailed):
                    self.usage.failed_calls += 1
                    raise delay from None
                time.sleep(delay)
        choices = sorted(resp.choices, key=lambda c: c.index)
        if len(choices) != len(prompts):
            raise GenerationFailed("generation_failed", f"{len(choices)} choices for {len(prompts)} prompts")
        return [((c.logprobs.top_logprobs or [None])[0] if c.logprobs else None) or None for c in choices]


def build_backend(spec: LLMSpec) -> Backend:
    """Instantiate and load the distilabel LLM for ``spec``."""
    from sluice.synth.guard import quiet_distilabel

    quiet_distilabel()
    if spec.backend == "openai":
        key = endpoint_key(spec)
        from distilabel.models.llms import OpenAILLM
        from pydantic import SecretStr

        # Retries are ours (counted, with backoff); the client's own retries would hide them.
        llm = OpenAILLM(model=spec.model, base_url=spec.base_url, api_key=SecretStr(key), max_retries=0,
                        timeout=int(spec.timeout_s))
    elif spec.backend == "transformers":
        from distilabel.models.llms import TransformersLLM

        llm = TransformersLLM(model=spec.model, device=spec.device or "cpu")
    else:
        llm = _vllm(spec)
    try:
        llm.load()
    except (OSError, ValueError) as e:
        raise SluiceError(f"could not load model {spec.model!r} ({spec.backend}): {str(e).splitlines()[0][:300]}",
                          hint="check the model path or id; hub ids need network or a local cache "
                               "(HF_HUB_OFFLINE=1 allows only cached models)") from None
    if spec.backend == "transformers":
        pipe = llm._pipeline  # distilabel passes the whole list to the pipeline: let it batch
        pipe._batch_size = spec.batch_size
        pipe.tokenizer.padding_side = "left"  # decoder-only models pad on the left in a batch
    return Backend(spec, llm)


def _vllm(spec: LLMSpec):
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise MissingDependency("backend vllm needs the vllm package, which is not installed",
                                hint="pip install vllm on a machine with a CUDA GPU, or use backend openai "
                                     "against a running `vllm serve`, or backend transformers")
    import torch

    if not torch.cuda.is_available():
        raise MissingDependency("backend vllm needs a CUDA GPU and none is visible",
                                hint="use backend transformers on CPU, or an OpenAI-compatible endpoint")
    from distilabel.models.llms import vLLM

    return vLLM(model=spec.model)
