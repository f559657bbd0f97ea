"""What every command shares: the console, the --root/--json options and error display."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sluice.errors import SluiceError
from sluice.fs import is_uri

console = Console(stderr=True)  # progress, tables, errors; stdout stays clean for --json

# a string, not a Path: an object-store URI (s3://bucket/prefix) must keep its "//"
RootOption = Annotated[str | None, typer.Option("--root", envvar="SLUICE_HOME",
                                                help="dataset store folder, or an object-store URI such as "
                                                     "s3://bucket/prefix [default: ./sluice-data]")]
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


def resolve_root(root: str | os.PathLike | None) -> Path | str:
    """The store root as an absolute path, resolved once here at the CLI edge.

    ``--root``, ``$SLUICE_HOME`` or the default ``./sluice-data`` may be relative; everything
    below (Arrow file systems, executors in other processes, Ray workers) needs it absolute. An
    object-store URI (``s3://…``, ``gs://…``) is passed through unchanged.
    """
    from sluice.store import default_root

    raw = str(root) if root else str(default_root())
    if is_uri(raw):
        return raw
    return Path(raw).expanduser().resolve()


def store(root: str | Path | None):
    from sluice.store import Store

    resolved = resolve_root(root)
    if isinstance(resolved, Path):
        _RUN_LOG.place(resolved / ".logs")
    else:  # an object store: the run log is appended line by line, so it stays on this machine
        import tempfile

        _RUN_LOG.place(Path(tempfile.gettempdir()) / "sluice-logs")
    return Store(resolved)


# -- one calm console ---------------------------------------------------------------------------
# Third-party progress bars are off (sluice draws one rich bar per stage); third-party warnings and
# log records go to the run log, <root>/.logs/sluice-<time>-<pid>.log, never to the console; sluice's
# own warnings (a model being distilled, a weaker engine) are printed once as "warning: …".
_QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
              "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
              "TOKENIZERS_PARALLELISM": "false"}


class _RunLog(logging.Handler):
    """Every log record and warning, kept in memory until the store root is known, then in a file
    created on the first record (a command that logs nothing leaves no file and no folder)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.folder: Path | None = None
        self.path: Path | None = None
        self.pending: list[logging.LogRecord] = []
        self.stream = None

    active = False  # between calm_console() and the end of the command

    def reset(self, active: bool = True) -> None:
        """A new command: a new log; at its end, nothing more is written (in-process callers, e.g.
        tests, run many commands and log between them)."""
        if self.stream is not None:
            self.stream.close()
        self.folder = self.path = self.stream = None
        self.pending = []
        self.active = active

    def finish(self) -> None:
        path = self.path
        self.reset(active=False)
        self.path = path  # still reportable

    def place(self, folder: Path) -> None:
        if self.folder is None:
            self.folder = folder
            if self.pending:
                self._flush_pending()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.active:
            return
        try:
            if self.folder is None:
                if len(self.pending) < 10_000:
                    self.pending.append(record)
                return
            self.pending.append(record)
            self._flush_pending()
        except Exception:  # a log that cannot be written never stops the command
            self.handleError(record)

    def _flush_pending(self) -> None:
        if self.stream is None:
            import time

            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            self.path = self.folder / f"sluice-{stamp}-{os.getpid()}.log"
            self.stream = self.path.open("a", encoding="utf-8")
        for record in self.pending:
            self.stream.write(self.format(record) + "\n")
        self.pending.clear()
        self.stream.flush()


class _ConsoleWarnings(logging.Handler):
    """sluice's own warnings, one line each on the console."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if message in _SAID:
                return
            _SAID.add(message)
            console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


_SAID: set[str] = set()  # what this command already printed, so a summary does not say it again


def already_said(message: str) -> bool:
    return message in _SAID


_RUN_LOG = _RunLog()


def calm_console() -> None:
    """Quiet third-party output for this process and the workers it starts (idempotent)."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    _RUN_LOG.reset()
    _SAID.clear()
    root = logging.getLogger()
    if _RUN_LOG not in root.handlers:
        root.addHandler(_RUN_LOG)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        logging.captureWarnings(True)  # warnings.warn → the "py.warnings" logger → the run log only
    ours = logging.getLogger("sluice")
    if not any(isinstance(h, _ConsoleWarnings) for h in ours.handlers):
        ours.addHandler(_ConsoleWarnings())


def run_log() -> Path | None:
    """The run log written by this command, if anything was logged."""
    return _RUN_LOG.path


def counts_text(counts: dict | None) -> str:
    """{reason: n, …} as "reason n, …" (largest first); "—" when empty."""
    if not counts:
        return "—"
    items = sorted(counts.items(), key=lambda kv: -kv[1] if isinstance(kv[1], (int, float)) else 0)
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in items)


def outputs_table(title: str, rows: list[tuple[str, int, dict | None, dict | None]]):
    """The datasets a command published, as one rich table: ref, rows, where they came from, what was
    not converted (with reasons)."""
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left")
    for col in ("published", "rows", "from", "not converted"):
        table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
    for ref, n, origins, rejected in rows:
        table.add_row(escape(ref), f"{n:,}", escape(counts_text(origins)), escape(counts_text(rejected)))
    return table


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


def _interrupted(command: str, root) -> str:
    """One line on Ctrl-C: what was kept and how to go on."""
    if command == "run":
        where = resolve_root(root)
        return (f"nothing new was published; the stages and batches finished so far are kept as checkpoints "
                f"under {where}/.checkpoints, and rerunning the same command resumes from them")
    if command == "synth":
        return ("nothing new was published; finished items are kept in the resume journal, and rerunning the "
                "same command calls the model only for the rest")
    return "stopped; nothing new was published — rerun the same command to start it again"


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
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            console.print(f"[yellow]interrupted:[/] {escape(_interrupted(fn.__name__, kwargs.get('root')))}",
                          highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
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
        finally:
            _RUN_LOG.finish()

    return wrapper
