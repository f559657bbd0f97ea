"""DPO recipe: preference dataset → LoRA/DoRA adapter.

First round: a fresh adapter on the base model; the reference model is the base model with the
adapter disabled. Second round (``init_adapter``): the SFT adapter is loaded trainable and TRL
copies it into a frozen ``ref`` adapter, so the reference is the SFT policy on the same base
weights — no second full copy of the model.
"""

from __future__ import annotations

import time

from .run import TrainResult, callbacks, finish, prepare, start, training_args


def train(cfg, store) -> TrainResult:
    import trl

    from .peft_setup import lora_config

    started = time.perf_counter()
    prep = prepare(cfg, store, "dpo")
    args = training_args(cfg, prep, trl.DPOConfig, beta=cfg.beta, loss_type=[cfg.loss_type])
    history, cbs = callbacks(cfg, prep)
    trainer = trl.DPOTrainer(
        model=prep.model, ref_model=None, args=args, train_dataset=prep.train, eval_dataset=prep.eval,
        processing_class=prep.tokenizer, callbacks=cbs,
        peft_config=None if cfg.init_adapter else lora_config(cfg))
    start(trainer)
    return finish(trainer, prep, history, started)
