"""The OpenAI-compatible path against a real `transformers serve` on 127.0.0.1 serving a tiny
model saved to a tmp dir: concurrency, token usage from the server, retries, egress."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from argilla_harness import free_port, wait_healthy  # the test servers' port and health helpers
from sluice.curate.ingest import ingest
from sluice.synth.runner import LLMFile, SynthesisFailed, synthesize


def start_server(model: str, port: int, log_path, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    exe = shutil.which("transformers") or os.path.join(os.path.dirname(sys.executable), "transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    log = open(log_path, "wb")
    proc = subprocess.Popen([exe, "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_healthy(proc, f"http://127.0.0.1:{port}/health", log_path)
    return proc


def serve_tiny_model(folder):
    """A tiny chat model built in ``folder`` and served on a free loopback port: yields (model, base_url)."""
    from sluice.tiny import build_tiny_chat_model

    model = str(build_tiny_chat_model(folder / "model"))
    port = free_port()
    proc = start_server(model, port, folder / "serve.log")
    yield model, f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_tiny_model(tmp_path_factory.mktemp("serve"))


def endpoint_file(model: str, base_url: str, **extra) -> LLMFile:
    spec = {"backend": "openai", "model": model, "base_url": base_url, "max_concurrency": 4,
            "generation": {"max_new_tokens": 8}, **extra}
    return LLMFile(llm=spec)


def test_openai_compatible_endpoint(store, sample_logs, server):
    model, base_url = server
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    res = synthesize("responses", source="raw", to="sft", llm=endpoint_file(model, base_url), store=store, limit=8)
    out = res.versions[0]
    acc = out.manifest["accounting"]
    assert acc["rows_in"] == 8 and acc["kept"] + acc["rejected_total"] == 8
    n_items = 8 - acc["rejected"].get("synth.source", {}).get("has_tool_calls", 0)
    assert acc["kept"] + sum(acc["rejected"].get("synth.responses", {}).values()) == n_items
    usage = next(iter(out.manifest["synth"]["usage"].values()))
    assert usage["calls"] == n_items and usage["input_tokens"] > 0  # the server reports usage
    assert out.manifest["synth"]["models"]["llm"]["base_url"] == base_url
    assert out.manifest["synth"]["privacy"]["remote_endpoints"] == []  # loopback is this machine

    assert out.manifest["synth"]["tasks"]["answer"].endswith("TextGeneration")

    # every recipe runs through its distilabel tasks against the same server
    from test_synth_run import TASKS, check_lineage

    raw = store.resolve("raw")
    for recipe, settings in [("evol_instruct", {"rounds": 1}), ("self_instruct", {"num_instructions": 2}),
                             ("critique_revise", {}), ("ultrafeedback", {"n": 2})]:
        # the tiny model writes random text, so its UltraFeedback judgments are unparsable: allow_empty
        res = synthesize(recipe, source="raw", to=recipe.replace("_", "-"), llm=endpoint_file(model, base_url),
                         store=store, limit=3, settings=settings, allow_empty=recipe == "ultrafeedback")
        for v in res.versions:
            check_lineage(v, raw, 3)
            assert set(v.manifest["synth"]["tasks"].values()) == TASKS[recipe], recipe
        assert res.calls > 0


def test_retries_with_backoff_then_counted_failure(store, sample_logs):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: connection refused
    llm = endpoint_file("m", dead, max_retries=2, backoff_s=0.01)
    start = time.perf_counter()
    with pytest.raises(SynthesisFailed) as err:  # nothing kept: the run fails, naming the real error
        synthesize("responses", source="raw", to="sft", llm=llm, store=store, limit=3)
    assert "generation_failed" in str(err.value) and "APIConnectionError: Connection error" in str(err.value)
    assert store.versions("sft") == []
    res = synthesize("responses", source="raw", to="sft", llm=llm, store=store, limit=3, allow_empty=True)
    assert time.perf_counter() - start < 30
    acc = res.versions[0].manifest["accounting"]
    failed = acc["rejected"]["synth.responses"]["generation_failed"]
    assert acc["kept"] == 0 and failed >= 1
    usage = next(iter(res.versions[0].manifest["synth"]["usage"].values()))
    assert usage["retries"] == 2 * 2 * failed and usage["failed_calls"] == 2 * failed  # both sessions count
    rejected = res.versions[0].read("rejected").to_pylist()
    assert all(r["detail"].startswith("APIConnectionError") for r in rejected if r["stage"] == "synth.responses")
