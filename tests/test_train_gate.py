"""The eval gate promotes only real gains, with real training on the tiny model.

The candidates: an untrained (no-op) adapter, an adapter trained on shuffled responses, a round-2
adapter continued from round 1 on contradicting answers, and an adapter trained on the golden-like
distribution. Only the last is promoted. Everything here trains for real (TRL SFT steps on CPU).
"""

from __future__ import annotations

import json
import random

import pytest
from train_helpers import TOPICS, conv_rows, publish

from sluice.store import Store

pytestmark = pytest.mark.slow  # four short trainings and eight scoring passes: ~1-2 min on 2 busy cores

FAST = ["gradient_accumulation_steps=1", "logging_steps=5", "max_length=64", "warmup_ratio=0",
        "gradient_checkpointing=false", "eval_fraction=0", "early_stopping_patience=null"]


def prompts(start: int, n: int) -> list[str]:
    return [f"tell me about {TOPICS[i % len(TOPICS)]} number {i}?" for i in range(start, start + n)]


def answers(start: int, n: int) -> list[str]:
    return [f"{TOPICS[i % len(TOPICS)]} is the topic." for i in range(start, start + n)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from sluice.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def gstore(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("store"))
    publish(s, "good", "conversation", conv_rows(prompts(0, 20), answers(0, 20), "t"))
    shuffled = answers(200, 20)
    random.Random(1).shuffle(shuffled)
    publish(s, "shuffled", "conversation", conv_rows(prompts(200, 20), shuffled, "s"))
    publish(s, "contra", "conversation", conv_rows(prompts(300, 20), ["i cannot help with that request."] * 20, "c"))
    publish(s, "golden", "conversation", conv_rows(prompts(100, 20), answers(100, 20), "g", ["a", "b"] * 10))
    return s


def run(store, tiny, tmp_path_factory, name, data, steps, lr, **kw):
    from sluice.train import train

    out = tmp_path_factory.mktemp(name) / "adapter"
    return train("sft", store, model=tiny, data=data, golden="golden@v1", output_dir=str(out),
                 overrides=[f"max_steps={steps}", f"learning_rate={lr}", *FAST], **kw).output_dir


@pytest.fixture(scope="module")
def good(gstore, tiny, tmp_path_factory):
    return run(gstore, tiny, tmp_path_factory, "good", "good@v1", 30, 5e-3)


def test_noop_adapter_is_rejected(gstore, tiny, good, tmp_path):
    """A freshly initialised adapter (lora_B = 0, DoRA magnitude = |W|) changes nothing: gain 0."""
    import shutil

    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from sluice.train.config import load_config
    from sluice.train.gate import evaluate
    from sluice.train.peft_setup import lora_config

    noop = tmp_path / "noop"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), lora_config(load_config("sft"))).save_pretrained(noop)
    for f in good.iterdir():  # tokenizer and the run's lineage file, as a trained run writes them
        if f.is_file() and not f.name.startswith(("adapter_", "eval_", "README")):
            shutil.copy2(f, noop / f.name)
    result = evaluate(noop, "golden@v1", gstore, incumbent="base")
    gain = result["decision"]["gains"]["loglik"]
    assert result["decision"]["passed"] is False
    assert abs(gain["mean"]) < 1e-4 and gain["ci_low"] <= 0.0
    assert "no gain beyond the noise" in result["decision"]["reasons"][0]


def test_real_gain_is_promoted_then_worse_candidates_are_rejected(gstore, tiny, good, tmp_path_factory):
    from sluice.train.gate import evaluate
    from sluice.train.registry import HISTORY_FILE, current, promote, registry_dir

    first = evaluate(good, "golden@v1", gstore)
    assert first["incumbent"]["kind"] == "base"
    gain = first["decision"]["gains"]["loglik"]
    assert first["decision"]["passed"] is True and gain["ci_low"] > 0
    assert set(first["decision"]["by_category"]) == {"a", "b"}
    record = promote(gstore, good)
    assert current(gstore, record["lineage"])["adapter_sha256"] == record["adapter_sha256"]

    # Shuffled responses (right format, wrong answer for the prompt) vs the promoted incumbent.
    shuffled = run(gstore, tiny, tmp_path_factory, "shuffled", "shuffled@v1", 30, 5e-3)
    res = evaluate(shuffled, "golden@v1", gstore)
    assert res["incumbent"]["adapter_sha256"] == record["adapter_sha256"]
    assert res["decision"]["passed"] is False
    assert res["decision"]["gains"]["loglik"]["ci_low"] <= 0.0

    # Round 2 continued from round 1 on contradicting answers: worse than where it started.
    r2 = run(gstore, tiny, tmp_path_factory, "r2", "contra@v1", 15, 5e-3, init_adapter=str(good))
    res2 = evaluate(r2, "golden@v1", gstore)
    assert res2["incumbent"]["kind"] == "adapter" and res2["decision"]["passed"] is False
    assert res2["decision"]["gains"]["loglik"]["ci_high"] < 0  # a real loss, not noise

    # Every gate result is kept, in order, never overwritten.
    history = [json.loads(line) for line in (registry_dir(gstore) / HISTORY_FILE).read_text().splitlines()]
    assert [h["adapter"] for h in history][-3:] == [str(good.resolve()), str(shuffled.resolve()), str(r2.resolve())]
    assert [h["decision"]["passed"] for h in history][-3:] == [True, False, False]
    assert len((r2 / HISTORY_FILE).read_text().splitlines()) == 1
