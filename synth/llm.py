"""LLM backends through distilabel, behind one small async interface.

A backend is described by an ``LLMSpec`` (one entry of the ``--llm`` YAML) and built with
``build_backend``. Three kinds:

- ``openai``: any OpenAI-compatible endpoint (vLLM, Ollama, TGI, ``transformers serve``, OpenAI)
  through distilabel's ``OpenAILLM``. ``base_url`` is required (never a silent default) and the
  API key is read from the environment variable named by ``api_key_env``. Requests run
  concurrently, at most ``max_concurrency`` in flight; transient failures (connection errors,
  timeouts, 408/409/429/5xx) are retried ``max_retries`` times with exponential backoff and jitter.
- ``transformers``: a local model by path or hub id through distilabel's ``TransformersLLM``,
  in this process, one call at a time.
- ``vllm``: vLLM in this process through distilabel's ``vLLM`` — only with vLLM installed and a
  GPU present; otherwise a clear error before any work starts.

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
import ipaddress
import os
import random
import threading
from dataclasses import dataclass, field
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
    max_concurrency: int = Field(8, ge=1, description="requests in flight at once (remote endpoints)")
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
        """True when requests leave this machine (any endpoint not on a loopback address)."""
        return self.backend == "openai" and not is_loopback(self.host or "")

    def identity(self) -> dict[str, Any]:
        """What determines the outputs (for fingerprints and manifests) — no secrets, no resource knobs."""
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url,
                "generation": dict(sorted(self.generation.items()))}


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class GenerationFailed(Exception):
    """One generation could not be obtained; the row is kept out of the output with ``reason``."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class Usage:
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_reported: bool = False

    def as_dict(self) -> dict[str, Any]:
        d = {"calls": self.calls, "failed_calls": self.failed_calls, "retries": self.retries}
        if self.tokens_reported:
            d.update(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        return d


@dataclass
class Backend:
    """A loaded distilabel LLM with bounded concurrency, retries and usage counters."""

    spec: LLMSpec
    llm: Any
    usage: Usage = field(default_factory=Usage)
    _sem: asyncio.Semaphore | None = None
    _loop: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def model_name(self) -> str:
        return self.spec.model

    async def chat(self, messages: list[dict[str, str]], **overrides: Any) -> str:
        """One reply to ``messages``; raises GenerationFailed after the retries are spent."""
        params = {**self.spec.generation, **overrides}
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new run: fresh semaphore, and a client bound to this loop
            if self._loop is not None and self.spec.backend == "openai":
                self.llm.load()
            self._loop = loop
            self._sem = asyncio.Semaphore(self.spec.max_concurrency if self.spec.backend == "openai" else 1)
        attempt = 0
        while True:
            try:
                async with self._sem:
                    self.usage.calls += 1
                    out = await self._call(messages, params)
                break
            except GenerationFailed:
                self.usage.failed_calls += 1
                raise
            except Exception as e:  # noqa: BLE001 — classified below, never swallowed silently
                fatal = _fatal(e)
                if fatal:
                    raise fatal from None
                if attempt >= self.spec.max_retries or not _transient(e):
                    self.usage.failed_calls += 1
                    raise GenerationFailed("generation_failed", type(e).__name__) from None
                attempt += 1
                self.usage.retries += 1
                delay = self.spec.backoff_s * 2 ** (attempt - 1)
                await asyncio.sleep(delay * (0.5 + random.random()))
        self._count(out)
        text = (out.get("generations") or [None])[0]
        if text is None or not str(text).strip():
            raise GenerationFailed("empty_generation", "the model returned no text")
        return str(text)

    async def _call(self, messages, params) -> dict[str, Any]:
        if self.spec.backend == "openai":
            return await self.llm.agenerate(input=messages, num_generations=1, **params)
        # Local models run in a worker thread, one at a time, so the event loop stays responsive.
        return await asyncio.to_thread(self._local, messages, params)

    def _local(self, messages, params) -> dict[str, Any]:
        with self._lock:
            return self.llm.generate(inputs=[messages], num_generations=1, **params)[0]

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
                           hint="check the API key variable named by api_key_env in the --llm file")
    if isinstance(e, openai.NotFoundError):
        return SluiceError("the endpoint does not know this model or path (404)",
                           hint="check `model` and `base_url` (it usually ends in /v1) in the --llm file")
    return None


def build_backend(spec: LLMSpec) -> Backend:
    """Instantiate and load the distilabel LLM for ``spec``."""
    from sluice.synth.guard import quiet_distilabel

    quiet_distilabel()
    if spec.backend == "openai":
        key = os.environ.get(spec.api_key_env)
        if not key:
            if spec.remote:
                raise SluiceError(f"no API key: environment variable {spec.api_key_env} is not set",
                                  hint=f"export {spec.api_key_env}=... or set api_key_env in the --llm file")
            key = "sluice-local"  # local servers usually accept any key
        from distilabel.models.llms import OpenAILLM

        # Retries are ours (counted, with backoff); the client's own retries would hide them.
        llm = OpenAILLM(model=spec.model, base_url=spec.base_url, api_key=key, max_retries=0,
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
