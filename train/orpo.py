"""ORPO recipe: preference dataset → LoRA/DoRA adapter, with TRL's ORPOTrainer (trl.experimental).

ORPO adds an odds-ratio preference term to the NLL of the chosen answer, so it needs no SFT round
and no reference model: one model, one pass per pair (``beta`` is the paper's lambda).
"""

from __future__ import annotations

from .run import TrainResult, fit


def train(cfg, store) -> TrainResult:
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return fit(cfg, store, "orpo", ORPOConfig, ORPOTrainer, beta=cfg.beta)
