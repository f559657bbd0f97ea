"""The model card (README.md in the adapter folder), rendered from ``sluice_train.json``.

It records the base model, the adapter config, the datasets with versions and content hashes,
the hyperparameters, loss curves, eval results and the gate decision, and says how to serve the
adapter: vLLM multi-LoRA for LoRA, merge first for DoRA (vLLM does not serve DoRA adapters). ``sluice train eval`` re-renders it with the gate's results.
"""

from __future__ import annotations

import json
from pathlib import Path

_BARS = "▁▂▃▄▅▆▇█"
_HYPER = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
          "gradient_accumulation_steps", "lr_scheduler_type", "warmup_ratio", "max_length", "gradient_checkpointing",
          "packing", "assistant_only_loss", "beta", "loss_type", "desirable_weight", "undesirable_weight",
          "eval_steps", "early_stopping_patience", "seed", "load_in_4bit", "init_adapter")


def sparkline(values: list[float]) -> str:
    if not values:
        return "(no points)"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(_BARS[min(7, int((v - lo) / span * 7.999))] for v in values)


def _curve(name: str, points: list) -> list[str]:
    if not points:
        return [f"- {name}: not logged"]
    values = [v for _, v in points]
    return [f"- {name}: `{sparkline(values)}` {values[0]:.4f} → {values[-1]:.4f} "
            f"(min {min(values):.4f}, {len(values)} points, steps {points[0][0]}–{points[-1][0]})"]


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def render(folder: Path, info: dict) -> str:
    cfg = info["config"]
    adapter = {}
    if (folder / "adapter_config.json").is_file():
        adapter = json.loads((folder / "adapter_config.json").read_text())
    name = folder.name
    lines = ["---", f"base_model: {info['base_model']}", "library_name: peft",
             f"tags: [sluice, trl, {info['method']}, lora]", "---", "",
             f"# {name}", "",
             f"A {'DoRA' if adapter.get('use_dora') else 'LoRA'} adapter trained with `sluice train "
             f"{info['method']}` (TRL) on top of `{info['base_model']}`.", "",
             "## Adapter", "",
             "| setting | value |", "|---|---|"]
    for key in ("r", "lora_alpha", "lora_dropout", "use_dora", "target_modules", "task_type"):
        if key in adapter:
            value = adapter[key]
            if isinstance(value, list):  # peft expands all-linear to full names: show the projection kinds
                kinds = sorted({v.rsplit(".", 1)[-1] for v in value})
                value = f"{len(value)} modules: " + ", ".join(kinds)
            lines.append(f"| {key} | {value} |")
    lines += ["", "## Data", "", "| role | dataset | kind | rows | content sha256 |", "|---|---|---|---|---|"]
    for d in info["datasets"]:
        rows = f"{d.get('train_rows', d['rows'])} train / {d.get('eval_rows', 0)} eval" if "train_rows" in d \
            else d["rows"]
        lines.append(f"| {d['role']} | `{d['ref']}` | {d['kind']} | {rows} | `{d['content_sha256'][:16]}…` |")
    if info.get("golden"):
        g = info["golden"]
        lines.append(f"| golden (held out) | `{g['ref']}` | conversation | {g['rows']} | "
                     f"`{g['content_sha256'][:16]}…` |")
    if any("split" in d for d in info["datasets"]):
        lines.append("")
        lines += [f"Validation: {d['split']}." for d in info["datasets"] if "split" in d]
    lines += ["", "## Hyperparameters", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {cfg[k]} |" for k in _HYPER if k in cfg and cfg[k] is not None]
    m = info["metrics"]
    lines += ["", "## Training", "",
              f"- optimizer steps: {m['global_step']} of {m['max_steps']}"
              + (" (stopped early: no eval-loss improvement)" if m.get("stopped_early") else ""),
              f"- best eval loss: {m['best_eval_loss']}" + (f" at `{Path(m['best_checkpoint']).name}` — the adapter "
                                                             "here is that checkpoint" if m.get("best_checkpoint") else ""),
              f"- wall time: {m['seconds']} s"] + throughput_lines(m.get("throughput"))
    if info.get("reference_model"):
        lines.append(f"- reference model: {info['reference_model']}")
    lines.append("")
    lines += _curve("train loss", info["curves"]["train_loss"]) + _curve("eval loss", info["curves"]["eval_loss"])
    if info["curves"].get("reward"):  # GRPO
        lines += _curve("mean reward", info["curves"]["reward"])
    if info.get("warnings"):
        lines += ["", "Warnings at training time:", ""] + [f"- {w}" for w in info["warnings"]]
    lines += ["", "## Evaluation and gate", ""]
    ev = info.get("eval")
    if not ev:
        lines.append("Not evaluated yet: `sluice train eval --adapter " + str(folder) + " --golden REF`.")
    else:
        inc = ev["incumbent"]
        against = "the base model" if inc["kind"] == "base" else f"adapter `{inc['path']}` ({inc['why']})"
        lines += [f"Golden set `{ev['golden']['ref']}` ({ev['golden']['rows']} items, content sha256 "
                  f"`{ev['golden']['content_sha256'][:16]}…`), compared per item with {against}.", "",
                  "| metric | incumbent | candidate | gain | CI low | CI high |", "|---|---|---|---|---|---|"]
        for metric, g in ev["decision"]["gains"].items():
            lines.append(f"| {metric} | {_num(g['incumbent'])} | {_num(g['candidate'])} | {_num(g['mean'])} | "
                         f"{_num(g['ci_low'])} | {_num(g['ci_high'])} |")
        cats = ev["decision"]["by_category"]
        if len(cats) > 1:
            lines += ["", f"By category ({ev['rule']['metric']}):", "", "| category | items | incumbent | candidate |",
                      "|---|---|---|---|"]
            lines += [f"| {c} | {v['n']} | {_num(v['incumbent'])} | {_num(v['candidate'])} |" for c, v in cats.items()]
        d = ev["decision"]
        lines += ["", f"**Gate: {'PASSED — promote' if d['passed'] else 'FAILED — do not promote'}** "
                      f"(rule: {d['rule_text']}).", ""] + [f"- {r}" for r in d["reasons"]]
    lines += ["", "## Serve", ""] + serve_lines(folder, info, adapter, cfg)
    return "\n".join(lines)


def serve_lines(folder: Path, info: dict, adapter: dict, cfg: dict) -> list[str]:
    """A serving command that works for what was trained: vLLM multi-LoRA for LoRA adapters (rank
    from the adapter's own config); merge first for DoRA, which vLLM does not serve as a LoRA."""
    name, path = folder.name, folder.resolve()
    rank = adapter.get("r", cfg.get("lora_r"))
    verify = f"sluice models verify --adapter {path}"
    if adapter.get("use_dora"):
        return ["This is a DoRA adapter: vLLM cannot serve DoRA adapters with `--enable-lora` (\"vLLM does not "
                "yet support DoRA\"). Merge it into full weights first, then serve the merged model:", "",
                "```bash", f"{verify}   # a promoted adapter must verify first",
                f"sluice train merge --adapter {path} --out {path}-merged",
                f"vllm serve {path}-merged --served-model-name {name}", "```", "",
                f"Then request `\"model\": \"{name}\"` on the OpenAI-compatible endpoint.", ""]
    return ["With vLLM multi-LoRA (many adapters over one copy of the base model):", "",
            "```bash", f"{verify}   # a promoted adapter must verify first",
            f"vllm serve {info['base_model']} --enable-lora --max-lora-rank {rank} \\",
            f"    --lora-modules {name}={path}", "```", "",
            f"Then request `\"model\": \"{name}\"` on the OpenAI-compatible endpoint. "
            f"Or merge into full weights: `sluice train merge --adapter {path} --out MERGED_DIR`.", ""]


def write_card(folder: Path, info: dict) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(Path(folder), info))
    return path


def throughput_lines(t: dict | None) -> list[str]:
    """Tokens/s (non-padding input tokens), packing efficiency and peak memory of the run (train/callbacks.py)."""
    if not t:
        return []
    out = [f"- throughput: {t.get('tokens_per_second')} tokens/s ({t.get('tokens_seen')} non-padding input tokens "
           f"in {t.get('train_seconds')} s of training)" if t.get("tokens_seen") else
           f"- throughput: tokens not counted for this trainer's batches ({t.get('train_seconds')} s of training)"]
    if t.get("packing_efficiency") is not None:
        out.append(f"- packing efficiency: {t['packing_efficiency']:.1%} of each max_length block holds tokens")
    for key, label in (("peak_gpu_memory_mb", "peak GPU memory"), ("peak_rss_mb", "peak process memory (RSS)")):
        if key in t:
            out.append(f"- {label}: {t[key]} MiB")
    return out
