"""SFT recipe: conversation dataset → LoRA/DoRA adapter with assistant-only loss and packing.

>>> from sluice.train.config import load_config
>>> from sluice.train.sft import train
>>> result = train(load_config("sft", model="Qwen/Qwen2.5-0.5B", data="curated@latest"), store)
"""

from __future__ import annotations

import time

from .run import TrainResult, callbacks, finish, prepare, start, training_args


def train(cfg, store) -> TrainResult:
    import trl

    from .peft_setup import lora_config

    started = time.perf_counter()
    prep = prepare(cfg, store, "sft")
    args = training_args(cfg, prep, trl.SFTConfig, packing=cfg.packing, packing_strategy="bfd",
                         assistant_only_loss=cfg.assistant_only_loss)
    history, cbs = callbacks(cfg, prep)
    trainer = trl.SFTTrainer(
        model=prep.model, args=args, train_dataset=prep.train, eval_dataset=prep.eval,
        processing_class=prep.tokenizer, callbacks=cbs,
        peft_config=None if cfg.init_adapter else lora_config(cfg))
    start(trainer)
    return finish(trainer, prep, history, started)
