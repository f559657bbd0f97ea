"""`sluice ingest`: production logs → one published dataset version, nothing lost.

Every input record ends as a row of the dataset or as a quarantine row carrying file,
line/row, error kind, field and message. Line files are cut into chunks that worker
processes parse in parallel; results are written in input order, so output is
deterministic and memory stays flat however large the input.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from sluice.errors import DataError, InputError
from sluice.parallel import ordered_map
from sluice.schemas import QUARANTINE, RAW_PREFIX_BYTES
from sluice.store import Store, Version

from . import readers
from .builder import builder_for
from .errors import Dropped, RecordError, type_name
from .formats import FORMATS, detect, get_format
from .ids import IdCollisions
from .messages import dumps_bytes, loads

if TYPE_CHECKING:
    from . import checks

# This module is what each spawned parser worker imports: keep polars out of it (checks.py, the
# main process's post-parse flags, imports polars; loading it in both workers cost ingest a fifth
# of its speed at 100k records, BENCHMARKS.md issue #34). tests/test_ingest_perf.py holds the line.

DEFAULT_MAX_RECORD_BYTES = 2 << 20
# A file parses in worker processes only when it has more than this many chunks (32 MB at the
# default 8 MiB chunk); a smaller one parses in this process. Each spawned worker pays its start-up
# (an interpreter, pyarrow, numpy, this module: about 0.3 s CPU here) before its first line, which a
# small file does not pay back on this 2-core machine (the curve of ingest time vs records for 1 and 2
# workers: BENCHMARKS.md, "#34 round two").
PARALLEL_MIN_CHUNKS = 4
STAGE = "ingest"


@dataclass
class FileReport:
    path: str
    format: str
    kind: str
    container: str
    compression: str | None
    bytes: int
    rows_in: int = 0
    kept: int = 0
    quarantined: Counter = field(default_factory=Counter)
    encoding: str = "utf-8"
    damage: str | None = None  # what cut a damaged compressed file short
    rejected: Counter = field(default_factory=Counter)  # valid records not kept (preference ties), by reason
    id_collisions: int = 0  # rows whose source id another, different record had: their id is their content's

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "kind": self.kind, "container": self.container,
                "compression": self.compression, "bytes": self.bytes, "encoding": self.encoding,
                "rows_in": self.rows_in, "kept": self.kept, "damage": self.damage, "rejected": dict(self.rejected),
                "id_collisions": self.id_collisions,
                "quarantined": sum(self.quarantined.values()), "quarantined_by_kind": dict(self.quarantined)}


@dataclass
class IngestResult:
    version: Version | None
    files: list[FileReport]
    examples: list[dict]  # first few quarantine rows (file, line, kind, field, message), no raw bytes
    seconds: float
    skipped: list[readers.Skipped] = field(default_factory=list)  # files of named folders not read, with why
    reused: bool = False  # identical to the latest version, which `version` names; nothing was published

    @property
    def id_collisions(self) -> int:
        return sum(f.id_collisions for f in self.files)

    @property
    def damaged(self) -> list[FileReport]:
        return [f for f in self.files if f.damage]

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def kept(self) -> int:
        return sum(f.kept for f in self.files)

    @property
    def quarantined(self) -> Counter:
        return _total(f.quarantined for f in self.files)

    @property
    def rejected(self) -> Counter:
        return _total(f.rejected for f in self.files)


# -- per-record work (runs in worker processes) ------------------------------------------

@dataclass(frozen=True)
class Job:
    path: str
    source: str
    fmt: str
    max_record_bytes: int
    mapping: dict[str, str] | None = None


# Message lists a record kind requires to be non-empty (the schemas' row checks): a row that
# would fail them is quarantined here, never handed to the writer (which refuses the batch).
_NON_EMPTY = {"preference": ("chosen", "rejected"), "kto": ("completion",)}


def _check(kind: str, row: dict) -> None:
    if kind != "conversation":
        for column in _NON_EMPTY.get(kind, ()):
            if not row[column]:
                raise RecordError("empty_conversation", f"{column} has no messages", column)
        return
    messages = row["messages"]
    if not messages:
        raise RecordError("empty_conversation", "the conversation has no messages", "messages")
    if not any(m[0] == "assistant" for m in messages):
        raise RecordError("no_assistant_turn", "the conversation has no assistant turn", "messages")


def _apply_mapping(record: dict, mapping: dict[str, str]) -> dict:
    """Rename source columns to the format's field names (``target: source_column``)."""
    out = dict(record)
    for target, column in mapping.items():
        if column in out:
            value = out.pop(column)
            if "." in target:  # e.g. feedback.thumb
                outer, inner = target.split(".", 1)
                out.setdefault(outer, {})[inner] = value
            else:
                out[target] = value
    return out


class ChunkParser:
    """Parses records of one file into a data table and a quarantine table."""

    def __init__(self, job: Job):
        self.job = job
        self.format = get_format(job.fmt)
        self.builder = builder_for(self.format.kind, job.source)
        self.quarantine: list[dict] = []
        self.dropped = builder_for(self.format.kind, job.source)
        self.drop_reasons: list[tuple[str, str | None]] = []
        self.blanks: list | None = None  # [first index, end index, bytes, first line] of the open run of blank lines
        self.blank_lines = 0
        self.runs: list[tuple[int, int, int]] = []  # (first index, end index, bytes) of each run written

    def bad(self, row: int, line: int | None, raw: bytes, kind: str, message: str, fld: str | None = None,
            size: int | None = None) -> None:
        self.flush_blanks()
        self.quarantine.append({
            "source_file": self.job.path, "line": line, "row": row, "stage": STAGE, "error_kind": kind,
            "field": fld, "error": message, "raw": raw[:RAW_PREFIX_BYTES], "raw_size": len(raw) if size is None else size,
            "id": None,
        })

    def blank(self, index: int, raw: bytes, n: int = 1) -> None:
        """``n`` blank lines from ``index``: a run of them is one quarantine row that counts them
        (a file of 20 million blank lines is one row, not 20 million)."""
        if self.blanks and self.blanks[1] == index:
            self.blanks[1] = index + n
            self.blanks[2] += len(raw)
        else:
            self.flush_blanks()
            self.blanks = [index, index + n, len(raw), raw[:RAW_PREFIX_BYTES]]
        self.blank_lines += n

    def flush_blanks(self) -> None:
        if not self.blanks:
            return
        first, end, size, raw = self.blanks
        self.blanks = None
        self.bad(first, first + 1, raw, "empty_line", _blank_message(first, end), size=size)
        self.runs.append((first, end, size))

    def oversized(self, index: int, item: readers.Oversized) -> None:
        """A line the reader skipped while streaming because it passed the limit."""
        self.bad(index, index + 1, item.prefix, "oversized", _oversized(item.size, self.job.max_record_bytes),
                 size=item.size)

    def sized_record(self, row: int, raw: bytes, record: Any) -> None:
        """A record of a JSON array or table file, held to the same size limit as a line."""
        if len(raw) > self.job.max_record_bytes:
            self.bad(row, None, raw, "oversized", _oversized(len(raw), self.job.max_record_bytes))
            return
        self.record(row, None, raw, record)

    def record(self, row: int, line: int | None, raw: bytes, record: Any) -> None:
        if not isinstance(record, dict):
            self.bad(row, line, raw, "not_object", f"expected a JSON object, got {type_name(record)}")
            return
        if self.job.mapping:
            record = _apply_mapping(record, self.job.mapping)
        try:
            parsed = self.format.parse(record)
            _check(self.format.kind, parsed)
            self.builder.add(parsed)
        except RecordError as e:
            self.bad(row, line, raw, e.kind, e.message, e.field)
        except Dropped as d:
            self.dropped.add(d.row)
            self.drop_reasons.append((d.reason, d.detail))
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
            # An adapter should raise RecordError; anything else still only costs this row.
            self.bad(row, line, raw, "invalid_record",
                     f"could not convert record as {self.job.fmt} ({type(e).__name__}); pass --format if it is another")

    def line(self, index: int, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if index == 0 and raw.startswith(_BOM):  # files saved by Windows tools
            raw = raw[len(_BOM):]
        if len(raw) > self.job.max_record_bytes:
            self.bad(index, index + 1, raw, "oversized", _oversized(len(raw), self.job.max_record_bytes))
            return
        if not raw.strip():
            self.blank(index, raw)
            return
        self.flush_blanks()
        try:
            record = loads(raw)
        except orjson.JSONDecodeError as e:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as u:
                self.bad(index, index + 1, raw, "invalid_utf8", f"invalid UTF-8 at byte {u.start}")
                return
            if str(e).startswith("depth limit exceeded"):
                self.bad(index, index + 1, raw, "too_deep", _TOO_DEEP)
                return
            self.bad(index, index + 1, raw, "bad_json", f"malformed JSON: {_json_position(e)}")
            return
        problem = structure_problem(raw, record)
        if problem:
            self.bad(index, index + 1, raw, *problem)
            return
        self.record(index, index + 1, raw, record)

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table, list[str | None]]:
        """(kept rows, quarantine rows, rejected rows with stage and reason, the kept rows' content ids)."""
        self.flush_blanks()
        content_ids = self.builder.take_content_ids()
        data = self.builder.table()
        quarantine = pa.Table.from_pylist(self.quarantine, schema=QUARANTINE.schema)
        self.quarantine = []
        dropped = self.dropped.table()
        reasons, details = zip(*self.drop_reasons) if self.drop_reasons else ((), ())
        self.drop_reasons = []
        for name, values in (("stage", [STAGE] * dropped.num_rows), ("reason", list(reasons)),
                             ("detail", list(details)), ("duplicate_of", [None] * dropped.num_rows)):
            dropped = dropped.append_column(pa.field(name, pa.string(), nullable=name in ("detail", "duplicate_of")),
                                            pa.array(values, pa.string()))
        self.dropped.take_content_ids()
        return data, quarantine, dropped, content_ids


_BOM = b"\xef\xbb\xbf"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


# Nesting kept, in levels of objects and arrays: the standard library writes what orjson refuses
# (past 254 levels) by recursion, which Python stops near 1,000; deeper records are quarantined.
MAX_DEPTH = 900
_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels (the limit kept; flatten the record)"
# A key's end: a quote not escaped, whitespace, a colon. Counted in the raw line, keys that
# orjson's parse has fewer of were duplicates (it keeps the last value of a key, silently).
_KEY_SPACED = re.compile(rb'(?<!\\)"[ \t\r\n]*:')


def structure_problem(raw: bytes, record: Any) -> tuple[str, str, str | None] | None:
    """(kind, message, field) when a parsed line hides something: a key given twice in one object
    (the parse kept only the last) or nesting past MAX_DEPTH; None when it is whole."""
    if type(record) is not dict:
        return None
    if len(raw) > 2 * MAX_DEPTH and raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(record) > MAX_DEPTH:
        return "too_deep", _TOO_DEEP, None
    return _first_duplicate(_exact_tree(raw)) if _may_hide_keys(raw, record) else None


def _may_hide_keys(raw: bytes, value: Any) -> bool:
    """Whether ``raw`` holds more key tokens than ``value`` (its orjson parse) has keys: exact and
    cheap (byte counts; a regex only for keys written with space before their colon). Measured:
    +6% to +27% parse CPU (BENCHMARKS.md, #35)."""
    keys = _count_keys(value)
    if b'\\\\"' in raw:  # an escaped backslash before a quote: the counts below cannot tell
        return True
    tokens = raw.count(b'":') - raw.count(b'\\":')  # key ends, less escaped quotes inside strings
    if tokens < keys or b'" ' in raw or b'"\t' in raw or b'"\n' in raw or b'"\r' in raw:
        tokens = len(_KEY_SPACED.findall(raw))  # every key end, spaced or not
    return tokens > keys


def _count_keys(value: Any) -> int:
    n, stack = 0, [value]
    while stack:
        v = stack.pop()
        if type(v) is dict:
            n += len(v)
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
    return n


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if type(v) is dict or type(v) is list:
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in (v.values() if type(v) is dict else v))
    return deepest


class _Pairs(dict):
    duplicate: str | None = None


def _pairs(pairs: list) -> _Pairs:
    out = _Pairs(pairs)
    if len(out) < len(pairs):
        seen: set = set()
        out.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
    return out


def _exact_tree(raw: bytes) -> Any:
    """The parse that sees every key (the standard library's, objects as _Pairs), for the rare
    input the cheap count flags; None where it cannot parse what orjson could."""
    import json

    try:
        return json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return None


def _first_duplicate(tree: Any, path: str = "") -> tuple[str, str, str | None] | None:
    """The first key given twice in one object, by path (``messages``, ``messages[0].role``)."""
    stack = [(tree, path)]
    while stack:
        v, path = stack.pop(0)
        if isinstance(v, _Pairs):
            if v.duplicate is not None:
                where = f"{path}.{v.duplicate}" if path else v.duplicate
                return ("duplicate_key", f"key {where} is given twice in one object; JSON parsers keep only "
                                         "one of the values, so the record is not guessed at", where)
            stack += [(x, f"{path}.{k}" if path else k) for k, x in v.items()]
        elif isinstance(v, list):
            stack += [(x, f"{path}[{i}]") for i, x in enumerate(v)]
    return None


def _blank_message(first: int, end: int) -> str:
    n = end - first
    return "blank line" if n == 1 else f"{n:,} blank lines (lines {first + 1:,}-{end:,}), one row for the run"


def _oversized(size: int, limit: int) -> str:
    return f"record is {size:,} bytes, over the limit of {limit:,} (raise it with --max-record-bytes)"


def _json_position(e: orjson.JSONDecodeError) -> str:
    # orjson's message names the problem and position only (no input text).
    return str(e).split(":", 1)[0] + f" at column {e.colno}" if hasattr(e, "colno") else "could not parse"


def parse_lines(job: Job, first_line: int, chunk: bytes | readers.Oversized) -> tuple:
    """(kept, quarantine, rejected, content ids, first run of blank lines, last run): the runs let
    the caller join a run that a chunk boundary cut in two."""
    parser = ChunkParser(job)
    if isinstance(chunk, readers.Oversized):
        parser.oversized(first_line, chunk)
        return *parser.tables(), None, None
    index, pos = first_line, 0
    for run in _BLANK_RUN.finditer(chunk):  # long runs of empty lines, counted without a line loop
        start, end = run.span()
        if start:  # the first newline of the run ends the line before it
            for raw in chunk[pos:start].split(b"\n"):
                parser.line(index, raw)
                index += 1
        empty = end - start - (start > 0)
        parser.blank(index, b"", empty)
        index, pos = index + empty, end
    lines = chunk[pos:].split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, raw in enumerate(lines):
        parser.line(index + i, raw)
    tables = parser.tables()
    return *tables, (parser.runs[0] if parser.runs else None), (parser.runs[-1] if parser.runs else None)


_BLANK_RUN = re.compile(rb"\n{64,}")



# -- orchestration -------------------------------------------------------------------------

@dataclass
class _Input:
    path: Path
    container: str
    compression: str | None
    fmt: str


def _first_records(path: Path, container: str, compression: str | None, mapping, limit: int = 50,
                   guards: dict | None = None) -> list[dict]:
    guards = guards or {}
    out: list[dict] = []
    if container == "jsonl":
        for _first, chunk, _pos in readers.line_chunks(path, compression, chunk_bytes=1 << 20, max_line=1 << 20,
                                                      **guards):
            if isinstance(chunk, readers.Oversized):
                continue
            for raw in chunk.split(b"\n"):
                if not raw.strip():  # a file of blank lines must not cost a failed parse per line
                    continue
                try:
                    rec = loads(raw.removeprefix(_BOM))
                except orjson.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
                if len(out) >= limit:
                    return out
            break
    elif container == "json":
        try:
            data = loads(readers.read_all(path, compression, **guards)[0].removeprefix(_BOM))
        except orjson.JSONDecodeError:
            return []
        items = data if isinstance(data, list) else [data]
        out = [r for r in items[:limit] if isinstance(r, dict)]
    else:
        out = _table_records(path, container, limit, mapping)
    return [_apply_mapping(r, mapping) for r in out] if mapping else out


# Columns of a CSV file that hold text or ids whatever they look like: type inference would
# turn an answer "42" into a number (then refused as content) and an id "007" into 7.
_CSV_TEXT_FIELDS = frozenset((
    "prompt", "completion", "instruction", "input", "output", "system", "chosen", "rejected", "content",
    "id", "conversation_id", "request_id", "uuid", "source_id", "source",
))


def _table_records(path: Path, container: str, limit: int | None = None,
                   mapping: dict[str, str] | None = None) -> list[dict]:
    if container == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    else:
        import pyarrow.csv as pcsv

        text = set(_CSV_TEXT_FIELDS) | {src for target, src in (mapping or {}).items() if target in _CSV_TEXT_FIELDS}
        # An empty cell is a missing value (CSV cannot tell "" from null).
        options = pcsv.ConvertOptions(column_types={c: pa.string() for c in text}, strings_can_be_null=True)
        table = pcsv.read_csv(path, convert_options=options)
    if limit is not None:
        table = table.slice(0, limit)
    return table.to_pylist()


def plan(paths: list[str], fmt: str | None = None, mapping: dict[str, str] | None = None,
         skipped: list[readers.Skipped] | None = None, guards: dict | None = None) -> list[_Input]:
    """Resolve files and their formats, reporting every problem at once before any work.

    Files of named folders that are not read (hidden, unknown type, empty) are appended to
    ``skipped`` with their reason; a file named on its own that cannot be read is a problem.
    """
    inputs, problems = [], []
    files, passed = readers.expand_all(paths)
    if skipped is not None:
        skipped += passed
    for path in files:
        try:
            container, compression = readers.container_of(path)
            empty = not readers.head_bytes(path, compression, 1)
        except OSError as e:
            problems.append(f"{path}: cannot open ({e.strerror or e})")
            continue
        if empty:
            problems.append(f"{path}: the file is empty (0 bytes of data); remove it or pass other files")
            continue
        if container is None:
            problems.append(f"{path}: unknown file type (expected .jsonl, .json, .parquet or .csv, "
                            f"optionally {', '.join(readers.COMPRESSIONS)}, or JSON lines)")
            continue
        name = fmt
        if name is None:
            try:
                records = _first_records(path, container, compression, mapping, guards=guards)
            except (OSError, pa.ArrowException) as e:
                problems.append(f"{path}: cannot read it as {container} ({_first_line(e)})")
                continue
            name = next((d for d in map(detect, records) if d), None)
            if name is None:
                keys = sorted({k for r in records for k in r})[:12]
                why = f"keys seen: {keys}" if keys else "no JSON object found in its first lines"
                problems.append(f"{path}: cannot tell the format from its records ({why})")
                continue
        elif name not in FORMATS:
            get_format(name)
        inputs.append(_Input(path, container, compression, name))
    if problems:
        raise InputError("cannot ingest these inputs", problems=problems,
                         hint=f"pass --format (one of: {', '.join(FORMATS)}) or --mapping for tables")
    kinds = {FORMATS[i.fmt].kind for i in inputs}
    if len(kinds) > 1:
        listing = [f"{i.path}: {i.fmt} → {FORMATS[i.fmt].kind}" for i in inputs]
        raise InputError("these files hold different record kinds; a dataset holds one", problems=listing,
                         hint="ingest conversation, preference and kto files into separate datasets")
    return inputs


def ingest(paths: list[str], to: str, *, store: Store | None = None, fmt: str | None = None,
           source: str | None = None, mapping: dict[str, str] | None = None,
           max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, strict: bool = False, workers: int | None = None,
           chunk_bytes: int = readers.CHUNK_BYTES, progress: Callable[[int, int], None] | None = None,
           allow_partial: bool = False, check: checks.CheckOptions | None = None,
           max_expansion: float = readers.MAX_EXPANSION, max_file_bytes: int = readers.MAX_FILE_BYTES,
           force: bool = False) -> IngestResult:
    """Ingest files into a new version of dataset ``to`` and publish it.

    Raises DataError (and publishes nothing) when every record is bad, with ``strict=True``
    when any record was quarantined, and when a compressed file is damaged (truncated,
    corrupt) unless ``allow_partial=True``: then the lines read before the damage are kept
    and the damage is one quarantine row naming file, byte offset and lines recovered. A
    compressed file that expands past ``max_expansion`` times its size (once past 64 MiB) or past
    ``max_file_bytes`` stops the run with DataError (a decompression bomb).
    Rows identical to the dataset's latest version (every shard the same) publish nothing:
    the result names that version with ``reused=True``, unless ``force=True``.
    """
    from . import checks  # the main process only (see the note at the imports)

    guards = {"max_expansion": max_expansion, "max_bytes": max_file_bytes}
    store = store or Store()
    start = time.perf_counter()
    skipped: list[readers.Skipped] = []
    inputs = plan(paths, fmt, mapping, skipped, guards)
    kind = FORMATS[inputs[0].fmt].kind
    workers = workers or min(2, os.cpu_count() or 1)
    reports: list[FileReport] = []
    examples: list[dict] = []
    warnings: Counter = Counter()
    done_bytes = done_rows = 0
    collisions = IdCollisions()
    with store.create(to, kind, sources=[str(i.path) for i in inputs]) as writer:
        for inp in inputs:
            size = inp.path.stat().st_size
            report = FileReport(str(inp.path), inp.fmt, kind, inp.container, inp.compression, size)
            job = Job(str(inp.path), source or _source_name(inp.path), inp.fmt, max_record_bytes, mapping)
            # A pool only pays off past a few chunks; small files parse in this process.
            file_workers = workers if size > PARALLEL_MIN_CHUNKS * chunk_bytes else 1
            for data, quarantine, rejected, content_ids, pos in _parse_file(job, inp, file_workers, chunk_bytes,
                                                                              report, guards):
                before = collisions.count
                data = collisions.resolve(data, content_ids)
                report.id_collisions += collisions.count - before
                writer.write(checks.flag(data, kind, check or checks.CheckOptions(), warnings))
                if rejected.num_rows:
                    writer.write_rejected(rejected)
                    report.rejected.update(rejected.column("reason").to_pylist())
                if quarantine.num_rows:
                    writer.write_quarantine(quarantine)
                    report.quarantined.update(quarantine.column("error_kind").to_pylist())
                    if len(examples) < 10:
                        examples += quarantine.drop_columns(["raw"]).slice(0, 10 - len(examples)).to_pylist()
                report.kept += data.num_rows
                report.rows_in += data.num_rows + quarantine.num_rows + rejected.num_rows
                done_rows += data.num_rows + quarantine.num_rows + rejected.num_rows
                if progress:
                    progress(done_bytes + pos, done_rows)
            done_bytes += size
            reports.append(report)
        result = IngestResult(None, reports, examples, 0.0, skipped)
        if result.damaged and not allow_partial:
            hint = ("fetch it again, or pass --allow-partial to publish the lines read before the damage "
                    "(the damage is recorded in quarantine)")
            if len(result.damaged) == 1:
                raise DataError(f"{result.damaged[0].path}: {result.damaged[0].damage}; nothing was published",
                                hint=hint)
            raise DataError(f"{len(result.damaged)} compressed input files are damaged; nothing was published",
                            problems=[f"{f.path}: {f.damage}" for f in result.damaged], hint=hint)
        if result.rows_in and not result.kept:
            raise DataError(f"every one of the {result.rows_in:,} input records is bad; nothing was published",
                            problems=_summary(result), hint="see the errors above; check --format or --mapping")
        if strict and result.quarantined:
            raise DataError(f"{sum(result.quarantined.values()):,} records were quarantined and --strict is set; "
                            "nothing was published", problems=_summary(result),
                            hint="fix the input or drop --strict to keep the good rows")
        q, r = dict(result.quarantined), dict(result.rejected)
        accounting = {"rows_in": result.rows_in, "kept": result.kept, "rejected_total": sum(r.values()),
                      "rejected": {STAGE: r} if r else {},
                      "quarantined_total": sum(q.values()), "quarantined": {STAGE: q} if q else {}}
        result.seconds = time.perf_counter() - start
        if not force and (same := writer.same_as_latest()) is not None:
            result.version, result.reused = same, True  # the writer's folder is dropped on exit
            return result
        stage = {"name": STAGE, "rows_in": result.rows_in, "kept": result.kept, "rejected": r,
                 "quarantined": q, "seconds": round(result.seconds, 3), "counters": dict(warnings)}
        result.version = writer.publish(accounting, inputs=[r.as_dict() for r in reports], stages=[stage],
                                        skipped=[s.as_dict() for s in skipped],
                                        ingest={"max_record_bytes": max_record_bytes, "mapping": mapping,
                                                "allow_partial": allow_partial, "id_collisions": collisions.count,
                                                "warnings": {k: n for k, n in warnings.items() if n}})
    return result


def _summary(result: IngestResult) -> list[str]:
    lines = [f"{kind}: {n:,}" for kind, n in result.quarantined.most_common()]
    for e in result.examples[:5]:
        where = f"{e['source_file']}:{e['line']}" if e["line"] is not None else f"{e['source_file']} row {e['row']}"
        lines.append(f"e.g. {where}: {e['error_kind']}" + (f" at {e['field']}" if e["field"] else "") + f" — {e['error']}")
    return lines


def _source_name(path: Path) -> str:
    name = path.name
    for suffix in readers.COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _damage_tables(job: Job, report: FileReport, damage: readers.Damage, row: int, line: int | None,
                   tail: bytes, recovered: int) -> tuple:
    """One quarantine row for a damaged compressed file: where, what, and how much was read."""
    report.damage = f"{damage.describe()}; {recovered:,} {'lines' if line is not None else 'records'} " \
                    f"recovered before it"
    parser = ChunkParser(job)
    parser.bad(row, line, tail, "damaged_file", report.damage)
    return parser.tables()


def _restart_run(quarantine: pa.Table, run: tuple[int, int, int], raw: bytes) -> pa.Table:
    """``quarantine`` with its first row (a run of blank lines) widened to ``run``."""
    row = quarantine.slice(0, 1).to_pylist()[0]
    row.update(line=run[0] + 1, row=run[0], error=_blank_message(run[0], run[1]), raw_size=run[2], raw=raw)
    return pa.concat_tables([pa.Table.from_pylist([row], schema=quarantine.schema), quarantine.slice(1)])


def _parser_worker() -> None:
    """Run once in each spawned parser worker. The first ``pa.array`` of a Python list asks pyarrow
    whether pandas is installed, which imports pandas (about 0.3 s CPU here, a third of a worker's
    start-up) in a process that never uses it. The worker marks pandas absent instead: pyarrow then
    converts lists by the same path (a list is not array-like to it either way), so the tables are
    the same. Never called in the caller's own process, where a user's code may want pandas."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


class _NoPandas:
    """An import finder that reports pandas absent (see ``_parser_worker``)."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not loaded in ingest's parser workers", name=name)
        return None


def _parse_file(job: Job, inp: _Input, workers: int, chunk_bytes: int,
                report: FileReport, guards: dict) -> Iterator[tuple[pa.Table, pa.Table, int]]:
    if inp.fmt in _GROUPED:  # a trace's spans / observations can lie on any line: the file is read whole
        yield *_grouped_tables(job, inp, report), inp.path.stat().st_size
        return
    if inp.container == "jsonl":
        positions: list[int] = []
        lines = readers.LineChunks(inp.path, inp.compression, chunk_bytes, max_line=job.max_record_bytes,
                                   prefix_bytes=RAW_PREFIX_BYTES, **guards)

        def chunks():
            for first, chunk, pos in lines:
                positions.append(pos)
                yield job, first, chunk

        held = None  # a chunk's result, held until the next shows whether its last blank run goes on
        start = _parser_worker if workers > 1 else None  # never in this (the caller's) process
        for *tables, first_run, last_run in ordered_map(parse_lines, chunks(), workers, initializer=start):
            pos = positions.pop(0)
            if held is not None:
                if held[6] and first_run and held[6][1] == first_run[0]:  # one run across the boundary
                    q = held[1]
                    raw = q.column("raw")[q.num_rows - 1].as_py()
                    held[1] = q.slice(0, q.num_rows - 1)
                    run = (held[6][0], first_run[1], held[6][2] + first_run[2])
                    tables[1] = _restart_run(tables[1], run, raw)
                    last_run = run if last_run == first_run else last_run
                yield tuple(held[:5])
            held = [*tables, pos, first_run, last_run]
        if held is not None:
            yield tuple(held[:5])
        report.encoding = lines.encoding
        if lines.damage is not None:
            yield (*_damage_tables(job, report, lines.damage, lines.lines, lines.lines + 1, lines.tail, lines.lines),
                   inp.path.stat().st_size)
        return
    parser = ChunkParser(job)
    if inp.container == "json":
        raw, damage = readers.read_all(inp.path, inp.compression, **guards)
        raw = raw.removeprefix(_BOM)
        if damage is not None:  # a JSON document cut short holds no record that can be trusted
            report.encoding = "utf-8"
            yield *_damage_tables(job, report, damage, 0, None, raw, 0), inp.path.stat().st_size
            return
        try:
            data = loads(raw)
        except orjson.JSONDecodeError as e:
            parser.bad(0, None, raw, "bad_json", f"the file is not valid JSON: {_json_position(e)}")
            data = []
        items = data if isinstance(data, list) else [data]
        # Keys given twice inside a record: found over the whole document, quarantined per record.
        exact = _exact_tree(raw) if _may_hide_keys(raw, data) else None
        exact = (exact if isinstance(exact, list) else [exact]) if exact is not None else None
        for i, record in enumerate(items):
            problem = _first_duplicate(exact[i]) if exact is not None and isinstance(record, dict) else None
            if problem:
                parser.bad(i, None, dumps_bytes(record), *problem)
            else:
                parser.sized_record(i, dumps_bytes(record), record)
    else:
        try:
            records = _table_records(inp.path, inp.container, mapping=job.mapping)
        except (OSError, pa.ArrowException) as e:
            raise InputError(f"{inp.path}: cannot read it as {inp.container} ({_first_line(e)})",
                             hint="check the file (a damaged or partly written table?) or pass another") from None
        for i, record in enumerate(records):
            parser.sized_record(i, orjson.dumps(record, default=str), record)
    yield *parser.tables(), inp.path.stat().st_size


def _grouped(fmt: str):
    from . import langfuse, otel

    return {"otel-genai": otel.group, "langfuse": langfuse.group}[fmt]


_GROUPED = ("otel-genai", "langfuse")


def _grouped_tables(job: Job, inp: _Input, report: FileReport) -> tuple:
    """Trace documents (OTLP JSON, Langfuse exports) → one record per trace (the format's ``group``);
    a bad document is one quarantine row."""
    parser = ChunkParser(job)
    raw, damage = readers.read_all(inp.path, inp.compression)
    raw = raw.removeprefix(_BOM)
    report.encoding = "utf-8"
    if damage is not None:
        return _damage_tables(job, report, damage, 0, None, raw, 0)
    docs: list[tuple[int, bytes, Any]] = []
    if inp.container == "jsonl":
        for index, line in enumerate(raw.split(b"\n")):
            line = line.removesuffix(b"\r")
            if not line.strip():
                continue
            try:
                docs.append((index, line, loads(line)))
            except orjson.JSONDecodeError as e:
                parser.bad(index, index + 1, line, "bad_json", f"malformed JSON: {_json_position(e)}")
    else:
        try:
            data = loads(raw)
        except orjson.JSONDecodeError as e:
            parser.bad(0, None, raw, "bad_json", f"the file is not valid JSON: {_json_position(e)}")
            data = []
        docs = [(i, dumps_bytes(d), d) for i, d in enumerate(data if isinstance(data, list) else [data])]
    lines = inp.container == "jsonl"
    n = 0
    for what, item, error in _grouped(inp.fmt)(docs):
        if what == "bad":
            index, doc_raw = item
            parser.bad(index, index + 1 if lines else None, doc_raw, error.kind, error.message, error.field)
        else:
            parser.sized_record(n, dumps_bytes(item), item)
            n += 1
    return parser.tables()


def _total(counts) -> Counter:
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    return total
