"""Where the store's files live: a local folder or an object store, behind one set of helpers.

A store root is a local path (``./sluice-data``) or a URI (``s3://bucket/prefix``, ``gs://…``,
``memory://…`` for tests — any fsspec protocol whose package is installed). Every module that
touches the store's files goes through :func:`as_path` (a ``pathlib.Path`` locally, a
``upath.UPath`` for a URI: the same methods) and the Parquet/text helpers here, which open
files through ``pyarrow.fs`` for a URI.

Configuration is the standard one for each store: for S3 the ``AWS_*`` variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` for
MinIO or another S3-compatible server) or ``~/.aws`` profiles, read alike by s3fs (listings,
small files) and by Arrow (Parquet). ``SLUICE_STORAGE_OPTIONS`` (JSON) passes extra fsspec
options (e.g. ``{"endpoint_url": …}``) to the listing side.

What an object store lacks, and the rule that replaces it:

* no atomic rename of a folder. A version is published by a **write-once claim**: the writer
  uploads its shards under ``<name>/.tmp-…/``, then creates ``<name>/v<N>/.claim`` with a
  conditional put (``If-None-Match: *``: it fails when the object exists, so of two writers racing
  for N exactly one wins and the other tries N+1), copies the shards into ``v<N>/`` and writes
  ``v<N>/manifest.json`` **last**. Readers list only ``v<N>`` folders that hold a manifest, so they
  never see a half-copied version; a claim whose writer died leaves a ``v<N>`` without a manifest,
  which no reader lists and no writer reuses. (AWS S3 has honoured ``If-None-Match`` on PutObject
  since August 2024; MinIO and moto do too.)
* a checkpoint is moved into place file by file with its ``stats.json`` last (what "done" means).
* no process ids across machines: temporary folders of dead writers are not cleaned automatically
  on an object store (``sluice gc`` removes checkpoints; a lifecycle rule on ``.tmp-`` prefixes
  removes abandoned uploads).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(root: Any) -> bool:
    return bool(_URI.match(str(root))) and not str(root).startswith("file://")


def as_path(root: str | os.PathLike) -> Any:
    """A local ``Path``, or a ``UPath`` for an object-store URI (``s3://bucket/prefix``)."""
    if isinstance(root, Path) or not is_uri(root):
        text = str(root)
        return Path(text[len("file://"):] if text.startswith("file://") else text)
    if not isinstance(root, (str, os.PathLike)) or hasattr(root, "protocol"):
        return root  # already a UPath
    try:
        from upath import UPath
    except ImportError:
        from sluice.errors import MissingDependency

        raise MissingDependency("an object-store root needs universal-pathlib and the store's fsspec package",
                                hint="pip install 'sluice[cloud]'") from None
    options = json.loads(os.environ.get("SLUICE_STORAGE_OPTIONS") or "{}")
    if str(root).split("://", 1)[0] in ("s3", "s3a", "gs", "gcs"):
        # Parquet is written through Arrow, behind fsspec's back: a cached listing would miss it
        options.setdefault("use_listings_cache", False)
    return UPath(str(root), **options)


def is_remote(path: Any) -> bool:
    return not isinstance(path, Path)


def uri(path: Any) -> str:
    """The string Arrow opens: an absolute local path, or the URI."""
    return str(path.resolve()) if isinstance(path, Path) else str(path)


def arrow(path: Any) -> tuple[pafs.FileSystem, str]:
    """Arrow's file system and path inside it, for a local path, a ``UPath`` or a URI string.
    One file system per bucket and process: making one probes the bucket (two requests)."""
    text = uri(path) if not isinstance(path, str) else path
    if not is_uri(text):
        return pafs.FileSystem.from_uri(text)
    scheme, _, rest = text.partition("://")
    fs = _arrow_fs(scheme, rest.split("/", 1)[0], os.environ.get("AWS_ENDPOINT_URL", ""))
    return fs, rest.split("?", 1)[0]


@functools.lru_cache(maxsize=64)
def _arrow_fs(scheme: str, bucket: str, endpoint: str) -> pafs.FileSystem:
    return pafs.FileSystem.from_uri(f"{scheme}://{bucket}")[0]





def parquet_file(path: Any) -> pq.ParquetFile:
    if isinstance(path, Path):
        return pq.ParquetFile(path)
    fs, inner = arrow(path)
    return pq.ParquetFile(fs.open_input_file(inner))


def read_table(path: Any, columns: list[str] | None = None) -> pa.Table:
    if isinstance(path, Path):
        return pq.read_table(path, columns=columns)
    fs, inner = arrow(path)
    return pq.read_table(inner, columns=columns, filesystem=fs)


def read_schema(path: Any) -> pa.Schema:
    return parquet_file(path).schema_arrow


def num_rows(path: Any) -> int:
    return parquet_file(path).metadata.num_rows


def output_stream(path: Any):
    """A writable binary stream (Arrow's) for a new file at ``path``."""
    if isinstance(path, Path):
        return pa.OSFile(str(path), "wb")
    fs, inner = arrow(path)
    return fs.open_output_stream(inner)


def write_parquet(table: pa.Table, path: Any, **kw) -> None:
    if isinstance(path, Path):
        pq.write_table(table, path, **kw)
        return
    with output_stream(path) as sink:
        pq.write_table(table, sink, **kw)


def sha256(path: Any) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def size(path: Any) -> int:
    return path.stat().st_size


def rmtree(path: Any) -> None:
    """Remove a folder and everything under it; a missing one is fine."""
    if isinstance(path, Path):
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        path.fs.rm(path.path, recursive=True)
    except FileNotFoundError:
        pass


def mkdir(path: Any) -> None:
    """A folder (locally); on an object store folders are only key prefixes: nothing to do."""
    if isinstance(path, Path):
        path.mkdir(parents=True, exist_ok=True)


def put_if_absent(path: Any, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists (a conditional put on an object store:
    ``If-None-Match: *``); True when this call created it."""
    if isinstance(path, Path):
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
            return True
        except FileExistsError:
            return False
    try:
        path.fs.pipe_file(path.path, text.encode(), mode="create")
        return True
    except FileExistsError:
        return False


def move_tree(src: Any, dst: Any, last: str) -> None:
    """Move folder ``src`` to ``dst`` (which must not hold files yet). Locally one rename; on an
    object store file by file, with the file named ``last`` (the marker readers look for) moved
    after every other."""
    if isinstance(src, Path):
        os.rename(src, dst)
        return
    files = sorted((p for p in src.rglob("*") if p.is_file()), key=lambda p: p.name == last)
    for p in files:
        rel = p.path[len(src.path.rstrip("/")) + 1:]
        src.fs.copy(p.path, f"{dst.path.rstrip('/')}/{rel}")
    rmtree(src)


def write_text_atomic(path: Any, text: str) -> None:
    """Write a small file whole: locally under a temporary name then renamed; an object store's
    put is already all-or-nothing."""
    if isinstance(path, Path):
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return
    path.write_text(text)
