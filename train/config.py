"""One config model per method. The same model serves Python, CLI ``key=value`` flags and YAML.

Each field is described once, here; ``sluice train options sft`` prints the descriptions.
Defaults follow current practice for LoRA post-training: r=16, alpha=32, dropout 0.05, DoRA,
all linear projections; lr 2e-4 for SFT and 5e-6 for DPO/KTO, beta 0.1; cosine schedule with
warmup; gradient checkpointing; assistant-only loss and packing for SFT.

>>> cfg = load_config("sft", yaml_path="examples/train/sft.yaml", overrides=["num_train_epochs=1"])

``train.yaml`` holds the fields at the top level, or under ``train:`` (so one file can also
carry other sections)::

    train:
      model: Qwen/Qwen2.5-0.5B-Instruct
      data: curated@latest
      lora_r: 16
      learning_rate: 2.0e-4
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import RecipeError, SluiceError


class GateRule(BaseModel):
    """The promotion rule of the eval gate: when may a candidate adapter replace the incumbent.

    The incumbent is the currently promoted adapter of the lineage (``sluice models promote``),
    else the adapter a second round started from, else the base model. The comparison is per
    golden item and paired; the candidate is promoted only when the lower bound of the bootstrap
    confidence interval of its mean gain exceeds ``min_gain``.
    """

    model_config = ConfigDict(extra="forbid")

    metric: Literal["loglik", "exact_match", "rouge_l", "judge"] = Field(
        "loglik", description="metric the rule compares: loglik (mean log-prob per reference token, no "
                              "generation), rouge_l, exact_match, judge (needs a judge endpoint)")
    min_gain: float = Field(0.0, description="the CI lower bound of the per-item gain over the incumbent must be "
                                             "strictly greater than this")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="confidence level of the paired bootstrap interval")
    max_category_regression: float = Field(
        0.05, ge=0.0, description="no golden-set category's mean may fall more than this below the incumbent's")
    min_score: float | None = Field(None, description="optional absolute floor for the candidate's mean")
    required: list[Literal["loglik", "exact_match", "rouge_l", "judge"]] = Field(
        default_factory=list, description="further metrics that must be computed for every item (reported)")
    min_parsed: float = Field(0.9, ge=0.0, le=1.0, description="judge: the share of items whose judgment parsed, "
                                                               "on each side, below which the gate fails")


class TrainConfig(BaseModel):
    """Settings every method shares."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # what to train
    model: str | None = Field(None, description="base model: hub id or local folder")
    data: str | None = Field(None, description="training dataset reference NAME@vN or NAME@latest")
    eval_data: str | None = Field(None, description="validation dataset reference (default: split column or eval_fraction)")
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0,
                                 description="held-out share of data for validation when it has no split column")
    golden: str | None = Field(None, description="frozen golden set (conversation dataset) for the eval gate; "
                                                 "its content hash is recorded and overlapping training rows refused")
    output_dir: str = Field("adapters/run", description="folder the adapter, checkpoints and model card go to")
    init_adapter: str | None = Field(None, description="continue from this adapter folder (second round)")
    # LoRA / DoRA / QLoRA
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling alpha")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA path")
    use_dora: bool = Field(True, description="weight-decomposed LoRA (DoRA)")
    target_modules: str | list[str] = Field("all-linear", description="modules to adapt ('all-linear' or names)")
    load_in_4bit: bool = Field(False, description="QLoRA: 4-bit NF4 base weights, double quantization, "
                                                  "bf16 compute (needs a CUDA GPU and bitsandbytes)")
    # optimisation
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate")
    num_train_epochs: float = Field(2.0, gt=0, description="epochs over the training data (1-3 is typical)")
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use epochs)")
    per_device_train_batch_size: int = Field(4, ge=1, description="batch size per device")
    gradient_accumulation_steps: int = Field(4, ge=1, description="micro-batches per optimizer step")
    lr_scheduler_type: str = Field("cosine", description="learning-rate schedule")
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0, description="share of steps spent warming up")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    gradient_checkpointing: bool = Field(True, description="recompute activations to save memory")
    max_length: int = Field(1024, ge=16, description="tokens per example (per packed block for SFT)")
    seed: int = Field(42, description="random seed")
    # validation and checkpoints
    eval_steps: int = Field(50, ge=1, description="evaluate (and checkpoint) every N optimizer steps")
    early_stopping_patience: int | None = Field(
        3, ge=1, description="stop after N evaluations without improvement (null: never)")
    early_stopping_threshold: float = Field(0.0, ge=0.0, description="minimum eval-loss improvement that counts")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept on disk (the best is always kept)")
    logging_steps: int = Field(10, ge=1, description="log the training loss every N steps")
    # eval gate
    gate: GateRule = Field(default_factory=GateRule, description="promotion rule for `sluice train eval`")

    method: str = "base"

    def fields_help(self) -> list[tuple[str, str, str]]:
        return [(name, repr(getattr(self, name)), f.description or "")
                for name, f in type(self).model_fields.items() if name != "method"]


class SFTConfig(TrainConfig):
    """Supervised fine-tuning on conversation datasets."""

    method: Literal["sft"] = "sft"
    assistant_only_loss: bool = Field(True, description="loss only on assistant tokens (needs generation tags, "
                                                        "patched in for known templates)")
    packing: bool = Field(True, description="pack examples into max_length blocks (best-fit decreasing)")


class DPOConfig(TrainConfig):
    """Direct preference optimisation on preference datasets."""

    method: Literal["dpo"] = "dpo"
    learning_rate: float = Field(5e-6, gt=0, description="peak learning rate")
    num_train_epochs: float = Field(1.0, gt=0, description="epochs over the training data (1-3 is typical)")
    beta: float = Field(0.1, gt=0, description="strength of the KL penalty toward the reference model")
    loss_type: str = Field("sigmoid", description="DPO loss variant (sigmoid, ipo, hinge, ...)")


class KTOConfig(TrainConfig):
    """Kahneman-Tversky optimisation on kto datasets (prompt, completion, desirable label)."""

    method: Literal["kto"] = "kto"
    learning_rate: float = Field(5e-6, gt=0, description="peak learning rate")
    num_train_epochs: float = Field(1.0, gt=0, description="epochs over the training data (1-3 is typical)")
    beta: float = Field(0.1, gt=0, description="strength of the KL penalty toward the reference model")
    desirable_weight: float = Field(1.0, gt=0, description="loss weight of desirable examples")
    undesirable_weight: float = Field(1.0, gt=0, description="loss weight of undesirable examples")
    per_device_train_batch_size: int = Field(
        4, ge=2, description="batch size per device (KTO needs >= 2 to estimate its KL term)")


class ORPOConfig(TrainConfig):
    """Odds-ratio preference optimisation on preference datasets: SFT and preference in one loss, no
    reference model (TRL's ORPOTrainer)."""

    method: Literal["orpo"] = "orpo"
    learning_rate: float = Field(8e-6, gt=0, description="peak learning rate (the ORPO paper's 8e-6)")
    num_train_epochs: float = Field(1.0, gt=0, description="epochs over the training data (1-3 is typical)")
    beta: float = Field(0.1, gt=0, description="weight of the odds-ratio term against the NLL term (lambda)")


class SimPOConfig(TrainConfig):
    """Simple preference optimisation on preference datasets: length-normalised log-likelihood margin,
    no reference model (TRL's CPOTrainer with loss_type="simpo")."""

    method: Literal["simpo"] = "simpo"
    learning_rate: float = Field(5e-6, gt=0, description="peak learning rate")
    num_train_epochs: float = Field(1.0, gt=0, description="epochs over the training data (1-3 is typical)")
    beta: float = Field(2.0, gt=0, description="reward scale (the SimPO paper uses 2.0-2.5)")
    simpo_gamma: float = Field(1.0, ge=0, description="target reward margin gamma (gamma/beta of about 0.5)")
    cpo_alpha: float = Field(0.0, ge=0, description="weight of an added NLL term on chosen answers "
                                                    "(0: pure SimPO; >0: CPO-SimPO)")


GRPO_REWARDS = ("exact_match", "tool_call", "format", "judge")


class GRPOConfig(TrainConfig):
    """Group relative policy optimisation on conversation datasets: the prompt is every turn before
    the last assistant turn, and that turn is the reference the verifiable rewards check against."""

    method: Literal["grpo"] = "grpo"
    learning_rate: float = Field(1e-5, gt=0, description="peak learning rate")
    num_train_epochs: float = Field(1.0, gt=0, description="epochs over the training data (1-3 is typical)")
    eval_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="held-out share of data for validation "
                                                                  "(GRPO validates on mean reward)")
    rewards: list[Literal["exact_match", "tool_call", "format", "judge"]] = Field(
        default_factory=lambda: ["exact_match", "tool_call", "format"],
        description="reward functions: exact_match (answer equals the reference, text turns), tool_call "
                    "(call parses, names an offered tool, arguments valid under its JSON schema, equals the "
                    "reference call), format (well-formed output of the reference's kind), judge (LLM judge "
                    "vs the reference; needs judge_llm)")
    reward_weights: list[float] | None = Field(None, description="one weight per reward (default: all 1)")
    num_generations: int = Field(4, ge=2, description="completions sampled per prompt (the group)")
    max_completion_length: int = Field(256, ge=1, description="tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the completions")
    beta: float = Field(0.0, ge=0, description="KL penalty toward the reference model (0: none, as in DAPO/Dr GRPO)")
    judge_llm: str | None = Field(None, description="LLM YAML (synth format; its judge entry, else llm) for the "
                                                    "judge reward")
    judge_rubric: str = Field("helpfulness", description="PrometheusEval rubric of the judge reward")
    allow_unredacted: bool = Field(False, description="let a remote judge see data with no PII redaction in its "
                                                      "lineage (recorded)")


CONFIGS: dict[str, type[TrainConfig]] = {"sft": SFTConfig, "dpo": DPOConfig, "kto": KTOConfig, "orpo": ORPOConfig,
                                         "simpo": SimPOConfig, "grpo": GRPOConfig}


def parse_overrides(pairs: list[str]) -> dict:
    """``["lora_r=64", "gate.min_gain=0.02"]`` → a nested dict; values are read as YAML scalars."""
    import yaml

    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"cannot read setting {pair!r}", hint="write settings as key=value, e.g. lora_r=32")
        value = yaml.safe_load(raw) if raw.strip() else None
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def load_config(method: str, *, yaml_path: str | Path | None = None, overrides: list[str] | None = None,
                **values) -> TrainConfig:
    """Build the method's config: YAML file, then ``key=value`` overrides, then explicit values."""
    from sluice.yamlfile import read_yaml

    if method not in CONFIGS:
        raise SluiceError(f"unknown training method {method!r}", hint=f"use one of {sorted(CONFIGS)}")
    merged: dict = {}
    where = "settings"
    locate = None
    in_file: set = set()
    if yaml_path is not None:
        file = read_yaml(yaml_path, what="config file", hint="pass --config PATH to a train YAML")
        path, loaded, where = file.path, file.data or {}, str(file.path)
        if not isinstance(loaded, dict):
            raise RecipeError(f"{path}: expected a mapping of settings")
        merged = dict(loaded.get("train", loaded))
        nest, in_file = ("train",) if "train" in loaded else (), set(merged)

        def locate(loc: tuple) -> str:  # the line of a setting the file gave (not an override's)
            return file.locate(nest + tuple(loc)) + ": " if loc and loc[0] in in_file else ""

        file_method = merged.pop("method", method)
        if file_method != method:
            raise RecipeError(f"{path} is a {file_method} config, but you ran `sluice train {method}`",
                              hint=f"run `sluice train {file_method}` or remove 'method:' from the file")
    for key, value in parse_overrides(overrides or []).items():
        in_file.discard(key)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    given = {k: v for k, v in values.items() if v is not None}
    in_file -= set(given)
    merged.update(given)
    try:
        return CONFIGS[method](**merged)
    except ValidationError as e:
        known = ", ".join(n for n in CONFIGS[method].model_fields if n != "method")
        problems = [f"{locate(err['loc']) if locate else ''}{'.'.join(str(p) for p in err['loc'])}: "
                    f"{err['msg']}" for err in e.errors()]
        raise RecipeError(f"invalid {method} settings in {where}", problems=problems,
                          hint=f"known settings: {known}. See `sluice train options {method}`") from None
