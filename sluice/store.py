"""The dataset store: named datasets with immutable, atomically published versions.

Layout (ARCHITECTURE.md, "Datasets at rest")::

    <root>/<name>/v<N>/data/part-*.parquet      the rows of the version's record kind
                      /rejected/part-*.parquet  rows stages dropped, with stage and reason
                      /quarantine/part-*.parquet input that could not be parsed or validated
                      /manifest.json /DATACARD.md

A version is written into ``<root>/<name>/.tmp-<pid>-<token>/`` and published by one
``rename`` to ``v<N>``. Readers only ever list ``v<N>`` folders, so they never see a
half-written version. Two publishers racing for the same N: the loser's rename fails
(the target exists and is not empty) and it takes N+1 — both succeed as distinct versions.

The root may be an object store (``s3://bucket/prefix``): there a version is published by a
write-once claim object and its manifest written last (sluice/fs.py says the rule); readers
list only ``v<N>`` folders that hold a manifest.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sluice import __version__, fs
from sluice.errors import DatasetNotFound, PublishConflict, SchemaValidationError, SluiceError
from sluice.schemas import DATA_KINDS, QUARANTINE, REJECTED, get, upgrade

MANIFEST_FORMAT = 1
DEFAULT_ROOT = "sluice-data"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_REF = re.compile(r"^(?P<name>[^@]+?)(?:@(?:v(?P<num>\d+)|(?P<latest>latest)))?$")
_VERSION_DIR = re.compile(r"^v(\d+)$")
PARTS = ("data", "rejected", "quarantine")


def default_root() -> Any:
    return fs.as_path(os.environ.get("SLUICE_HOME") or DEFAULT_ROOT)


def check_ref(ref: str) -> str | None:
    """A problem with a dataset reference's form (a path, a bad name), or None."""
    m = _REF.match((ref or "").strip())
    if not m or not _NAME.match(m.group("name")):
        return f"{ref!r} is not a dataset reference (NAME, NAME@vN or NAME@latest inside the store, never a path)"
    return None


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise SluiceError(
            f"invalid dataset name {name!r}",
            hint="use letters, digits, '.', '_' or '-' (starting with a letter or digit)",
        )
    return name


@dataclass(frozen=True)
class Version:
    """One published, immutable dataset version."""

    name: str
    number: int
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.number}"

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / "manifest.json").read_text())

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def files(self, part: str = "data") -> list[Path]:
        return sorted((self.path / part).glob("part-*.parquet"), key=lambda p: p.name)

    def read(self, part: str = "data", columns: list[str] | None = None) -> pa.Table:
        """The whole part as one Arrow table (empty, with the right schema, when it has no rows)."""
        files = self.files(part)
        if not files:
            empty = {"data": get(self.kind), "rejected": REJECTED, "quarantine": QUARANTINE}[part]
            return empty.schema.empty_table()
        tables = [upgrade(fs.read_table(f, columns=columns)) for f in files]  # versions of older schemas read too
        return pa.concat_tables(tables, promote_options="default")

    def iter_batches(self, batch_size: int, part: str = "data") -> Iterator[pa.RecordBatch]:
        for f in self.files(part):
            for batch in fs.parquet_file(f).iter_batches(batch_size=batch_size):
                yield upgrade(batch)

    def num_rows(self, part: str = "data") -> int:
        return sum(fs.num_rows(f) for f in self.files(part))


class Store:
    """A folder of datasets. ``Store()`` uses ``$SLUICE_HOME`` or ``./sluice-data``; a root may be
    an object-store URI (``s3://bucket/prefix``, sluice/fs.py)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = fs.as_path(root) if root else default_root()

    # -- reading -----------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[Version]:
        if not _NAME.match(name or ""):  # never a path: "../other" must not leave the store
            return []
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = []
        for p in folder.iterdir():
            m = _VERSION_DIR.match(p.name)
            if m and (p / "manifest.json").is_file():
                found.append(Version(name, int(m.group(1)), p))
        return sorted(found, key=lambda v: v.number)

    def lineage(self, version: Version):
        """``version``, then its ancestors breadth-first (each once, through manifests' ``parents``).
        A parent that was deleted ends its branch: it proves nothing either way."""
        seen: set[str] = set()
        queue = [version]
        while queue:
            v = queue.pop(0)
            if v.ref in seen:
                continue
            seen.add(v.ref)
            yield v
            for parent in v.manifest.get("parents") or []:
                try:
                    queue.append(self.resolve(parent))
                except SluiceError:
                    continue

    def resolve(self, ref: str) -> Version:
        """``name``, ``name@latest`` or ``name@vN`` → the published version."""
        m = _REF.match(ref.strip())
        if not m:
            raise DatasetNotFound(f"cannot read dataset reference {ref!r}", hint="write NAME@vN or NAME@latest")
        name = m.group("name")
        if not _NAME.match(name):
            raise DatasetNotFound(
                f"{ref!r} is not a dataset of the store: a reference is NAME, NAME@vN or NAME@latest, never a path",
                hint=f"datasets live under {self.root}; to read another store pass --root or set SLUICE_HOME")
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none yet"
            raise DatasetNotFound(
                f"no dataset named {name!r} under {self.root}",
                hint=f"datasets here: {known}. Pass --root or set SLUICE_HOME if it lives elsewhere",
            )
        if m.group("num") is None:
            return versions[-1]
        number = int(m.group("num"))
        for v in versions:
            if v.number == number:
                return v
        raise DatasetNotFound(
            f"{name} has no version v{number}",
            hint=f"versions: {', '.join('v%d' % v.number for v in versions)}",
        )

    # -- writing -----------------------------------------------------------------------
    def create(self, name: str, kind: str, **manifest: Any) -> VersionWriter:
        """Start a new version. Use as a context manager; call ``publish()`` to make it visible."""
        check_name(name)
        if kind not in DATA_KINDS:
            raise SluiceError(f"a dataset holds one of {DATA_KINDS}, not {kind!r}")
        folder = self.root / name
        fs.mkdir(folder)
        self.clean_stale(name)
        tmp = folder / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        if fs.is_remote(tmp):
            (tmp / ".open").write_text("")  # a prefix exists once it holds an object
        else:
            tmp.mkdir()
        return VersionWriter(self, name, kind, tmp, manifest)

    def clean_stale(self, name: str, dry_run: bool = False) -> list[Path]:
        """Remove temporary folders left by writers that died: their process is gone, or its pid
        now belongs to a process started after the folder was last written (a reused pid)."""
        import psutil

        removed = []
        if fs.is_remote(self.root):
            return removed  # no process ids across machines (sluice/fs.py)
        for p in sorted((self.root / name).glob(".tmp-*")):
            try:
                pid = int(p.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid == os.getpid():
                continue
            try:
                alive = psutil.Process(pid).create_time() <= p.stat().st_mtime + 1
            except psutil.NoSuchProcess:
                alive = False
            except (psutil.Error, OSError):
                alive = True  # cannot tell: keep it
            if not alive:
                if not dry_run:
                    shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed

    def stale_temporary(self, dry_run: bool = False) -> list[Path]:
        """``clean_stale`` over every dataset folder (also one whose first version never published)."""
        if not self.root.is_dir():
            return []
        removed = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and _NAME.match(folder.name):
                removed += self.clean_stale(folder.name, dry_run=dry_run)
        return removed


class _PartWriter:
    """Writes one part (data / rejected / quarantine) as parquet shards of bounded rows."""

    def __init__(self, folder: Path, rows_per_shard: int):
        self.folder = folder
        self.rows_per_shard = rows_per_shard
        self.writer: pq.ParquetWriter | None = None
        self.sink = None
        self.schema: pa.Schema | None = None
        self.shard_rows = 0
        self.shards: list[Path] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            if self.schema is None:
                self.schema = table.schema
            return
        if self.schema is None:
            self.schema = table.schema
        elif table.schema != self.schema:
            table = self._conform(table)
        offset = 0
        while offset < table.num_rows:
            if self.writer is None:
                fs.mkdir(self.folder)
                path = self.folder / f"part-{len(self.shards):05d}.parquet"
                self.sink = fs.output_stream(path)
                self.writer = pq.ParquetWriter(self.sink, self.schema, compression="zstd")
                self.shards.append(path)
                self.shard_rows = 0
            take = min(self.rows_per_shard - self.shard_rows, table.num_rows - offset)
            self.writer.write_table(table.slice(offset, take), row_group_size=64 * 1024)
            offset += take
            self.shard_rows += take
            self.rows += take
            if self.shard_rows >= self.rows_per_shard:
                self.close()

    def _conform(self, table: pa.Table) -> pa.Table:
        """A later table in the first table's column order and types; a different column set is an error."""
        assert self.schema is not None
        missing = [n for n in self.schema.names if n not in table.column_names]
        extra = [n for n in table.column_names if n not in self.schema.names]
        if missing or extra:
            raise SchemaValidationError(
                f"{self.folder.name}/: a table written after the first has different columns",
                problems=[f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra),
                hint="every table written to one part of a version must have the same columns")
        try:
            return table.select(self.schema.names).cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise SchemaValidationError(
                f"{self.folder.name}/: a table written after the first has incompatible column types",
                problems=[str(e).splitlines()[0]]) from None

    def ensure_shard(self, schema: pa.Schema) -> None:
        """Write an empty shard when nothing was written, so the part still has a schema."""
        if not self.shards:
            fs.mkdir(self.folder)
            path = self.folder / "part-00000.parquet"
            fs.write_parquet(schema.empty_table(), path, compression="zstd")
            self.shards.append(path)

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                self.writer = None
                sink, self.sink = self.sink, None
                if sink is not None:
                    sink.close()


class ContentStats:
    """Facts about the rows for the manifest and data card: time range, sources, splits.

    Counts and timestamps only — never row content."""

    MAX_KEYS = 50

    def __init__(self):
        self.first: Any = None
        self.last: Any = None
        self.sources: Counter = Counter()
        self.splits: Counter = Counter()

    def add(self, table: pa.Table) -> None:
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        if "created_at" in table.column_names and table.column("created_at").null_count < table.num_rows:
            lo, hi = pc.min_max(table.column("created_at")).values()
            self.first = lo.as_py() if self.first is None else min(self.first, lo.as_py())
            self.last = hi.as_py() if self.last is None else max(self.last, hi.as_py())
        for column, counter in (("source", self.sources), ("split", self.splits)):
            if column in table.column_names:
                counts = pc.value_counts(table.column(column))
                counter.update({c["values"]: c["counts"] for c in counts.to_pylist()})

    def as_dict(self) -> dict[str, Any]:
        iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {"created_at": {"first": iso(self.first), "last": iso(self.last)},
                "sources": dict(self.sources.most_common(self.MAX_KEYS)),
                "sources_total": len(self.sources),
                "splits": {str(k): v for k, v in self.splits.items()}}


class VersionWriter:
    """Collects the parts of a new version in a temporary folder, then publishes it atomically."""

    def __init__(self, store: Store, name: str, kind: str, tmp: Path, manifest: dict[str, Any],
                 rows_per_shard: int = 250_000):
        self.store, self.name, self.kind, self.tmp = store, name, kind, tmp
        self.manifest_extra = manifest
        self.parts = {p: _PartWriter(tmp / p, rows_per_shard) for p in PARTS}
        self.content = ContentStats()
        self.published: Version | None = None
        self.aborted = False

    def __enter__(self) -> VersionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.published is None:
            self.abort()

    # Every table is validated as it crosses into the store (ARCHITECTURE.md, "Records and identity").
    def write(self, table: pa.Table) -> None:
        self._check_open()
        table = upgrade(table)  # rows read from a version of an older schema
        get(self.kind).validate(table, where=f"rows written to {self.name}")
        self.parts["data"].write(table)
        self.content.add(table)

    def write_rejected(self, table: pa.Table) -> None:
        self._check_open()
        REJECTED.validate(table, where=f"rejected rows written to {self.name}")
        self.parts["rejected"].write(table)

    def write_quarantine(self, table: pa.Table) -> None:
        self._check_open()
        QUARANTINE.validate(table, where=f"quarantine rows written to {self.name}")
        self.parts["quarantine"].write(table)

    def _check_open(self) -> None:
        if self.published is not None:
            raise SluiceError(f"{self.published.ref} is published and can no longer change",
                              hint="start a new version with Store.create()")
        if self.aborted:
            raise SluiceError(f"this writer of {self.name} was aborted", hint="start a new version with Store.create()")

    def abort(self) -> None:
        """Drop the temporary folder. Closing a shard can fail too (a full disk): the folder goes anyway."""
        try:
            for part in self.parts.values():
                try:
                    part.close()
                except OSError:
                    part.writer = part.sink = None
        finally:
            self.aborted = True
            fs.rmtree(self.tmp)

    def publish(self, accounting: dict[str, Any], **manifest: Any) -> Version:
        """Validate, write the manifest and data card, and rename into place."""
        self._check_open()
        self._close_parts()
        self._check(accounting)
        body = {
            "format": MANIFEST_FORMAT,
            "name": self.name,
            "kind": self.kind,
            "schema_version": get(self.kind).version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tool": {"name": "sluice", "version": __version__},
            "rows": self.parts["data"].rows,
            "content": self.content.as_dict(),
            "accounting": accounting,
            **{k: v for k, v in self.manifest_extra.items()},
            **manifest,
            "parts": {p: self._describe(p) for p in PARTS},
        }
        body.setdefault("parents", [])
        folder = self.store.root / self.name
        from sluice.datacard import render_datacard

        if fs.is_remote(folder):
            return self._publish_remote(folder, body)
        _fsync_tree(self.tmp)  # the shards, once; the manifest and card are rewritten per attempt
        for _attempt in range(1000):
            # Every v<N> folder counts, published or not, so a stray folder is skipped, not retried forever.
            number = max(_version_dirs(folder), default=0) + 1
            body["version"] = number
            _write_synced(self.tmp / "manifest.json", json.dumps(body, indent=2, sort_keys=False) + "\n")
            _write_synced(self.tmp / "DATACARD.md", render_datacard(body))
            _fsync_dir(self.tmp)
            target = folder / f"v{number}"
            try:
                os.rename(self.tmp, target)  # atomic; fails if a racing writer took vN
            except OSError:
                if target.exists():
                    time.sleep(0.001)
                    continue
                raise
            _fsync_dir(folder)
            self.published = Version(self.name, number, target)
            return self.published
        raise PublishConflict(f"could not claim a version number for {self.name}", hint="retry the command")

    def _publish_remote(self, folder, body: dict[str, Any]) -> Version:
        """On an object store: claim ``v<N>`` with a write-once object, copy the shards in, write
        the manifest last (sluice/fs.py). A lost claim race moves on to N+1."""
        from sluice.datacard import render_datacard

        (self.tmp / ".open").unlink(missing_ok=True)
        for _attempt in range(1000):
            number = max(_version_dirs(folder), default=0) + 1
            target = folder / f"v{number}"
            if not fs.put_if_absent(target / ".claim", f"{os.getpid()} {secrets.token_hex(8)}\n"):
                continue
            body["version"] = number
            (self.tmp / "DATACARD.md").write_text(render_datacard(body))
            (self.tmp / "manifest.json").write_text(json.dumps(body, indent=2, sort_keys=False) + "\n")
            fs.move_tree(self.tmp, target, last="manifest.json")
            self.published = Version(self.name, number, target)
            return self.published
        raise PublishConflict(f"could not claim a version number for {self.name}", hint="retry the command")

    def _close_parts(self) -> None:
        for part in self.parts.values():
            part.close()
        data = self.parts["data"]
        if data.schema is not None:  # no rows: an empty shard still tells readers the columns
            data.ensure_shard(data.schema)

    def same_as_latest(self) -> Version | None:
        """The dataset's latest version when this one would hold exactly its rows, else None.

        Compared by the sha256 of every shard of every part (data, rejected, quarantine), so a
        re-ingest of the same content can be a no-op that names the version already holding it.
        """
        self._check_open()
        versions = self.store.versions(self.name)
        if not versions:
            return None
        latest = versions[-1]
        self._close_parts()
        try:
            manifest = latest.manifest
        except (OSError, ValueError):
            return None
        if manifest.get("kind") != self.kind:
            return None
        old = {p: [s.get("sha256") for s in (manifest.get("parts", {}).get(p) or {}).get("shards", [])] for p in PARTS}
        new = {p: [fs.sha256(path) for path in self.parts[p].shards] for p in PARTS}
        return latest if old == new else None

    def _describe(self, part: str) -> dict[str, Any]:
        shards = []
        for path in self.parts[part].shards:
            shards.append({
                "path": f"{part}/{path.name}",
                "rows": fs.num_rows(path),
                "bytes": fs.size(path),
                "sha256": fs.sha256(path),
            })
        return {"rows": self.parts[part].rows, "shards": shards}

    def _check(self, accounting: dict[str, Any]) -> None:
        """Exact accounting: rows in = kept + rejected + quarantined, and the files agree."""
        kept = self.parts["data"].rows
        rejected = self.parts["rejected"].rows
        quarantined = self.parts["quarantine"].rows
        problems = []
        if accounting.get("kept") != kept:
            problems.append(f"accounting says kept={accounting.get('kept')}, data holds {kept} rows")
        if accounting.get("rejected_total", 0) != rejected:
            problems.append(f"accounting says rejected={accounting.get('rejected_total')}, rejected/ holds {rejected}")
        if accounting.get("quarantined_total", 0) != quarantined:
            problems.append(
                f"accounting says quarantined={accounting.get('quarantined_total')}, quarantine/ holds {quarantined}")
        if accounting.get("rows_in") != kept + rejected + quarantined:
            problems.append(
                f"rows_in={accounting.get('rows_in')} but kept+rejected+quarantined={kept + rejected + quarantined}")
        for total_key, detail_key, what in (("rejected_total", "rejected", "reason"),
                                            ("quarantined_total", "quarantined", "kind")):
            detail = accounting.get(detail_key) or {}
            try:
                by_stage = sum(sum(counts.values()) for counts in detail.values())
            except (AttributeError, TypeError):
                problems.append(f"accounting {detail_key!r} must map stage → {{{what}: rows}}")
                continue
            if by_stage != accounting.get(total_key, 0):
                problems.append(f"accounting {detail_key!r} by stage and {what} sums to {by_stage}, "
                                f"but {total_key}={accounting.get(total_key, 0)}")
        if problems:
            raise SchemaValidationError(
                f"refusing to publish {self.name}: the row accounting does not add up",
                problems=problems, hint="this is a bug in the stage or runner; please report it")


def _version_dirs(folder: Path) -> list[int]:
    if fs.is_remote(folder) and not folder.exists():
        return []
    return [int(m.group(1)) for p in folder.iterdir() if (m := _VERSION_DIR.match(p.name))]


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
