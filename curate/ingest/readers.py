"""Finding input files, opening them (gz / zst), and cutting them into record chunks."""

from __future__ import annotations

import glob
import gzip
import os
from collections.abc import Iterator
from pathlib import Path

from sluice.errors import InputError

CONTAINERS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
COMPRESSIONS = {".gz": "gz", ".zst": "zst", ".zstd": "zst"}
CHUNK_BYTES = 8 << 20


def expand(paths: list[str]) -> list[Path]:
    """Files, globs and directories → a sorted, de-duplicated list of input files."""
    found: list[Path] = []
    for raw in map(str, paths):
        p = Path(raw)
        if glob.has_magic(raw) and not p.exists():  # a real path may contain [ ] too
            matches = sorted(Path(m) for m in glob.glob(raw, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(f"no file matches {raw!r}", hint="check the pattern; quote it so the shell does not expand it")
            found += matches
        elif p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                raise InputError(f"cannot read directory {p}", hint="check its permissions")
            files = sorted(f for f in p.rglob("*") if f.is_file() and _known(f) and not _hidden(f, p))
            if not files:
                raise InputError(f"directory {p} holds no log files",
                                 hint=f"expected files ending in {', '.join(CONTAINERS)} (optionally .gz/.zst)")
            found += files
        elif p.is_file():
            if not os.access(p, os.R_OK):
                raise InputError(f"cannot read {p}", hint="check its permissions")
            found.append(p)
        else:
            raise InputError(f"no such file or directory: {p}", hint="check the path (relative paths start from the current directory)")
    unique, seen = [], set()
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _hidden(f: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in f.relative_to(root).parts)


def _known(f: Path) -> bool:
    return container_of(f, sniff=False)[0] is not None


def container_of(path: Path, sniff: bool = True) -> tuple[str | None, str | None]:
    """(container, compression) from the file name, else by sniffing the first byte."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    base = suffixes[-2] if compression and len(suffixes) > 1 else (suffixes[-1] if suffixes and not compression else None)
    container = CONTAINERS.get(base) if base else None
    if container is None and sniff:
        with open_binary(path, compression) as f:
            head = f.read(64).lstrip()
        if head.startswith(b"["):
            container = "json"
        elif head.startswith(b"{"):
            container = "jsonl"
        elif head.startswith(b"PAR1"):
            container = "parquet"
    return container, compression


def open_binary(path: Path, compression: str | None):
    if compression == "gz":
        return gzip.open(path, "rb")
    if compression == "zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def line_chunks(path: Path, compression: str | None, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes, int]]:
    """Yield (index of the chunk's first line, bytes of whole lines, compressed bytes read so far)."""
    first_line = 0
    rest = b""
    with open(path, "rb") as raw:
        stream = raw if compression is None else _decompressing(raw, compression)
        while True:
            block = stream.read(chunk_bytes)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            chunk, rest = block[: cut + 1], block[cut + 1 :]
            yield first_line, chunk, raw.tell()
            first_line += chunk.count(b"\n")
        if rest:
            yield first_line, rest, raw.tell()


def _decompressing(raw, compression: str):
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)


def read_all(path: Path, compression: str | None) -> bytes:
    with open_binary(path, compression) as f:
        return f.read()
