"""sluice.train — TRL SFT / DPO / KTO recipes on versioned datasets, with PEFT LoRA/DoRA (QLoRA on
CUDA), a chat-template guard, early stopping, an eval gate and a model card.

Import-light: trl, peft, transformers and torch are imported inside the functions that use them.

>>> from sluice.train import train
>>> result = train("sft", store, model="Qwen/Qwen2.5-0.5B", data="curated@latest", output_dir="adapters/v1")
"""

from __future__ import annotations

import warnings

# PEFT and TRL still call transformers' old `*gradient_checkpointing*` aliases, which warn on every
# run, load and eval: those calls are theirs, not the user's to fix (sluice passes the new names).
warnings.filterwarnings("ignore", message=r"`(is_)?gradient_checkpointing\w*` is deprecated", category=FutureWarning)


def train(method: str, store, *, yaml_path=None, overrides=None, **values):
    """Build the method's config and run its recipe; returns a ``run.TrainResult``."""
    import importlib

    from .config import load_config

    cfg = load_config(method, yaml_path=yaml_path, overrides=overrides, **values)
    return importlib.import_module(f"sluice.train.{method}").train(cfg, store)
