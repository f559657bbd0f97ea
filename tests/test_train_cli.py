"""End to end through the CLI: `sluice ingest` → dataset version → `sluice train` → adapter + model card."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli import common

TINY_RUN = ["max_steps=2", "eval_steps=2", "eval_fraction=0.03", "max_length=128", "gradient_accumulation_steps=1",
            "gradient_checkpointing=false", "logging_steps=1"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(common.console, "_width", 200)
    monkeypatch.delenv("SLUICE_HOME", raising=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from sluice.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def sluice(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.slow  # real TRL steps on the tiny model: minutes on 2 cores (issue #26: CI's slow suite)
def test_ingest_to_adapter_with_model_card(tmp_path, sample_logs, tiny):
    root, out = tmp_path / "store", tmp_path / "adapter"
    assert sluice("ingest", sample_logs, "--to", "raw", "--root", root).exit_code == 0
    r = sluice("train", "sft", "--data", "raw@v1", "--model", tiny, "-o", out, "--root", root, *TINY_RUN, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["global_step"] == 2 and summary["train_rows"] + summary["eval_rows"] == 591
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    card = (out / "README.md").read_text()
    manifest = json.loads((root / "raw" / "v1" / "manifest.json").read_text())
    assert "`raw@v1`" in card and "vllm serve" in card and f"base_model: {tiny}" in card
    info = json.loads((out / "sluice_train.json").read_text())
    assert info["datasets"][0]["ref"] == "raw@v1" and info["config"]["packing"] is True
    assert manifest["parts"]["data"]["shards"]  # the content hash is derived from these shard hashes


def test_cli_errors_are_clear(tmp_path, tiny):
    r = sluice("train", "sft", "--model", tiny, "--root", tmp_path)
    assert r.exit_code == 2 and "needs a model and a dataset" in r.stderr
    r = sluice("train", "sft", "--data", "raw@v1", "--model", tiny, "--root", tmp_path, "lora_rank=3")
    assert r.exit_code == 2 and "lora_rank" in r.stderr and "Traceback" not in r.output
    r = sluice("train", "options", "dpo")
    assert r.exit_code == 0 and "beta" in r.stderr and "strength of the KL penalty" in r.stderr
    for method, key in (("orpo", "odds-ratio"), ("simpo", "simpo_gamma"), ("grpo", "num_generations")):
        r = sluice("train", "options", method)
        assert r.exit_code == 0 and key in r.stderr, method


@pytest.mark.slow
@pytest.mark.parametrize("method,demo", [("dpo", "dpo_en_demo.json"), ("kto", "kto_en_demo.json")])
def test_llamafactory_demo_to_adapter(tmp_path, shared_data, tiny, method, demo):
    root, out = tmp_path / "store", tmp_path / "adapter"
    r = sluice("ingest", shared_data / "formats" / "llamafactory" / demo, "--to", method, "--root", root, "--json")
    assert r.exit_code == 0, r.output
    r = sluice("train", method, "--data", f"{method}@v1", "--model", tiny, "-o", out, "--root", root, *TINY_RUN,
               "per_device_train_batch_size=2", "max_length=1024", "eval_fraction=0.1",
               "--json")  # 128 truncates dpo's eval row away; the 20-row demo's split follows its row ids
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["global_step"] == 2 and (out / "README.md").is_file()
