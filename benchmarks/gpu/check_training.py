"""GPU check of the training paths a CPU machine cannot run. One command, under 10 minutes on one GPU:

    python benchmarks/gpu/check_training.py [--model DIR_OR_HUB_ID] [--work /tmp/sluice-gpu-check]

STATUS: written and lint-checked on a CPU-only machine; NOT YET RUN ON A GPU. Its first GPU run is what
proves (or disproves) the paths below; paste its output into BENCHMARKS.md ("Issue 29") when it has run.

What it runs, each as the CLI a user would type, on SmolLM2-135M (`sluice models get smollm2-135m`
when that command exists, else `--model`):
  1. QLoRA SFT (4-bit NF4, bf16 compute) on the quickstart's logs, packing on;
  2. QLoRA DPO, second round from that adapter, on LLaMA-Factory's vendored DPO demo slice;
  3. bf16 LoRA SFT (no quantization), for comparison;
  4. with 2+ GPUs: FSDP2 SFT through examples/train/accelerate_fsdp.yaml (2 processes) and 2-process
     QLoRA DDP (each rank on its own GPU: the device map is the local rank); both must end with the same
     adapter digest on every rank (sluice_train.json "processes");
  5. with deepspeed installed and 2+ GPUs: ZeRO-2 DPO through examples/train/accelerate_deepspeed.yaml.
It prints tokens/s, peak GPU memory and packing efficiency per run (from sluice_train.json), and exits 1
if any run that could start failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAST = ["gradient_accumulation_steps=1", "logging_steps=5", "eval_steps=20", "warmup_ratio=0",
        "early_stopping_patience=null"]


def sh(cmd: list[str], env: dict | None = None, timeout: int = 240) -> tuple[int, float, str]:
    started = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, time.perf_counter() - started, r.stderr[-2000:]
    except subprocess.TimeoutExpired:
        return 124, time.perf_counter() - started, f"timed out after {timeout} s"


def sluice(*args) -> list[str]:
    return [sys.executable, "-m", "sluice.cli", *map(str, args)]


def launch(config: list[str], *args) -> list[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", *config, "--main_process_port", str(port),
            "-m", "sluice.cli", *map(str, args)]


def report(name: str, out: Path, rc: int, seconds: float, err: str, results: list) -> None:
    info_file = out / "sluice_train.json"
    if rc != 0 or not info_file.is_file():
        print(f"FAIL  {name}: exit {rc} after {seconds:.0f} s\n{err}", flush=True)
        results.append((name, False))
        return
    info = json.loads(info_file.read_text())
    m, t, p = info["metrics"], info["metrics"].get("throughput", {}), info.get("processes", {})
    same = len(set(p.get("adapter_sha256", [None]))) == 1
    ok = same and all(v == v for _, v in info["curves"]["train_loss"])  # finite losses, ranks agree
    print(f"{'ok   ' if ok else 'FAIL '} {name}: {m['global_step']} steps in {seconds:.0f} s, "
          f"{t.get('tokens_per_second')} tokens/s, peak GPU {t.get('peak_gpu_memory_mb')} MiB, "
          f"packing {t.get('packing_efficiency')}, processes {p.get('count')} {p.get('distributed_type')}"
          f"{'' if same else ' (RANKS DISAGREE)'}", flush=True)
    results.append((name, ok))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="local folder or hub id (default: sluice models get smollm2-135m)")
    ap.add_argument("--work", default="/tmp/sluice-gpu-check", help="scratch folder (replaced)")
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: this script checks GPU-only paths; nothing to do here", file=sys.stderr)
        return 2
    gpus = torch.cuda.device_count()
    print(f"{gpus} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = a.model
    if model is None:
        model = str(work / "smollm2")
        rc, _, err = sh(sluice("models", "get", "smollm2-135m", "--out", model, "--dtype", "bfloat16"))
        if rc != 0:
            print(f"`sluice models get smollm2-135m` failed ({err.strip().splitlines()[-1:]}); pass --model",
                  file=sys.stderr)
            return 2
    root = work / "store"
    for src, to in ((REPO / "examples" / "data" / "sample_logs.jsonl", "raw"),
                    (REPO / "tests" / "data" / "reference" / "formats" / "llamafactory" / "dpo_en_demo.json", "dpo")):
        rc, _, err = sh(sluice("ingest", src, "--to", to, "--root", root))
        if rc != 0:
            print(f"ingest {src.name} failed:\n{err}", file=sys.stderr)
            return 2
    results: list = []
    common = ["--model", model, "--root", root]
    runs = [
        ("QLoRA SFT, 1 GPU", "sft", sluice("train", "sft", "--data", "raw@v1", "--load-in-4bit", *common, "-o",
                                            work / "qlora-sft", "max_steps=40", "max_length=1024", *FAST), {}),
        ("QLoRA DPO (from the SFT adapter), 1 GPU", "dpo",
         sluice("train", "dpo", "--data", "dpo@v1", "--load-in-4bit", "--init-adapter", work / "qlora-sft", *common,
                "-o", work / "qlora-dpo", "max_steps=20", "max_length=1024", "per_device_train_batch_size=2", *FAST),
         {}),
        ("bf16 LoRA SFT, 1 GPU", "sft", sluice("train", "sft", "--data", "raw@v1", *common, "-o", work / "lora-sft",
                                                "max_steps=40", "max_length=1024", *FAST), {}),
    ]
    one_gpu = {"CUDA_VISIBLE_DEVICES": "0"}
    if gpus >= 2:
        fsdp = ["--config_file", str(REPO / "examples" / "train" / "accelerate_fsdp.yaml"), "--num_processes", "2"]
        runs += [
            ("FSDP2 LoRA SFT, 2 GPUs", "sft", launch(fsdp, "train", "sft", "--data", "raw@v1", *common, "-o",
                                                     work / "fsdp-sft", "max_steps=40", "max_length=1024",
                                                     "gradient_checkpointing=false", *FAST), {}),
            ("QLoRA SFT DDP, 2 GPUs", "sft", launch(["--multi_gpu", "--num_processes", "2"], "train", "sft", "--data",
                                                    "raw@v1", "--load-in-4bit", *common, "-o", work / "ddp-qlora",
                                                    "max_steps=40", "max_length=1024", *FAST), {}),
        ]
        try:
            import deepspeed  # noqa: F401

            ds = ["--config_file", str(REPO / "examples" / "train" / "accelerate_deepspeed.yaml"), "--num_processes", "2"]
            runs.append(("DeepSpeed ZeRO-2 DPO, 2 GPUs", "dpo",
                         launch(ds, "train", "dpo", "--data", "dpo@v1", *common, "-o", work / "ds-dpo", "max_steps=20",
                                "max_length=1024", "per_device_train_batch_size=2", *FAST), {}))
        except ImportError:
            print("SKIP  DeepSpeed: not installed (pip install deepspeed)", flush=True)
    else:
        print("SKIP  FSDP / 2-process DDP / DeepSpeed: one GPU only", flush=True)
    for name, _method, cmd, env in runs:
        out = Path(cmd[cmd.index("-o") + 1])
        rc, seconds, err = sh(cmd, env=env or (one_gpu if "1 GPU" in name else {}))
        report(name, out, rc, seconds, err, results)
    failed = [n for n, ok in results if not ok]
    print(f"{len(results) - len(failed)} of {len(results)} runs ok" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
