"""Trainer callbacks: early stopping on eval loss, the loss curves the model card draws, and throughput
(tokens/s over non-padding input tokens, peak memory) in the training log.

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
    """Collects (step, train loss), (step, eval loss) and, for GRPO, (step, mean reward) for the model card."""

    def __init__(self):
        self.train: list[tuple[int, float]] = []
        self.eval: list[tuple[int, float]] = []
        self.reward: list[tuple[int, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.train.append((state.global_step, float(logs["loss"])))
        if "eval_loss" in logs:
            self.eval.append((state.global_step, float(logs["eval_loss"])))
        if "reward" in logs:  # GRPO: mean reward of the step's sampled completions
            self.reward.append((state.global_step, float(logs["reward"])))


class StderrLog(TrainerCallback):
    """One compact line per log event on stderr, so stdout stays clean for ``--json``."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        import sys

        keys = ("loss", "eval_loss", "learning_rate", "grad_norm", "rewards/margins", "kl", "reward", "reward_std")
        shown = " ".join(f"{k}={logs[k]:.4g}" for k in keys if isinstance((logs or {}).get(k), (int, float)))
        if shown:
            print(f"step {state.global_step}/{state.max_steps} {shown}", file=sys.stderr, flush=True)


def peak_memory_mb() -> dict:
    """Peak memory so far: the GPU's allocator peak when CUDA is used, else this process's peak RSS."""
    import torch

    if torch.cuda.is_available():
        return {"peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return {"peak_rss_mb": round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)}


class Throughput(TrainerCallback):
    """Tokens per second (non-padding input tokens, all processes) and peak memory, on stderr every log
    event and in ``summary`` at the end."""

    def __init__(self):
        self.started: float | None = None
        self.summary: dict = {}

    def on_train_begin(self, args, state, control, **kwargs):
        import time

        self.started = time.perf_counter()

    def _rate(self, state) -> dict:
        import time

        seconds = time.perf_counter() - (self.started or time.perf_counter())
        tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        return {"tokens_seen": tokens, "train_seconds": round(seconds, 2),
                "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 and tokens else None,
                **peak_memory_mb()}

    def on_log(self, args, state, control, logs=None, **kwargs):
        import sys

        if state.is_world_process_zero and logs and "loss" in logs:
            r = self._rate(state)
            mem = ", ".join(f"{k} {v}" for k, v in r.items() if k.startswith("peak"))
            print(f"step {state.global_step}/{state.max_steps} throughput {r['tokens_per_second']} tokens/s, {mem}",
                  file=sys.stderr, flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        self.summary = self._rate(state)
