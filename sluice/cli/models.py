"""`sluice models tiny`: a tiny local model for trying training, the eval gate and synthesis offline;
`sluice models promote / list / rollback / verify`: the registry of promoted, signed adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="Local models (a tiny random one, or a real one from an installed package; no downloads) "
                       "and the registry of promoted adapters (promote, list, rollback, verify).", no_args_is_help=True)


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


# -- the registry: promote / list / rollback / verify (sluice/train/registry.py) -----------------

@app.command("promote")
@handle_errors
def promote(
    adapter: Annotated[Path, typer.Option("--adapter", help="adapter folder whose last gate result passed")],
    lineage: Annotated[str | None, typer.Option("--lineage", help="lineage name (default: the base model's name)")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="EC private key PEM (KEY.pub beside it; default: the "
                                                           "store's own key, made on first use)")] = None,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Promote an adapter that passed the gate: a signed record beside it and in the store's registry."""
    from sluice.train.registry import promote as run_promote

    record = run_promote(store(root), adapter, lineage=lineage, key=key)
    if as_json:
        emit_json(record)
        return
    g = record["gate"]["gains"].get(record["gate"]["rule"]["metric"], {})
    console.print(f"[bold green]promoted[/] {escape(record['adapter'])} in lineage {escape(record['lineage'])} "
                  f"(sha256 {record['adapter_sha256'][:16]}…; {record['gate']['rule']['metric']} gain "
                  f"{g.get('mean', float('nan')):+.4f}, CI {g.get('ci_low', float('nan')):+.4f} … "
                  f"{g.get('ci_high', float('nan')):+.4f}); signed: {escape(record['signature']['file'])}",
                  highlight=False)


@app.command("list")
@handle_errors
def list_(
    history: Annotated[bool, typer.Option("--history", help="every promote/rollback event, oldest first")] = False,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """The promoted adapter of every lineage (or the whole history)."""
    from sluice.train.registry import events, lineages

    s = store(root)
    if history:
        evs = events(s)
        if as_json:
            emit_json(evs)
            return
        for e in evs:
            target = e.get("adapter") or e.get("to")
            sha = e.get("adapter_sha256") or e.get("to_sha256") or ""
            console.print(f"{e['at']}  {e['event']:<8} {escape(e['lineage'])}  {escape(str(target))}  "
                          f"{sha[:16]}", highlight=False)
        return
    current = lineages(s)
    if as_json:
        emit_json(current)
        return
    if not current:
        console.print("nothing promoted yet: `sluice models promote --adapter DIR`")
    for name, rec in current.items():
        console.print(f"{escape(name)}: " + ("base model (rolled back)" if rec is None else
                                             f"{escape(rec['adapter'])}  sha256 {rec['adapter_sha256'][:16]}…  "
                                             f"promoted {rec['at']}"), highlight=False)


@app.command("rollback")
@handle_errors
def rollback(
    lineage: Annotated[str, typer.Argument(help="lineage to roll back")],
    to: Annotated[str | None, typer.Option("--to", help="sha256 prefix of an earlier promotion, or 'base' "
                                                        "(default: the one before the current)")] = None,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put the previous promoted adapter back (an appended event; history is never rewritten)."""
    from sluice.train.registry import rollback as run_rollback

    event = run_rollback(store(root), lineage, to)
    if as_json:
        emit_json(event)
        return
    console.print(f"[bold yellow]rolled back[/] {escape(lineage)}: now {escape(str(event['to']))}", highlight=False)


@app.command("verify")
@handle_errors
def verify(
    adapter: Annotated[Path, typer.Option("--adapter", help="adapter folder")],
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a promoted adapter's signature (exit 1 when it does not verify, or is not signed)."""
    from sluice.errors import DataError
    from sluice.train.registry import verify_if_signed

    result = verify_if_signed(adapter, store(root))
    if result is None:
        raise DataError(f"{adapter} is not signed (never promoted)",
                        hint="promote it after its gate passes: `sluice models promote --adapter DIR`")
    if as_json:
        emit_json(result)
        return
    console.print(f"[bold green]verified[/] {escape(str(adapter))} with key sha256 {result['public_key_sha256'][:16]}…",
                  highlight=False)
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
