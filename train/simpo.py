"""SimPO recipe: preference dataset → LoRA/DoRA adapter, with TRL's CPOTrainer and ``loss_type="simpo"``
(trl.experimental).

SimPO's implicit reward is the length-normalised log-likelihood, so it needs no reference model;
the loss asks the chosen answer to beat the rejected one by the margin ``simpo_gamma`` on the scale
``beta``. ``cpo_alpha`` > 0 adds the NLL of the chosen answer (CPO-SimPO).
"""

from __future__ import annotations

from .run import TrainResult, fit


def train(cfg, store) -> TrainResult:
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    return fit(cfg, store, "simpo", CPOConfig, CPOTrainer, loss_type="simpo", beta=cfg.beta,
               simpo_gamma=cfg.simpo_gamma, cpo_alpha=cfg.cpo_alpha)
