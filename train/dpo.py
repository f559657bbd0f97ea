"""DPO recipe: preference dataset → LoRA/DoRA adapter.

First round: a fresh adapter on the base model; the reference model is the base model with the
adapter disabled. Second round (``init_adapter``): the SFT adapter is loaded trainable and TRL
copies it into a frozen ``ref`` adapter, so the reference is the SFT policy on the same base
weights — no second full copy of the model.
"""

from __future__ import annotations

from .run import TrainResult, fit


def train(cfg, store) -> TrainResult:
    import trl

    return fit(cfg, store, "dpo", trl.DPOConfig, trl.DPOTrainer, {"ref_model": None},
               beta=cfg.beta, loss_type=[cfg.loss_type])
