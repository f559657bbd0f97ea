"""What every command shares: the console, the --root/--json options and error display."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sluice.errors import SluiceError

console = Console(stderr=True)  # progress, tables, errors; stdout stays clean for --json

RootOption = Annotated[Path | None, typer.Option("--root", envvar="SLUICE_HOME",
                                                 help="dataset store folder [default: ./sluice-data]")]
# Paths, names and messages can hold "[...]": escape them before rich renders markup.
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable JSON on stdout")]


def rate_column():
    """A rich progress column showing rows per second."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.fields.get("rows_per_s") or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")

    return RowsPerSecond()


def store(root: Path | None):
    from sluice.store import Store

    return Store(root)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def handle_errors(fn):
    """Turn SluiceError into a clear message and exit code; real bugs keep their traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SluiceError as e:
            console.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False)
            for problem in e.problems:
                console.print(f"  • {problem}", highlight=False, markup=False)
            if e.hint:
                console.print(f"[dim]hint:[/] {escape(e.hint)}", highlight=False)
            raise typer.Exit(e.exit_code) from None

    return wrapper
