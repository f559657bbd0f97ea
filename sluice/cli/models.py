"""`sluice models tiny`: a tiny local model for trying training, the eval gate and synthesis offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, console, emit_json, escape, handle_errors

app = typer.Typer(help="Local models for trying sluice without downloads.", no_args_is_help=True)


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
