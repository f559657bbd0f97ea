"""The `sluice` command: a thin layer over the Python API (heavy imports inside commands)."""

from __future__ import annotations

import importlib
import importlib.util

import typer

from sluice import __version__

from . import datasets, drift, gc, ingest, models, run

app = typer.Typer(name="sluice", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Turn production LLM traffic into versioned, curated training data.")


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="show the traceback of an error")) -> None:
    """Turn production LLM traffic into versioned, curated training data."""
    from .common import calm_console

    calm_console()
    if debug:
        import os

        os.environ["SLUICE_DEBUG"] = "1"


app.command()(ingest.ingest)
app.command()(ingest.formats)
app.command()(run.run)
app.command()(run.stages)
app.command()(run.report)
app.command()(run.doctor)
app.command()(gc.gc)
app.command()(drift.drift)
app.add_typer(datasets.app, name="datasets")
app.add_typer(models.app, name="models")

# Command groups of the other parts (`sluice pii …`, `sluice train …`): each is a module
# sluice/cli/<name>.py with a typer `app`, added here when that part is present.
for _name in ("pii", "quality", "dedup", "synth", "label", "feedback", "train", "golden"):
    if importlib.util.find_spec(f"sluice.cli.{_name}") is not None:
        app.add_typer(importlib.import_module(f"sluice.cli.{_name}").app, name=_name)


@app.command()
def version() -> None:
    """Print sluice's version."""
    typer.echo(__version__)


def main() -> None:
    app()
