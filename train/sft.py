"""SFT recipe: conversation dataset → LoRA/DoRA adapter with assistant-only loss and packing.

>>> from sluice.train.config import load_config
>>> from sluice.train.sft import train
>>> result = train(load_config("sft", model="Qwen/Qwen2.5-0.5B", data="curated@latest"), store)
"""

from __future__ import annotations

from .run import TrainResult, fit


def train(cfg, store) -> TrainResult:
    import trl

    return fit(cfg, store, "sft", trl.SFTConfig, trl.SFTTrainer, packing=cfg.packing, packing_strategy="bfd",
               assistant_only_loss=cfg.assistant_only_loss)
