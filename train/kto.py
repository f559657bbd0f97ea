"""KTO recipe: kto dataset (prompt, completion, desirable label) → LoRA/DoRA adapter.

Like DPO, the reference model is the base model with the adapter disabled, or, from
``init_adapter``, a frozen copy of that adapter on the same base weights.
"""

from __future__ import annotations

from .run import TrainResult, fit


def train(cfg, store) -> TrainResult:
    import trl

    return fit(cfg, store, "kto", trl.KTOConfig, trl.KTOTrainer, {"ref_model": None},
               beta=cfg.beta, desirable_weight=cfg.desirable_weight, undesirable_weight=cfg.undesirable_weight)
