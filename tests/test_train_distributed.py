"""Two training processes on CPU, launched for real with `accelerate launch` (gloo), on the tiny model.

Data parallel (DDP): `ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2` starts
two processes in one gloo process group (`--cpu --num_processes 2` starts ONE process: accelerate's
simple launcher ignores the count). SFT and DPO train in 2 processes; every rank reports a digest of the adapter it
holds at the end, and the run records them (sluice_train.json "processes"). The tests assert both
ranks hold the same trained adapter, the loss is finite and the saved adapter loads.

FSDP and DeepSpeed do not run on CPU: accelerate shards only on accelerators (GPU/NPU/XPU/...), and
on a CPU machine it starts the processes without any process group the trainer would use, so each
would train and save its own copy. That launch of examples/train/accelerate_fsdp.yaml must be
refused; benchmarks/gpu/ holds the GPU check of the sharded paths.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import ANSWER, conv_rows, memo_prompts, pref_rows, publish

from sluice.store import Store

REPO = Path(__file__).resolve().parents[1]
DDP = ["--multi_gpu", "--num_processes", "2"]
RUN = ["max_steps=4", "eval_steps=4", "max_length=128", "gradient_accumulation_steps=1", "per_device_train_batch_size=2",
       "gradient_checkpointing=false", "logging_steps=1", "warmup_ratio=0"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from sluice.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("dist")
    s = Store(root / "store")
    publish(s, "memo", "conversation", conv_rows(memo_prompts(0, 16), [ANSWER] * 16, "m"))
    publish(s, "prefs", "preference", pref_rows(memo_prompts(0, 12), "p"))
    return str(build_tiny_model(root / "tiny")), s.root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(launcher: list[str], method: str, data: str, model: str, root, out, *settings, cpu_ddp: bool = True
           ) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "--main_process_port", str(free_port()),
           "-m", "sluice.cli", "train", method, "--model", model, "--data", data, "--root", str(root), "-o", str(out),
           *RUN, *settings]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("ACCELERATE_USE_CPU", None)
    if cpu_ddp:
        env["ACCELERATE_USE_CPU"] = "true"
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def check_two_ranks_same_adapter(out: Path, r: subprocess.CompletedProcess, model: str) -> dict:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads((out / "sluice_train.json").read_text())
    procs = info["processes"]
    assert procs["count"] == 2 and procs["distributed_type"] == "MULTI_CPU"
    assert len(procs["adapter_sha256"]) == 2 and procs["adapter_sha256"][0] == procs["adapter_sha256"][1]
    losses = [v for _, v in info["curves"]["train_loss"]]
    assert losses and all(math.isfinite(v) for v in losses)
    tensors = load_file(str(out / "adapter_model.safetensors"))
    assert any(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k)  # lora_B starts at zero
    base = AutoModelForCausalLM.from_pretrained(model)
    loaded = PeftModel.from_pretrained(base, str(out))
    ids = torch.tensor([[1, 2, 3]])
    assert torch.isfinite(loaded(input_ids=ids).logits).all()
    return info


@pytest.mark.slow  # two processes, ~25 s on 2 cores
def test_ddp_sft_two_processes_train_one_adapter(setup, tmp_path):
    model, root = setup
    out = tmp_path / "sft"
    r = launch(DDP, "sft", "memo@v1", model, root, out, "learning_rate=5e-3")
    info = check_two_ranks_same_adapter(out, r, model)
    assert info["metrics"]["global_step"] == 4


@pytest.mark.slow  # two processes, ~25 s on 2 cores
def test_ddp_dpo_two_processes_train_one_adapter(setup, tmp_path):
    model, root = setup
    out = tmp_path / "dpo"
    r = launch(DDP, "dpo", "prefs@v1", model, root, out, "learning_rate=5e-3")
    info = check_two_ranks_same_adapter(out, r, model)
    assert info["reference_model"].startswith("base model with the adapter disabled")


@pytest.mark.slow  # two processes, ~60 s on 2 cores (both load data and model before the check)
def test_fsdp_yaml_without_gpu_is_refused(setup, tmp_path):
    model, root = setup
    out = tmp_path / "fsdp"
    r = launch(["--config_file", str(REPO / "examples" / "train" / "accelerate_fsdp.yaml"), "--num_processes", "2"],
               "sft", "memo@v1", model, root, out, cpu_ddp=False)
    assert r.returncode != 0
    assert "launched as 2 processes with FSDP, but the trainer sees 1" in r.stderr
    assert not (out / "adapter_model.safetensors").exists()
