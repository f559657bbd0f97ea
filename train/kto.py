"""KTO recipe: kto dataset (prompt, completion, desirable label) → LoRA/DoRA adapter.

Like DPO, the reference model is the base model with the adapter disabled, or, from
``init_adapter``, a frozen copy of that adapter on the same base weights.
"""

from __future__ import annotations

import time

from .run import TrainResult, callbacks, finish, prepare, start, training_args


def train(cfg, store) -> TrainResult:
    import trl

    from .peft_setup import lora_config

    started = time.perf_counter()
    prep = prepare(cfg, store, "kto")
    args = training_args(cfg, prep, trl.KTOConfig, beta=cfg.beta, desirable_weight=cfg.desirable_weight,
                         undesirable_weight=cfg.undesirable_weight)
    history, cbs = callbacks(cfg, prep)
    trainer = trl.KTOTrainer(
        model=prep.model, ref_model=None, args=args, train_dataset=prep.train, eval_dataset=prep.eval,
        processing_class=prep.tokenizer, callbacks=cbs,
        peft_config=None if cfg.init_adapter else lora_config(cfg))
    start(trainer)
    return finish(trainer, prep, history, started)
