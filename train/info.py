"""An adapter folder's record of its run (``sluice_train.json``): written by ``run``, read by the
gate, the registry and merge. Its own module so the registry can read it without importing the
training run (which loads the model through ``peft_setup``, which asks the registry)."""

from __future__ import annotations

import json
from pathlib import Path

from sluice.errors import RecipeError

INFO_FILE = "sluice_train.json"


def read_info(adapter_dir: str | Path) -> dict:
    path = Path(adapter_dir) / INFO_FILE
    if not path.is_file():
        raise RecipeError(f"{adapter_dir} is not a sluice adapter folder (no {INFO_FILE})",
                          hint="pass the output_dir of a `sluice train sft|dpo|kto` run")
    return json.loads(path.read_text())
