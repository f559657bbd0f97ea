"""What every command shares: the console, the --root/--json options and error display."""

from __future__ import annotations

import functools
import json
import os
import re
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


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


def resolve_root(root: str | os.PathLike | None) -> Path | str:
    """The store root as an absolute path, resolved once here at the CLI edge.

    ``--root``, ``$SLUICE_HOME`` or the default ``./sluice-data`` may be relative; everything
    below (Arrow file systems, executors in other processes, Ray workers) needs it absolute. An
    object-store URI (``s3://…``, ``gs://…``) is passed through unchanged.
    """
    from sluice.store import default_root

    raw = str(root) if root else str(default_root())
    if _URI.match(raw):
        return raw
    return Path(raw).expanduser().resolve()


def store(root: Path | None):
    from sluice.store import Store

    return Store(resolve_root(root))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# Hints for operating-system errors a user can meet, by errno name.
_OS_HINTS = {
    "ENOSPC": "free space on that device, or point --root / SLUICE_HOME at a disk with room; nothing was published",
    "EDQUOT": "free space within your quota, or point --root / SLUICE_HOME elsewhere; nothing was published",
    "EACCES": "check the permissions of that path",
    "EPERM": "check the permissions of that path",
    "EROFS": "the file system is read-only: point --root / SLUICE_HOME at a writable folder",
    "ENOENT": "check the path",
    "EMFILE": "too many open files: raise the limit (ulimit -n) or use fewer --workers",
}


def debug_enabled() -> bool:
    import os

    return os.environ.get("SLUICE_DEBUG", "") not in ("", "0")


def _say(message: str, hint: str | None = None, problems: list[str] = ()) -> None:
    # soft_wrap: one error is one line, however narrow the terminal or log.
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    for problem in problems:
        console.print(f"  • {problem}", highlight=False, markup=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def os_error_message(e: OSError) -> tuple[str, str]:
    import errno

    name = errno.errorcode.get(e.errno or 0, "")
    where = f"{e.filename}: " if e.filename else ""
    what = e.strerror or type(e).__name__
    return f"{where}{what}", _OS_HINTS.get(name, "rerun with --debug for the details")


def handle_errors(fn):
    """Every error a user can meet becomes one line naming what is at fault and what to do.

    SluiceError carries its own message and hint; an operating-system error (a full disk, a
    permission) names the path and the fix. Anything else is a bug: one line, and `--debug`
    (or SLUICE_DEBUG=1) shows the traceback. Messages never quote row contents.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SluiceError as e:
            if debug_enabled():
                raise
            _say(e.message, e.hint, e.problems)
            raise typer.Exit(e.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except OSError as e:
            if debug_enabled():
                raise
            message, hint = os_error_message(e)
            _say(message, hint)
            raise typer.Exit(1) from None
        except Exception as e:
            if debug_enabled():
                raise
            _say(f"unexpected {type(e).__name__} in `sluice {fn.__name__.replace('_', ' ')}` (a bug)",
                 "rerun with --debug for the traceback, and please report it")
            raise typer.Exit(1) from None

    return wrapper
