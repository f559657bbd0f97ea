"""Trainer callbacks: early stopping on eval loss, and the loss curves the model card draws.

The best checkpoint is kept, not the last: the trainer evaluates and checkpoints every
``eval_steps`` with ``load_best_model_at_end`` on ``eval_loss``, so at the end the weights in
memory (and the adapter saved to the output folder) are the best checkpoint's; checkpoint
rotation (``save_total_limit``) never deletes the best one.
"""

from __future__ import annotations

from transformers import EarlyStoppingCallback, TrainerCallback


def early_stopping(cfg) -> list:
    if cfg.early_stopping_patience is None:
        return []
    return [EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience,
                                  early_stopping_threshold=cfg.early_stopping_threshold)]


class LossHistory(TrainerCallback):
    """Collects (step, train loss) and (step, eval loss) for the model card."""

    def __init__(self):
        self.train: list[tuple[int, float]] = []
        self.eval: list[tuple[int, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.train.append((state.global_step, float(logs["loss"])))
        if "eval_loss" in logs:
            self.eval.append((state.global_step, float(logs["eval_loss"])))


class StderrLog(TrainerCallback):
    """One compact line per log event on stderr, so stdout stays clean for ``--json``."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        import sys

        keys = ("loss", "eval_loss", "learning_rate", "grad_norm", "rewards/margins", "kl")
        shown = " ".join(f"{k}={logs[k]:.4g}" for k in keys if isinstance((logs or {}).get(k), (int, float)))
        if shown:
            print(f"step {state.global_step}/{state.max_steps} {shown}", file=sys.stderr, flush=True)
