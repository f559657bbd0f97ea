"""The `sluice` command: a thin layer over the Python API (heavy imports inside commands)."""

from __future__ import annotations

import typer

from sluice import __version__

from . import datasets, ingest, run

app = typer.Typer(name="sluice", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Turn production LLM traffic into versioned, curated training data.")
app.command()(ingest.ingest)
app.command()(ingest.formats)
app.command()(run.run)
app.command()(run.stages)
app.add_typer(datasets.app, name="datasets")


@app.command()
def version() -> None:
    """Print sluice's version."""
    typer.echo(__version__)


def main() -> None:
    app()
