"""`sluice models tiny`: a tiny local model for trying training, the eval gate and synthesis offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, console, emit_json, escape, handle_errors

app = typer.Typer(help="Local models: a tiny random one, or a real one from an installed package (no downloads).", no_args_is_help=True)


@app.command("tiny")
@handle_errors
def tiny(
    out: Annotated[Path, typer.Option("--out", help="folder to write the model and tokenizer to")] = Path("models/tiny"),
    hidden_size: Annotated[int, typer.Option("--hidden-size", help="width of the model")] = 64,
    layers: Annotated[int, typer.Option("--layers", help="transformer layers")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Build a tiny random Llama-style chat model (about a second, no network): `--model models/tiny`."""
    from sluice.tiny import build_default

    path = build_default(out, hidden_size=hidden_size, layers=layers)
    if as_json:
        emit_json({"path": str(path)})
    else:
        console.print(escape(f"wrote a tiny chat model to {path} (random weights: for trying the commands, "
                             "not for real training)"), highlight=False)


@app.command("get")
@handle_errors
def get(
    name: Annotated[str, typer.Argument(help="named model: smollm2-135m")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the Hugging Face model to")],
    dtype: Annotated[str, typer.Option("--dtype", help="float32 (517 MB) or bfloat16 (half)")] = "float32",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a non-empty --out")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a real model from an installed package as a Hugging Face folder, offline: `--model DIR`."""
    from sluice.named_models import get as get_model

    path = get_model(name, out, dtype=dtype, overwrite=overwrite)
    if as_json:
        emit_json({"path": str(path), "name": name, "dtype": dtype})
    else:
        console.print(escape(f"wrote {name} to {path} (safetensors, tokenizer, chat template, LICENSE): "
                             f"--model {path}"), highlight=False)
