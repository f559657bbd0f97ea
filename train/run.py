"""What the three recipes share: preparing a run (data, golden set, guard, model) and finishing it
(best adapter, lineage file, model card). ``fit`` runs a whole recipe; sft.py / dpo.py / kto.py
each name TRL's config and trainer and the arguments that are theirs.

Output folder layout::

    <output_dir>/adapter_config.json, adapter_model.safetensors   the best checkpoint's adapter
    <output_dir>/tokenizer files                                  with the chat template trained with
    <output_dir>/README.md                                        the model card
    <output_dir>/sluice_train.json                                config, lineage, golden hash, curves
    <output_dir>/checkpoints/checkpoint-N/                        evaluated checkpoints (best kept)
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.errors import RecipeError, SluiceError

from .info import INFO_FILE, read_info  # noqa: F401 (read_info: re-exported)

log = logging.getLogger("sluice.train")


@dataclass
class Prepared:
    cfg: Any
    model_id: str
    tokenizer: Any
    model: Any
    train: Any  # datasets.Dataset
    eval: Any | None
    lineage: list[dict]
    golden: dict | None
    guard: Any
    warnings: list[str] = field(default_factory=list)


@dataclass
class TrainResult:
    output_dir: Path
    card: Path
    info: dict

    @property
    def metrics(self) -> dict:
        return self.info["metrics"]


def prepare(cfg, store, method: str) -> Prepared:
    """Everything before the first step; every check that can fail, fails here."""
    from . import data as D
    from .peft_setup import load_model, load_tokenizer, quantization_config
    from .template import anti_patterns, guard, preformatted

    if not cfg.model or not cfg.data:
        raise RecipeError(f"train {method} needs a model and a dataset",
                          hint="pass --model ID_OR_PATH --data NAME@vN (or model:/data: in --config)")
    quantization_config(cfg)  # QLoRA without CUDA fails before anything is read
    split = D.load_split(store, method, cfg.data, cfg.eval_data, cfg.eval_fraction, cfg.seed)
    golden = None
    if cfg.golden:
        _, golden = D.load_golden(store, cfg.golden)
    D.check_no_overlap(split, golden["ref"] if golden else None, store)  # and every frozen golden set
    tokenizer = load_tokenizer(cfg.model)
    samples = guard_samples(split.train)
    only = getattr(cfg, "assistant_only_loss", False)
    result = guard(tokenizer, samples[0], assistant_only_loss=only)
    for other in samples[1:]:  # a tool-call conversation too, when the data has one
        guard(tokenizer, other, assistant_only_loss=only)
    preformatted(split.train + split.eval, result.family)
    if result.patched:
        tokenizer.chat_template = result.template  # trained (and saved) with the generation-tagged variant
    warnings = anti_patterns(cfg, len(split.train), cfg.model)
    for w in warnings:
        log.warning(w)
    model = load_model(cfg, cfg.model)
    return Prepared(cfg, cfg.model, tokenizer, model, D.to_dataset(split.train),
                    D.to_dataset(split.eval) if split.eval else None, split.lineage, golden, result, warnings)


def conversation(row: dict) -> list[dict]:
    """A training row as the whole conversation the template renders."""
    if "messages" in row:
        return row["messages"]
    if "reference" in row:  # GRPO: the prompt and its reference answer
        return row["prompt"] + [{"role": "assistant", "content": row["reference"]}]
    return row["prompt"] + row.get("chosen", row.get("completion"))


def guard_samples(rows: list[dict]) -> list[list[dict]]:
    """The first row's conversation, and the first one with an assistant tool call if that is another."""
    first = conversation(rows[0])
    calls = next((c for c in map(conversation, rows) if any(m["role"] == "assistant" and "<tool_call>" in
                                                            (m.get("content") or "") for m in c)), None)
    return [first] if calls is None or calls is first else [first, calls]


def training_args(cfg, prep: Prepared, config_cls, **method_args):
    """Our config → TRL's config for the method (TRL/transformers argument names live only here)."""
    from .peft_setup import use_bf16

    has_eval = prep.eval is not None and len(prep.eval) > 0
    out = Path(cfg.output_dir) / "checkpoints"
    kwargs = dict(
        output_dir=str(out), learning_rate=cfg.learning_rate, num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps, per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, lr_scheduler_type=cfg.lr_scheduler_type,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        **checkpointing_args(config_cls, cfg.gradient_checkpointing),
        seed=cfg.seed, logging_steps=cfg.logging_steps, report_to="none", bf16=use_bf16(),
        max_length=cfg.max_length, disable_tqdm=True, dataloader_pin_memory=use_bf16(),
        # ORPO/SimPO batches carry no `input_ids` (prompt_/chosen_/rejected_…), so transformers cannot count
        # their tokens: there the card says tokens/s is unknown rather than 0
        include_num_input_tokens_seen="no" if cfg.method in ("orpo", "simpo") else "non_padding",
        eval_strategy="steps" if has_eval else "no", eval_steps=cfg.eval_steps,
        save_strategy="steps", save_steps=cfg.eval_steps, save_total_limit=cfg.save_total_limit,
        # Under FSDP/DeepSpeed the Trainer refuses save_only_model with load_best_model_at_end: there the
        # checkpoints keep the (sharded) optimizer state too, and the best one is still reloaded.
        save_only_model=not sharded_launch(), load_best_model_at_end=has_eval, metric_for_best_model="eval_loss",
        greater_is_better=False)
    params = inspect.signature(config_cls).parameters
    if "max_length" not in params:  # GRPO: max_completion_length instead
        kwargs.pop("max_length")
    # transformers 5 reads a float warmup_steps below 1 as a share of the steps and has no warmup_ratio;
    # 4.x (the floor, 4.56.2) wants an int there and takes the share as warmup_ratio
    kwargs["warmup_ratio" if "warmup_ratio" in params else "warmup_steps"] = cfg.warmup_ratio
    args = config_cls(**{**kwargs, **method_args})
    check_launch(args.world_size)
    return args


def check_launch(world_size: int) -> None:
    """Refuse a multi-process launch that the trainer does not see as one: each process would train
    its own copy and all would write the same folder. accelerate does this without a word when FSDP
    or DeepSpeed is asked for on a machine without GPUs (it shards only on accelerators)."""
    import os

    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and world_size != launched:
        how = f" with {sharded_launch()}" if sharded_launch() else ""
        raise RecipeError(
            f"launched as {launched} processes{how}, but the trainer sees {world_size}: each process would train "
            "and save its own copy",
            hint="FSDP/DeepSpeed shard only on GPUs; for data parallel on CPU run "
                 "`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N ...` (gloo)")


def sharded_launch() -> str | None:
    """'FSDP' or 'DeepSpeed' when `accelerate launch` set this process up to shard the model, else None
    (accelerate tells the Trainer through these environment variables)."""
    import os

    for var, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if os.environ.get(var, "").lower() in ("1", "true", "yes"):
            return name
    return None


def checkpointing_args(config_cls, enabled: bool) -> dict:
    """Activation checkpointing under the name this transformers takes (``gradient_checkpointing``
    became ``activation_checkpointing``; the old name warns)."""
    name = ("activation_checkpointing" if "activation_checkpointing" in inspect.signature(config_cls).parameters
            else "gradient_checkpointing")
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False} if enabled else None}


def callbacks(cfg, prep: Prepared):
    from .callbacks import LossHistory, Throughput, early_stopping

    history = LossHistory()
    history.throughput = Throughput()
    extra = early_stopping(cfg) if prep.eval is not None and len(prep.eval) else []
    return history, [history, history.throughput, *extra]


def packing_efficiency(trainer, cfg) -> float | None:
    """Share of the packed blocks' max_length filled with real tokens (SFT with packing), else None."""
    if not getattr(cfg, "packing", False):
        return None
    ds = trainer.train_dataset
    if ds is None or "input_ids" not in getattr(ds, "column_names", []) or not len(ds):
        return None
    lengths = [len(x) for x in ds["input_ids"]]
    return round(sum(lengths) / (len(lengths) * cfg.max_length), 4)


def fit(cfg, store, method: str, config_cls, trainer_cls, trainer_args: dict | None = None,
        **method_args) -> TrainResult:
    """One training run: prepare, build TRL's config and trainer, train, finish."""
    from .peft_setup import lora_config

    started = time.perf_counter()
    prep = prepare(cfg, store, method)
    args = training_args(cfg, prep, config_cls, **method_args)
    history, cbs = callbacks(cfg, prep)
    trainer = trainer_cls(
        model=prep.model, args=args, train_dataset=prep.train, eval_dataset=prep.eval,
        processing_class=prep.tokenizer, callbacks=cbs,
        peft_config=None if cfg.init_adapter else lora_config(cfg), **(trainer_args or {}))
    start(trainer)
    return finish(trainer, prep, history, started)


def start(trainer) -> None:
    """Train, with progress lines on stderr instead of transformers' stdout printer."""
    from transformers.trainer_callback import PrinterCallback

    from .callbacks import StderrLog

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(StderrLog())
    try:
        trainer.train()
    except KeyError as e:  # transformers: metric_for_best_model missing from an evaluation that saw no batch
        if "metric_for_best_model" not in str(e):
            raise
        n = len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0
        raise SluiceError(f"the evaluation produced no eval_loss ({n} eval row(s) after the trainer's own "
                          "filtering): none survived max_length or formed a batch",
                          hint="raise eval_fraction or max_length, or pass eval_data=NAME@vN with more rows") from None


def finish(trainer, prep: Prepared, history, started: float) -> TrainResult:
    """Save the best adapter, the lineage file and the model card into the output folder."""
    from .card import write_card

    cfg = prep.cfg
    out = Path(cfg.output_dir)
    peft_model = trainer.accelerator.unwrap_model(trainer.model)
    adapters = sorted(getattr(peft_model, "peft_config", {}) or {})
    if "ref" in adapters:  # the frozen reference copy of init_adapter is not part of the result
        peft_model.delete_adapter("ref")
    processes = rank_agreement(trainer)
    trainer.save_model(str(out))  # after load_best_model_at_end: the best checkpoint's adapter
    prep.tokenizer.save_pretrained(str(out))
    state = trainer.state
    reference = None
    if cfg.method in ("dpo", "kto"):
        reference = ("frozen copy of init_adapter as PEFT adapter 'ref' on the shared base weights"
                     if "ref" in adapters else "base model with the adapter disabled (shared weights)") \
            if getattr(trainer, "ref_model", None) is None else "separate reference model"
    last_eval = next((h["eval_loss"] for h in reversed(state.log_history) if "eval_loss" in h), None)
    info = {
        "method": cfg.method,
        "base_model": prep.model_id,
        "config": cfg.model_dump(mode="json"),
        "datasets": prep.lineage,
        "golden": prep.golden,
        "chat_template": {"patched_with_generation_tags": prep.guard.patched,
                          "sample_assistant_tokens": prep.guard.assistant_tokens,
                          "sample_tokens": prep.guard.total_tokens},
        "warnings": prep.warnings,
        "reference_model": reference,
        "processes": processes,
        "metrics": {"global_step": state.global_step, "max_steps": state.max_steps,
                    "best_eval_loss": state.best_metric, "last_eval_loss": last_eval,
                    "best_checkpoint": state.best_model_checkpoint,
                    "stopped_early": bool(state.max_steps and state.global_step < state.max_steps),
                    "train_rows": len(prep.train), "eval_rows": len(prep.eval) if prep.eval is not None else 0,
                    "seconds": round(time.perf_counter() - started, 2),
                    "throughput": {**history.throughput.summary,
                                   "packing_efficiency": packing_efficiency(trainer, cfg)}},
        "curves": {"train_loss": history.train, "eval_loss": history.eval, "reward": history.reward},
        "eval": None,
    }
    card = out / "README.md"
    if trainer.is_world_process_zero():  # under `accelerate launch`, one process writes
        (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        card = write_card(out, info)
    return TrainResult(out, card, info)


def rank_agreement(trainer) -> dict:
    """How many processes trained, and a digest of the trainable weights each one holds at the end.

    Data-parallel ranks must finish with the same adapter; a difference means the gradients were not
    synchronised, and the run fails instead of saving one rank's copy as the result."""
    import hashlib

    state = trainer.accelerator.state
    n = state.num_processes
    out = {"count": n, "distributed_type": str(state.distributed_type).rsplit(".", 1)[-1]}
    if n <= 1:
        return out
    import torch.distributed as dist

    h = hashlib.sha256()
    for name, p in sorted(trainer.model.named_parameters()):
        if p.requires_grad:
            t = p.full_tensor() if hasattr(p, "full_tensor") else p  # FSDP2 shards are DTensors
            h.update(name.encode() + t.detach().float().cpu().numpy().tobytes())
    digests: list = [None] * n
    dist.all_gather_object(digests, h.hexdigest())
    out["adapter_sha256"] = digests
    if len(set(digests)) != 1:
        raise SluiceError(f"the {n} training processes ended with different adapters ({len(set(digests))} "
                          "distinct weight digests): gradients were not synchronised, so no result is saved",
                          hint="check the launcher configuration (accelerate config) and rerun")
    return out
