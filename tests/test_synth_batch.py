"""Local engines get whole batches: vLLM's ``LLM.generate`` and the transformers pipeline.

The vLLM engine needs a CUDA GPU, which no test machine here has: ``FakeEngine`` stands in for
``vllm.LLM`` (and a stub ``vllm`` module for its ``SamplingParams``) under distilabel's real
``vLLM`` class, so everything from the recipe down to distilabel's ``generate`` runs for real and
the fake only counts the prompts per engine call. On a GPU machine, backend ``vllm`` loads the real
engine through the same class. The transformers path runs a real tiny model.
"""

from __future__ import annotations

import math
import sys
import types

import pytest

from sluice.curate.ingest import ingest
from sluice.synth.llm import Backend, LLMSpec, build_backend
from sluice.synth.runner import LLMFile, synthesize


class FakeEngine:
    """Stands in for ``vllm.LLM`` (GPU only): records the prompts of every ``generate`` call."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def generate(self, prompts, sampling_params, use_tqdm=False):
        self.calls.append(list(prompts))
        return [types.SimpleNamespace(prompt_logprobs=None, outputs=[types.SimpleNamespace(
            text=f"answer {len(self.calls)}.{i}", token_ids=[1, 2, 3], logprobs=None)]) for i, _ in enumerate(prompts)]


@pytest.fixture
def fake_vllm(monkeypatch):
    stub = types.ModuleType("vllm")
    stub.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", stub)
    from distilabel.models.llms import vLLM

    from sluice.tiny import build_chat_tokenizer as build_tokenizer

    llm = vLLM(model="fake-gpu-model")  # not loaded: load() would start the real engine
    llm._model, llm._tokenizer = FakeEngine(), build_tokenizer()
    return llm


@pytest.fixture
def raw(store, sample_logs):
    return ingest([str(sample_logs)], to="raw", store=store, workers=1).version


def prompts_in(version) -> int:
    return version.manifest["accounting"]["rows_in"] - sum(
        version.manifest["accounting"]["rejected"].get("synth.source", {}).values())


def test_vllm_path_sends_whole_batches_to_llm_generate(store, raw, fake_vllm):
    spec = {"backend": "vllm", "model": "fake-gpu-model", "batch_size": 4, "generation": {"max_new_tokens": 8}}
    backend = Backend(LLMSpec(**spec), fake_vllm)
    res = synthesize("responses", source="raw", to="sft", llm=LLMFile(llm=spec), store=store, limit=10,
                     backends={"llm": backend})
    n = prompts_in(res.versions[0])
    calls = fake_vllm._model.calls
    assert [len(c) for c in calls] == [4] * (n // 4) + ([n % 4] if n % 4 else [])  # full batches, one remainder
    assert all(p.startswith("<|im_start|>") for c in calls for p in c)  # chat template applied by distilabel
    assert res.versions[0].manifest["accounting"]["kept"] == n == res.calls
    assert backend.usage.batches == len(calls) == math.ceil(n / 4)

    # a multi-step recipe batches each step across items: critique_revise = 3 steps
    fake_vllm._model.calls.clear()
    synthesize("critique_revise", source="raw", to="cr", llm=LLMFile(llm=spec), store=store, limit=10,
               backends={"llm": backend})
    sizes = [len(c) for c in fake_vllm._model.calls]
    assert sum(sizes) == 3 * n and len(sizes) <= 3 * math.ceil(n / 4) and max(sizes) == 4


def test_transformers_path_batches(store, raw, tmp_path):
    from sluice.tiny import build_tiny_chat_model

    model = str(build_tiny_chat_model(tmp_path / "model"))
    spec = {"backend": "transformers", "model": model, "batch_size": 3, "generation": {"max_new_tokens": 4}}
    backend = build_backend(LLMSpec(**spec))
    engine_calls = []
    pipe_model = backend.llm._pipeline.model
    real = pipe_model.generate

    def counting_generate(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        engine_calls.append(ids.shape[0])
        return real(*args, **kwargs)

    pipe_model.generate = counting_generate
    try:
        res = synthesize("responses", source="raw", to="sft", llm=LLMFile(llm=spec), store=store, limit=7,
                         backends={"llm": backend})
    finally:
        backend.close()
    n = prompts_in(res.versions[0])
    assert sum(engine_calls) == n and max(engine_calls) == 3  # model.generate saw padded batches of 3
    assert backend.usage.batches == math.ceil(n / 3) == len(engine_calls)
    assert res.versions[0].manifest["accounting"]["kept"] == n


def test_openai_path_keeps_bounded_concurrency():
    """The endpoint's client is replaced by one that counts requests in flight (the real server
    path is tests/test_synth_serve.py); the semaphore under test is sluice's."""
    import asyncio

    class Client:
        in_flight = peak = 0

        async def agenerate(self, input, num_generations=1, **kw):
            Client.in_flight += 1
            Client.peak = max(Client.peak, Client.in_flight)
            await asyncio.sleep(0.01)
            Client.in_flight -= 1
            return {"generations": ["ok"], "statistics": {}}

    backend = Backend(LLMSpec(model="m", base_url="http://127.0.0.1:9/v1", max_concurrency=3), Client())

    async def burst():
        return await asyncio.gather(*(backend.chat([{"role": "user", "content": str(i)}]) for i in range(12)))

    assert asyncio.run(burst()) == ["ok"] * 12
    assert Client.peak == 3 and backend.usage.calls == 12


def test_transformers_temperature_zero_is_greedy(tmp_path):
    """`temperature: 0` (greedy on every server) must not fail every call on the local backend."""
    import asyncio

    from sluice.tiny import build_tiny_chat_model

    spec = LLMSpec(backend="transformers", model=str(build_tiny_chat_model(tmp_path / "m")),
                   generation={"max_new_tokens": 4, "temperature": 0.0})
    backend = build_backend(spec)
    try:
        replies = asyncio.run(_two(backend))
    finally:
        backend.close()
    assert replies[0] == replies[1]  # greedy: the same prompt gives the same reply


async def _two(backend):
    import asyncio

    chat = [{"role": "user", "content": "where is my order?"}]
    return await asyncio.gather(backend.chat(chat), backend.chat(chat))
