"""SFT throughput on the tiny model: packing (best-fit decreasing, padding-free) vs padded batches.

Both modes train on the same dataset version (the bundled sample logs, ingested), with the same
batch size and max_length, interleaved round by round so machine noise hits both alike. Reports
real (non-pad) tokens per second, the packed/padded ratio, and the padding fraction of each mode
(pad tokens / all tokens in the batches the model saw).

    python benchmarks/bench_train.py [--steps 20] [--rounds 3] [--max-length 512] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]


def one(store, tiny: str, packing: bool, args, out: Path) -> dict:
    import trl

    from sluice.train.config import load_config
    from sluice.train.peft_setup import lora_config
    from sluice.train.run import prepare, training_args

    cfg = load_config("sft", model=tiny, data="raw@v1", output_dir=str(out), overrides=[
        f"packing={str(packing).lower()}", f"max_steps={args.steps}", f"max_length={args.max_length}",
        f"per_device_train_batch_size={args.batch}", "gradient_accumulation_steps=1", "eval_fraction=0",
        "logging_steps=1000", "early_stopping_patience=null", "gradient_checkpointing=false"])
    prep = prepare(cfg, store, "sft")
    targs = training_args(cfg, prep, trl.SFTConfig, packing=packing, packing_strategy="bfd",
                          assistant_only_loss=True, save_strategy="no")
    trainer = trl.SFTTrainer(model=prep.model, args=targs, train_dataset=prep.train, processing_class=prep.tokenizer,
                             peft_config=lora_config(cfg))
    real = padded = 0
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i >= args.steps:
            break
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        real += int(mask.sum()) if mask is not None else ids.numel()
        padded += ids.numel()
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return {"tokens_per_s": real / seconds, "padding": 1 - real / padded, "seconds": seconds, "tokens": real}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    from sluice.curate.ingest import ingest
    from sluice.store import Store
    from sluice.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tiny = str(build_tiny_model(tmp / "tiny"))
        store = Store(tmp / "store")
        ingest([str(REPO / "examples" / "data" / "sample_logs.jsonl")], "raw", store=store)
        results: dict[bool, list[dict]] = {True: [], False: []}
        for r in range(args.rounds):
            for packing in ((True, False) if r % 2 == 0 else (False, True)):
                res = one(store, tiny, packing, args, tmp / f"out-{r}-{packing}")
                results[packing].append(res)
                print(f"round {r + 1} packing={packing}: {res['tokens_per_s']:,.0f} tok/s, "
                      f"padding {res['padding']:.1%}", file=sys.stderr)
    med = {p: statistics.median(x["tokens_per_s"] for x in v) for p, v in results.items()}
    pad = {p: statistics.median(x["padding"] for x in v) for p, v in results.items()}
    print(f"\nSFT on the tiny Llama (hidden 64, 2 layers, DoRA r=16), sample_logs raw@v1, batch {args.batch}, "
          f"max_length {args.max_length}, {args.steps} steps x {args.rounds} rounds (median)\n")
    print("| mode | real tokens/s | padding fraction |")
    print("|---|---:|---:|")
    print(f"| packing (bfd, padding-free) | {med[True]:,.0f} | {pad[True]:.1%} |")
    print(f"| no packing (padded batches) | {med[False]:,.0f} | {pad[False]:.1%} |")
    print(f"\nratio packed / padded: {med[True] / med[False]:.2f}x")


if __name__ == "__main__":
    main()
