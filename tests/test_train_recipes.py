"""Real TRL steps on CPU with a tiny Llama-style model built at test time: SFT, DPO, KTO, ORPO, SimPO,
GRPO, second-round DPO, early stopping, the eval gate and merge. One SFT run is shared by the tests that read it."""

from __future__ import annotations

import json

import pytest
from train_helpers import ANSWER, conv_rows, kto_rows, memo_prompts, pref_rows, publish

from sluice.store import Store

FAST = ["gradient_accumulation_steps=1", "logging_steps=1", "max_length=128", "warmup_ratio=0"]
NO_CKPT = ["gradient_checkpointing=false"]  # the shared SFT run keeps the default (on); the rest save time


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from sluice.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def tstore(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("store"))
    publish(s, "memo", "conversation", conv_rows(memo_prompts(0, 16), [ANSWER] * 16, "m"))
    publish(s, "golden", "conversation", conv_rows(memo_prompts(100, 4), [ANSWER] * 4, "g", ["math"] * 2 + ["chat"] * 2))
    publish(s, "golden-other", "conversation", conv_rows(memo_prompts(200, 4), ["i cannot help with that."] * 4, "o"))
    publish(s, "prefs", "preference", pref_rows(memo_prompts(0, 12), "p"))
    publish(s, "kto", "kto", kto_rows(memo_prompts(0, 12), "k"))
    return s


@pytest.fixture(scope="module")
def sft_run(tiny, tstore, tmp_path_factory):
    from sluice.train import train

    out = tmp_path_factory.mktemp("sft") / "adapter"
    return train("sft", tstore, model=tiny, data="memo@v1", golden="golden@v1", output_dir=str(out),
                 overrides=["max_steps=30", "eval_steps=10", "learning_rate=5e-3", *FAST])


def lora_tensors(folder) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_sft_changes_parameters_and_loss_falls(sft_run):
    tensors = lora_tensors(sft_run.output_dir)
    lora_b = [t for k, t in tensors.items() if "lora_B" in k]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # PEFT initialises lora_B to zeros
    assert any("lora_magnitude_vector" in k for k in tensors)  # DoRA on by default
    losses = [v for _, v in sft_run.info["curves"]["train_loss"]]
    assert len(losses) == 30 and losses[-1] < losses[0] - 0.5
    cfg = json.loads((sft_run.output_dir / "adapter_config.json").read_text())
    assert cfg["r"] == 16 and cfg["lora_alpha"] == 32 and cfg["use_dora"] is True
    info = sft_run.info
    assert info["chat_template"]["patched_with_generation_tags"] is True  # Qwen2.5 template, patched
    assert "{% generation %}" in (sft_run.output_dir / "chat_template.jinja").read_text()


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_model_card_records_lineage_and_serving(sft_run, tstore):
    card = sft_run.card.read_text()
    memo = tstore.resolve("memo@v1")
    from sluice.train.data import content_hash

    assert "`memo@v1`" in card and content_hash(memo)[:16] in card
    assert "golden@v1" in card and sft_run.info["golden"]["content_sha256"][:16] in card
    for text in ("DoRA", "learning_rate", "train loss", "eval loss", "Not evaluated"):
        assert text in card
    # vLLM refuses DoRA adapters: the card says so and serves the merged model instead
    serve = card.split("## Serve", 1)[1]
    assert "vLLM cannot serve DoRA" in serve and "sluice train merge" in serve and "--enable-lora --max" not in serve
    assert "sluice models verify" in serve


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_gate_passes_when_tuned_beats_base(sft_run, tstore):
    from sluice.train.gate import evaluate

    result = evaluate(sft_run.output_dir, "golden@v1", tstore, max_new_tokens=12, metrics=["exact_match"])
    gains = result["decision"]["gains"]
    assert result["incumbent"]["kind"] == "base"
    assert gains["exact_match"]["candidate"] == 1.0 and gains["exact_match"]["incumbent"] == 0.0
    assert gains["loglik"]["ci_low"] > 0  # the gate metric: reference log-likelihood, paired
    assert set(result["decision"]["by_category"]) == {"math", "chat"}
    assert result["decision"]["passed"] is True
    card = sft_run.card.read_text()
    assert "PASSED" in card and "| exact_match | 0.0000 | 1.0000 | 1.0000 |" in card


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_gate_fails_and_cli_exits_1(sft_run, tstore):
    from typer.testing import CliRunner

    from sluice.cli import app

    # The golden set was frozen at training time: another set is refused, naming the recorded one.
    r = CliRunner().invoke(app, ["train", "eval", "--adapter", str(sft_run.output_dir), "--golden",
                                 "golden-other@v1", "--root", str(tstore.root)])
    assert r.exit_code == 1 and "differs from the one recorded" in r.stderr
    # An unreachable promotion rule fails the gate: exit 1 and FAILED in the card.
    r = CliRunner().invoke(app, ["train", "eval", "--adapter", str(sft_run.output_dir), "--golden", "golden@v1",
                                 "--root", str(tstore.root), "min_gain=100", "--json"])
    assert r.exit_code == 1, r.output
    decision = json.loads(r.stdout)["decision"]
    assert decision["passed"] is False and "not above min_gain 100" in decision["reasons"][0]
    assert "FAILED" in sft_run.card.read_text()


def test_promote_writes_a_signed_record_and_a_tampered_adapter_fails_to_verify(sft_run, tiny, tstore, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from sluice.cli import app
    from sluice.train import train
    from sluice.train.gate import evaluate
    from sluice.train.merge import merge
    from sluice.train.registry import SignatureError

    adapter = tmp_path / "candidate"
    shutil.copytree(sft_run.output_dir, adapter, ignore=shutil.ignore_patterns("checkpoints", "eval_*"))
    info = json.loads((adapter / "sluice_train.json").read_text())
    (adapter / "sluice_train.json").write_text(json.dumps({**info, "eval": None}))  # a fresh candidate
    runner, root = CliRunner(), ["--root", str(tstore.root)]
    r = runner.invoke(app, ["models", "promote", "--adapter", str(adapter), *root])
    assert r.exit_code != 0 and "no gate result" in r.output  # only a gate pass on these bytes promotes
    assert evaluate(adapter, "golden@v1", tstore)["decision"]["passed"]
    r = runner.invoke(app, ["models", "promote", "--adapter", str(adapter), *root, "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["adapter_sha256"] == json.loads((adapter / "promotion.json").read_text())["adapter_sha256"]
    assert record["data"][0]["ref"] == "memo@v1" and len(record["data"][0]["content_sha256"]) == 64
    assert record["golden"]["ref"] == "golden@v1" and record["gate"]["gains"]["loglik"]["ci_low"] > 0
    assert "judge_calibration" in record and (adapter / "model.sig").is_file()
    listed = json.loads(runner.invoke(app, ["models", "list", *root, "--json"]).stdout)
    assert listed[record["lineage"]]["adapter_sha256"] == record["adapter_sha256"]
    assert runner.invoke(app, ["models", "verify", "--adapter", str(adapter), *root]).exit_code == 0

    # One byte of the weights changed: verify, merge, eval and --init-adapter all refuse it.
    weights = adapter / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    r = runner.invoke(app, ["models", "verify", "--adapter", str(adapter), *root])
    assert r.exit_code == 1 and "signature does not verify" in r.stderr
    with pytest.raises(SignatureError):
        merge(adapter, tmp_path / "merged", store=tstore)
    with pytest.raises(SignatureError):
        evaluate(adapter, "golden@v1", tstore)
    with pytest.raises(SignatureError):
        train("dpo", tstore, model=tiny, data="prefs@v1", init_adapter=str(adapter), output_dir=str(tmp_path / "d"))
    # The record is signed too: editing it breaks the signature as well.
    weights.write_bytes(bytes(data[:-1] + bytes([data[-1] ^ 1])))
    assert runner.invoke(app, ["models", "verify", "--adapter", str(adapter), *root]).exit_code == 0
    rec = json.loads((adapter / "promotion.json").read_text())
    rec["gate"]["gains"]["loglik"]["ci_low"] = 9.0
    (adapter / "promotion.json").write_text(json.dumps(rec))
    assert runner.invoke(app, ["models", "verify", "--adapter", str(adapter), *root]).exit_code == 1

    r = runner.invoke(app, ["models", "rollback", record["lineage"], *root, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["to"] == "base model"
    assert json.loads(runner.invoke(app, ["models", "list", *root, "--json"]).stdout)[record["lineage"]] is None
    history = json.loads(runner.invoke(app, ["models", "list", "--history", *root, "--json"]).stdout)
    assert [e["event"] for e in history] == ["promote", "rollback"]  # appended, never rewritten


def test_training_refuses_data_overlapping_golden(tiny, tstore, tmp_path):
    from sluice.errors import DataError
    from sluice.train import train

    with pytest.raises(DataError, match="hold an item of a golden set") as e:
        train("sft", tstore, model=tiny, data="golden@v1", golden="golden@v1", output_dir=str(tmp_path / "x"))
    assert all("row id" in p for p in e.value.problems) and ANSWER not in str(e.value)


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_second_round_dpo_from_sft_adapter(sft_run, tiny, tstore, tmp_path):
    from sluice.train import train

    out = tmp_path / "dpo2"
    r = train("dpo", tstore, model=tiny, data="prefs@v1", init_adapter=str(sft_run.output_dir),
              output_dir=str(out), overrides=["max_steps=4", "eval_steps=4", "learning_rate=1e-3", *FAST, *NO_CKPT])
    assert "'ref'" in r.info["reference_model"]
    before, after = lora_tensors(sft_run.output_dir), lora_tensors(out)
    assert before.keys() == after.keys()  # the SFT adapter was continued, not replaced
    assert any((before[k] - after[k]).abs().sum() > 0 for k in before)
    assert not (out / "ref").exists()  # the frozen reference copy is not saved with the result


@pytest.mark.slow  # DPO steps run by default in the second-round test; this adds first round + ln 2 check
def test_dpo_first_round_loss_falls(tiny, tstore, tmp_path):
    from sluice.train import train

    r = train("dpo", tstore, model=tiny, data="prefs@v1", output_dir=str(tmp_path / "dpo"),
              overrides=["max_steps=8", "eval_steps=8", "learning_rate=5e-3", *FAST, *NO_CKPT])
    losses = [v for _, v in r.info["curves"]["train_loss"]]
    assert abs(losses[0] - 0.6931) < 0.01  # DPO starts at ln 2: policy == reference
    assert losses[-1] < 0.6
    assert r.info["reference_model"].startswith("base model with the adapter disabled")
    assert any(t.abs().sum() > 0 for k, t in lora_tensors(tmp_path / "dpo").items() if "lora_B" in k)


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_kto_trains(tiny, tstore, tmp_path):
    from sluice.train import train

    r = train("kto", tstore, model=tiny, data="kto@v1", output_dir=str(tmp_path / "kto"),
              overrides=["max_steps=6", "eval_steps=6", "learning_rate=5e-3", *FAST, *NO_CKPT])
    losses = [v for _, v in r.info["curves"]["train_loss"]]
    assert losses[-1] < losses[0]
    assert any(t.abs().sum() > 0 for k, t in lora_tensors(tmp_path / "kto").items() if "lora_B" in k)


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_early_stopping_keeps_the_best_checkpoint(tiny, tstore, tmp_path):
    """Validation answers contradict training answers, so eval loss rises once training bites."""
    from sluice.train import train

    publish(tstore, "contra", "conversation", conv_rows(memo_prompts(0, 4), ["i cannot help with that."] * 4, "c"))
    out = tmp_path / "es"
    r = train("sft", tstore, model=tiny, data="memo@v1", eval_data="contra@v1", output_dir=str(out),
              overrides=["max_steps=20", "eval_steps=2", "learning_rate=2e-2", "early_stopping_patience=2",
                         "save_total_limit=1", *FAST, *NO_CKPT])
    m = r.info["metrics"]
    evals = r.info["curves"]["eval_loss"]
    assert m["stopped_early"] and m["global_step"] < 20
    best_step, best = min(evals, key=lambda p: p[1])
    assert m["best_eval_loss"] == pytest.approx(best) and best_step < evals[-1][0]
    assert m["best_checkpoint"].endswith(f"checkpoint-{best_step}")
    saved, best_ckpt = lora_tensors(out), lora_tensors(out / "checkpoints" / f"checkpoint-{best_step}")
    assert all((saved[k] == best_ckpt[k]).all() for k in saved)  # the adapter is the best, not the last


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_merge_writes_full_model(sft_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sluice.train.gate import generate
    from sluice.train.merge import merge

    out = merge(sft_run.output_dir, tmp_path / "merged")
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert not any("lora" in n for n, _ in model.named_parameters())
    torch.manual_seed(0)
    [answer] = generate(model, tok, [[{"role": "user", "content": "tell me about books number 7?"}]], 12)
    assert answer == ANSWER and (out / "README.md").is_file()


@pytest.mark.slow  # ~15 s each on 2 free cores
@pytest.mark.parametrize("method", ["orpo", "simpo"])
def test_reference_free_preference_methods_train(tiny, tstore, tmp_path, method):
    from sluice.train import train

    out = tmp_path / method
    r = train(method, tstore, model=tiny, data="prefs@v1", output_dir=str(out),
              overrides=["max_steps=4", "eval_steps=4", "learning_rate=5e-3", *FAST, *NO_CKPT])
    losses = [v for _, v in r.info["curves"]["train_loss"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert any(t.abs().sum() > 0 for k, t in lora_tensors(out).items() if "lora_B" in k)
    assert r.info["method"] == method and r.info["reference_model"] is None
    t = r.info["metrics"]["throughput"]
    assert t["peak_rss_mb"] > 0 and t["train_seconds"] > 0  # tokens are not counted for these trainers' batches
    assert not t["tokens_seen"] and not t["tokens_per_second"]


@pytest.mark.slow  # 204 s at load average 13 on 2 cores (290 s measured before with a 2-token answer): SFT 10 + GRPO 4 steps
def test_grpo_moves_the_adapter_when_rewards_differ_within_a_group(tstore, tmp_path):
    """GRPO learns only from reward differences inside a group of completions of one prompt. The 64-wide tiny
    model cannot give them: after the final RMSNorm its hidden state has norm 8 and its frozen lm_head rows at
    most 0.20, so every logit stays within +-1.63 and no token gets over ~5% whatever LoRA learns: its samples are
    noise, every completion gets the same reward and the advantage is zero. A 256-wide
    tiny model after a short SFT on the one-token answer "4" samples "4" for some completions of a prompt and other
    tokens (or the end of turn: an empty answer fails the format reward) for the rest, so the rewards differ
    within the group and the continued SFT adapter must move."""
    from sluice.train import train
    from sluice.tiny import build_tiny_model

    model = str(build_tiny_model(tmp_path / "tiny256", hidden_size=256))
    publish(tstore, "short", "conversation", conv_rows(memo_prompts(0, 16), ["4"] * 16, "s"))
    sft = train("sft", tstore, model=model, data="short@v1", output_dir=str(tmp_path / "sft"),
                overrides=["max_steps=10", "learning_rate=1e-2", "eval_fraction=0", *FAST, *NO_CKPT])
    out = tmp_path / "grpo"
    r = train("grpo", tstore, model=model, data="short@v1", init_adapter=str(sft.output_dir), output_dir=str(out),
              overrides=["max_steps=4", "learning_rate=1e-2", "num_generations=8", "per_device_train_batch_size=8",
                         "max_completion_length=1", "eval_fraction=0", *FAST, *NO_CKPT])
    assert r.info["metrics"]["global_step"] == 4 and r.info["config"]["rewards"] == ["exact_match", "tool_call", "format"]
    rewards = [v for _, v in r.info["curves"]["reward"]]
    print("GRPO mean reward per step:", rewards)
    # each step is one prompt's group of 8; equal rewards would give a whole-number mean (0, 1 or 2)
    assert len(rewards) == 4 and any(v != round(v) for v in rewards), rewards
    before, after = lora_tensors(sft.output_dir), lora_tensors(out)
    assert before.keys() == after.keys()  # the SFT adapter was continued, not replaced
    moved = max((after[k] - before[k]).abs().max().item() for k in before)
    assert moved > 1e-4, moved
    assert "mean reward" in r.card.read_text()


def test_sft_card_shows_throughput_and_packing(sft_run):
    t = sft_run.info["metrics"]["throughput"]
    assert t["tokens_seen"] > 0 and t["tokens_per_second"] > 0
    assert 0 < t["packing_efficiency"] <= 1  # packing is on by default for SFT
    card = sft_run.card.read_text()
    assert "tokens/s" in card and "packing efficiency" in card and "peak process memory" in card
