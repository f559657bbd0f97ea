"""GRPO recipe: conversation dataset → LoRA/DoRA adapter, with TRL's GRPOTrainer and rewards from the data.

Each row's prompt is its turns before the last assistant turn; that turn is the reference the
rewards check (``sluice.train.rewards``: exact match, tool-call validity under the row's JSON
schemas, format, and an optional LLM judge). The model samples ``num_generations`` completions per
prompt and learns from their rewards relative to the group's mean.

A judge reward sends prompts, completions and references to the judge: the privacy guard of
``sluice.synth.grader`` runs first (a non-loopback judge only sees redacted data), before any weights
are loaded.
"""

from __future__ import annotations

from sluice.errors import RecipeError

from .run import TrainResult, fit


def reward_funcs(cfg, store, backend=None) -> list:
    from .rewards import build

    spec = None
    if "judge" in cfg.rewards:
        if not cfg.judge_llm:
            raise RecipeError("the judge reward needs judge_llm",
                              hint="set judge_llm=PATH to an LLM YAML (its judge entry, else llm), or drop 'judge' "
                                   "from rewards")
        from sluice.synth.grader import guard
        from sluice.synth.runner import load_llm_file

        f = load_llm_file(cfg.judge_llm)
        spec = f.judge or f.llm
        guard(spec, store, version=store.resolve(cfg.data), what=f"{cfg.data} prompts and answers",
              allow_unredacted=cfg.allow_unredacted)
    if cfg.reward_weights is not None and len(cfg.reward_weights) != len(cfg.rewards):
        raise RecipeError(f"{len(cfg.reward_weights)} reward_weights for {len(cfg.rewards)} rewards {cfg.rewards}",
                          hint="give one weight per reward, in the same order")
    return build(list(cfg.rewards), judge_spec=spec, rubric=cfg.judge_rubric, backend=backend)


def train(cfg, store, *, judge_backend=None) -> TrainResult:
    import trl

    funcs = reward_funcs(cfg, store, judge_backend)
    return fit(cfg, store, "grpo", trl.GRPOConfig, trl.GRPOTrainer, {"reward_funcs": funcs},
               num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
               temperature=cfg.temperature, beta=cfg.beta, reward_weights=cfg.reward_weights,
               metric_for_best_model="eval_reward", greater_is_better=True)
