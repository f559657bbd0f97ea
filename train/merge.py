"""Merge an adapter into its base model's weights, for serving stacks without LoRA support.

>>> merge("adapters/sft-v1", "merged/sft-v1")     # writes full weights + tokenizer + card
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sluice.errors import SluiceError


def merge(adapter_dir: str | Path, out: str | Path, base_model: str | None = None, store=None) -> Path:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .registry import verify_if_signed
    from .run import read_info

    adapter_dir, out = Path(adapter_dir), Path(out)
    info = read_info(adapter_dir)
    verify_if_signed(adapter_dir, store)  # a promoted adapter that no longer verifies is never merged
    if out.exists() and any(out.iterdir()):
        raise SluiceError(f"{out} exists and is not empty", hint="choose a new folder for the merged model")
    base = AutoModelForCausalLM.from_pretrained(base_model or info["base_model"])
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out)
    for name in ("README.md", "sluice_train.json", "eval_results.json", "promotion.json"):
        if (adapter_dir / name).is_file():
            shutil.copy2(adapter_dir / name, out / name)
    return out
