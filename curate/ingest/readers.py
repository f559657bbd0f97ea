"""Finding input files, opening them (gz / zst / bz2 / xz), and cutting them into record chunks.

Decompression is done here with streaming decompressor objects, so damage is found where it
is: a stream that ends before its end-of-stream marker (a cut download), a corrupt block, a
gzip trailer whose checksum or length disagrees, a zstd frame shorter than its header
declares. Whatever decoded before the damage is still yielded; the damage itself is reported
as a ``Damage`` (file, compressed byte offset, what is wrong) for the caller to quarantine.
"""

from __future__ import annotations

import bz2
import codecs
import errno
import glob
import lzma
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sluice.errors import DataError, InputError

CONTAINERS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
COMPRESSIONS = {".gz": "gz", ".zst": "zst", ".zstd": "zst", ".bz2": "bz2", ".xz": "xz"}
# Inside a folder, files with these endings are read when their first byte says JSON lines.
SNIFFED_IN_FOLDERS = (".log", ".txt")
CHUNK_BYTES = 8 << 20
_READ = 64 << 10  # compressed bytes fed to a decompressor at a time (bounds what a corrupt block loses)
_PIECE = 8 << 20  # most decoded bytes a stream hands over at once
_ZSTD_SLICE = 2 << 10  # compressed bytes per zstd call: a 128 KiB block can hide in a few bytes
_NAMES = {"gz": "gzip", "zst": "zstd", "bz2": "bzip2", "xz": "xz"}
# Decompression guards, per file. The highest ratio measured on real chat data is 111x (zstd -19
# of a templated set, BENCHMARKS.md "#35"); a gzip bomb runs at ~1,030x. The ratio is checked
# only once a file has decoded more than EXPANSION_FLOOR bytes, so small files never trip it.
MAX_EXPANSION = 500
EXPANSION_FLOOR = 64 << 20
MAX_FILE_BYTES = 256 << 30
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class Damage:
    """A compressed stream that could not be read to its end."""

    compression: str
    offset: int  # compressed bytes read when the damage was found
    problem: str

    def describe(self) -> str:
        return f"damaged {_NAMES[self.compression]} stream near byte {self.offset:,}: {self.problem}"


def expand(paths: list[str]) -> list[Path]:
    """Files, globs and directories → a sorted, de-duplicated list of input files."""
    return expand_all(paths)[0]


def expand_all(paths: list[str]) -> tuple[list[Path], list[Skipped]]:
    """Input files, and the files of named folders that are not read, each with its reason."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    for raw in map(str, paths):
        p = Path(raw)
        if glob.has_magic(raw) and not p.exists():  # a real path may contain [ ] too
            matches = []
            for m in sorted(glob.glob(raw, recursive=True)):
                why = _not_regular(Path(m))
                if why is None:
                    matches.append(Path(m))
                elif why:
                    skipped.append(Skipped(m, why))
            if not matches:
                raise InputError(f"no file matches {raw!r}", hint="check the pattern; quote it so the shell does not expand it")
            found += matches
        elif p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                raise InputError(f"cannot read directory {p}", hint="check its permissions")
            files, passed = _folder(p)
            if not files:
                raise InputError(f"directory {p} holds no log files", problems=[f"{s.path}: {s.reason}" for s in passed],
                                 hint=f"expected files ending in {', '.join(CONTAINERS)} (optionally "
                                      f"{', '.join(COMPRESSIONS)}); pass a file itself to read it with --format")
            found += files
            skipped += passed
        elif p.is_file():
            if not os.access(p, os.R_OK):
                raise InputError(f"cannot read {p}", hint="check its permissions")
            found.append(p)
        else:
            why = _not_regular(p)
            if why is None or not why and not p.is_symlink():
                raise InputError(f"no such file or directory: {p}",
                                 hint="check the path (relative paths start from the current directory)")
            raise InputError(f"cannot read {p}: {why or 'not a regular file'}",
                             hint="fix the link or pass its target" if p.is_symlink() else
                             "pass a regular file (copy a pipe's or device's contents to one first)")
    unique, seen = [], set()
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, skipped


def _folder(root: Path) -> tuple[list[Path], list[Skipped]]:
    files, skipped = [], []
    for f in sorted(root.rglob("*")):
        why = _not_regular(f)
        if why:  # a pipe, device, socket, looping or broken symlink: listed, never opened
            skipped.append(Skipped(str(f), why))
            continue
        if why is not None:  # a folder (walked itself)
            continue
        if _hidden(f, root):
            skipped.append(Skipped(str(f), "hidden file (name starts with '.'); pass it by name to read it"))
        elif f.stat().st_size == 0:
            skipped.append(Skipped(str(f), "empty file (0 bytes)"))
        elif container_of(f, sniff=False)[0] is not None:
            files.append(f)
        elif _strip_compression(f.name).lower().endswith(SNIFFED_IN_FOLDERS):
            if _sniff_safe(f) == "jsonl":
                files.append(f)
            else:
                skipped.append(Skipped(str(f), "not JSON lines (first byte is not '{'); pass it with --format to read it"))
        else:
            skipped.append(Skipped(str(f), f"unknown file type {''.join(f.suffixes) or '(no extension)'}; "
                                           f"pass it by name with --format to read it"))
    return files, skipped


def _not_regular(p: Path) -> str | None:
    """None for a regular file (through symlinks), "" for a folder or a path that does not
    exist, else why it cannot be read as a file."""
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return "a broken symbolic link (its target does not exist)" if p.is_symlink() else ""
    except OSError as e:  # ELOOP: a symlink loop
        return f"{e.strerror or e}" + (" (a symbolic link loop)" if e.errno == errno.ELOOP else "")
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return ""
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"{kind}, not a regular file; copy its contents to a file to read them"


def _strip_compression(name: str) -> str:
    for suffix in COMPRESSIONS:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _sniff_safe(f: Path) -> str | None:
    try:
        return container_of(f)[0]
    except OSError:
        return None


def _hidden(f: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in f.relative_to(root).parts)


def container_of(path: Path, sniff: bool = True) -> tuple[str | None, str | None]:
    """(container, compression) from the file name, else by sniffing the first bytes."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    base = suffixes[-2] if compression and len(suffixes) > 1 else (suffixes[-1] if suffixes and not compression else None)
    container = CONTAINERS.get(base) if base else None
    if container is None and sniff:
        head = head_bytes(path, compression, 256).lstrip()
        if head.startswith(b"["):
            container = "json"
        elif head.startswith(b"{"):
            container = "jsonl"
        elif head.startswith(b"PAR1"):
            container = "parquet"
    return container, compression


def head_bytes(path: Path, compression: str | None, n: int) -> bytes:
    """The first ``n`` decoded bytes (UTF-8), damage or not."""
    out = b""
    reader = DecodedReader(path, compression, block=64 << 10)
    for block in reader:
        out += block
        if len(out) >= n:
            break
    return out[:n]


class DecodedReader:
    """Iterate a file's decoded bytes: decompressed, and UTF-16/32 (with a BOM) turned into UTF-8.

    After iteration, ``damage`` holds what stopped a damaged stream early (or None), ``encoding``
    the text encoding found, ``position`` the compressed bytes read.
    """

    def __init__(self, path: Path, compression: str | None, block: int = _READ,
                 max_expansion: float = MAX_EXPANSION, max_bytes: int = MAX_FILE_BYTES):
        self.path, self.compression, self.block = path, compression, block
        self.max_expansion, self.max_bytes = max_expansion, max_bytes
        self.damage: Damage | None = None
        self.encoding = "utf-8"
        self.position = 0
        self.decoded = 0  # decompressed bytes so far

    def _guard(self, n: int) -> None:
        """Refuse a file that decompresses past the output limit or the expansion ratio."""
        self.decoded += n
        if self.decoded > self.max_bytes:
            raise DataError(f"{self.path}: decompresses to more than {self.max_bytes:,} bytes; nothing was published",
                            hint="raise --max-file-bytes if the file is genuine")
        if self.decoded > EXPANSION_FLOOR and self.decoded > self.max_expansion * max(self.position, 1):
            raise DataError(f"{self.path}: {self.position:,} compressed bytes decompress to {self.decoded:,} "
                            f"(over {self.max_expansion:g}x; a decompression bomb?); nothing was published",
                            hint="raise --max-expansion if the file is genuine")

    def __iter__(self) -> Iterator[bytes]:
        decoder = None
        first = True
        for data in self._decompressed():
            if self.compression is not None:
                self._guard(len(data))
            if first:
                first = False
                encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
                if encoding:
                    self.encoding = encoding
                    decoder = codecs.getincrementaldecoder(encoding)("replace")
            if decoder is not None:
                data = decoder.decode(data).encode("utf-8")
            if data:
                yield data
        if decoder is not None:
            tail = decoder.decode(b"", final=True).encode("utf-8")
            if tail:
                yield tail

    def _decompressed(self) -> Iterator[bytes]:
        with open(self.path, "rb") as raw:
            if self.compression is None:
                while block := raw.read(self.block):
                    self.position += len(block)
                    yield block
                return
            dec = _Decompressor(self.compression)
            started = False  # inside a stream that has not ended yet
            while block := raw.read(self.block):
                self.position += len(block)
                data = block
                while data:
                    started = True
                    saved = dec.copy()
                    sent = 0  # bytes of this block's output already handed on
                    try:
                        for out in dec.pieces(data):  # bounded pieces, however far the data expands
                            sent += len(out)
                            yield out
                    except _ERRORS as e:
                        # What decoded before the bad byte is still good: replay this block from the
                        # saved state a byte at a time (only gzip can copy its state).
                        out, at = saved.salvage(data) if saved else (b"", 0)
                        if out[sent:]:
                            yield out[sent:]
                        self.damage = Damage(self.compression, self.position - len(data) + at, _reason(e))
                        return
                    if not dec.eof:
                        break
                    problem = dec.check()
                    if problem:
                        self.damage = Damage(self.compression, self.position - len(dec.unused_data), problem)
                        return
                    data = dec.unused_data
                    if data and not data.strip(b"\0"):  # padding after the last stream
                        data = b""
                    dec = _Decompressor(self.compression)  # the next member / stream / frame, if any
                    started = bool(data)
            if started:
                declared = f" (its frame header declares {dec.declared:,} bytes, {dec.out:,} decoded)" \
                    if dec.declared not in (None, -1) else ""
                self.damage = Damage(self.compression, self.position,
                                     f"the file is cut short: it ends inside a compressed stream{declared}")


def _zstd_error() -> type[BaseException]:
    try:
        import zstandard

        return zstandard.ZstdError
    except ImportError:  # pragma: no cover - zstandard is a core dependency
        return zlib.error


_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, _zstd_error())


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


class _Decompressor:
    """One stream (gzip member, bzip2/xz stream, zstd frame) with a common interface."""

    def __init__(self, compression: str):
        self.compression = compression
        self.out = 0
        self.declared: int | None = None
        if compression == "gz":
            self._d = zlib.decompressobj(wbits=31)
        elif compression == "bz2":
            self._d = bz2.BZ2Decompressor()
        elif compression == "xz":
            self._d = lzma.LZMADecompressor()
        else:
            import zstandard

            self._zstd = zstandard
            self._d = zstandard.ZstdDecompressor().decompressobj()
            self._head = b""

    def copy(self) -> _Decompressor | None:
        if self.compression != "gz":
            return None
        twin = object.__new__(_Decompressor)
        twin.__dict__.update(self.__dict__)
        twin._d = self._d.copy()
        return twin

    def salvage(self, data: bytes) -> tuple[bytes, int]:
        """Output decodable from ``data`` before the byte that fails, and that byte's index."""
        out = []
        for i in range(len(data)):
            try:
                out.append(self._d.decompress(data[i:i + 1]))
            except _ERRORS:
                return b"".join(out), i
        return b"".join(out), len(data)

    def decompress(self, data: bytes) -> bytes:
        if self.compression == "zst" and self.declared is None and len(self._head) < 18:
            self._head += data[:18]
            try:
                size = self._zstd.get_frame_parameters(self._head).content_size
                self.declared = size if size not in (0, self._zstd.CONTENTSIZE_UNKNOWN) else -1
            except self._zstd.ZstdError:
                pass
        out = self._d.decompress(data)
        self.out += len(out)
        return out

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data`` as outputs of at most ``_PIECE`` bytes (zstd, which has no such limit: of
        input slices small enough that even a block of maximal expansion stays small)."""
        if self.compression == "zst":
            for i in range(0, len(data), _ZSTD_SLICE):
                out = self.decompress(data[i:i + _ZSTD_SLICE])
                if out:
                    yield out
                if self.eof:  # the rest belongs to the next frame: leave it in unused_data
                    self._rest = data[i + _ZSTD_SLICE:]
                    return
            return
        if self.compression == "gz":
            while True:
                out = self._d.decompress(data, _PIECE)
                self.out += len(out)
                if out:
                    yield out
                data = self._d.unconsumed_tail
                if self._d.eof or (not data and len(out) < _PIECE):
                    return
        out = self._d.decompress(data, max_length=_PIECE)
        self.out += len(out)
        if out:
            yield out
        while not self._d.eof and not self._d.needs_input:
            out = self._d.decompress(b"", max_length=_PIECE)
            self.out += len(out)
            if out:
                yield out

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data + getattr(self, "_rest", b"")

    def check(self) -> str | None:
        """At the end of a stream: a size the header declared and the data disagree on."""
        if self.compression == "zst" and self.declared not in (None, -1) and self.out != self.declared:
            return f"the frame header declares {self.declared:,} bytes, the frame holds {self.out:,}"
        return None


@dataclass(frozen=True)
class Oversized:
    """A line longer than the record limit, skipped to its end while reading: never held whole."""

    size: int  # bytes of the line (without its newline)
    prefix: bytes  # its first bytes, for the quarantine row


class LineChunks:
    """(index of the chunk's first line, bytes of whole lines, compressed bytes read so far).

    A line longer than ``max_line`` is not held: it is skipped to its end as it streams past and
    yielded on its own as an ``Oversized`` in place of the chunk's bytes. So memory stays near
    ``chunk_bytes + max_line`` whatever the input.

    After iteration ``damage`` is set when the stream broke off; ``tail`` then holds the bytes of
    the incomplete last line (not yielded), ``lines`` the number of whole lines yielded.
    """

    def __init__(self, path: Path, compression: str | None, chunk_bytes: int = CHUNK_BYTES,
                 max_line: int | None = None, prefix_bytes: int = 4096, **guards):
        self.reader = DecodedReader(path, compression, **guards)
        self.chunk_bytes = chunk_bytes
        self.max_line = max_line
        self.prefix_bytes = prefix_bytes
        self.tail = b""
        self.lines = 0

    @property
    def damage(self) -> Damage | None:
        return self.reader.damage

    @property
    def encoding(self) -> str:
        return self.reader.encoding

    def __iter__(self) -> Iterator[tuple[int, bytes | Oversized, int]]:
        blocks: list[bytes] = []
        size = 0
        partial = 0  # bytes after the last newline held
        skipping: list | None = None  # [size so far, prefix] of an oversized line being skipped
        # The parser strips a trailing CR and a first line's BOM: leave it the lines it can still judge.
        limit = None if self.max_line is None else self.max_line + 4
        for block in self.reader:
            if skipping is not None:
                nl = block.find(b"\n")
                if len(skipping[1]) < self.prefix_bytes:
                    skipping[1] += block[: min(self.prefix_bytes - len(skipping[1]), len(block) if nl < 0 else nl)]
                if nl < 0:
                    skipping[0] += len(block)
                    continue
                yield self.lines, self._oversized(skipping[0] + nl, skipping[1], block[:nl]), self.reader.position
                self.lines += 1
                skipping, block = None, block[nl + 1:]
                if not block:
                    continue
            blocks.append(block)
            size += len(block)
            nl = block.rfind(b"\n")
            partial = partial + len(block) if nl < 0 else len(block) - nl - 1
            if limit is not None and partial > limit:
                pending = b"".join(blocks)
                cut = pending.rfind(b"\n")
                if cut >= 0:
                    yield self.lines, pending[: cut + 1], self.reader.position
                    self.lines += pending.count(b"\n", 0, cut + 1)
                rest = pending[cut + 1:]
                skipping = [len(rest), rest[: self.prefix_bytes]]
                blocks, size, partial = [], 0, 0
                continue
            if size < self.chunk_bytes:
                continue
            pending = b"".join(blocks)
            blocks, size = [pending], len(pending)
            cut = pending.rfind(b"\n")
            if cut < 0:
                continue
            chunk, pending = pending[: cut + 1], pending[cut + 1:]
            blocks, size = [pending], len(pending)
            yield self.lines, chunk, self.reader.position
            self.lines += chunk.count(b"\n")
        if skipping is not None:
            if self.damage is not None:
                self.tail = skipping[1]
            else:
                yield self.lines, self._oversized(skipping[0], skipping[1], b""), self.reader.position
                self.lines += 1
            return
        pending = b"".join(blocks)
        if self.damage is not None:
            cut = pending.rfind(b"\n")
            chunk, self.tail = pending[: cut + 1], pending[cut + 1:]
            pending = chunk
        if pending:
            yield self.lines, pending, self.reader.position
            self.lines += pending.count(b"\n") + (not pending.endswith(b"\n"))

    def _oversized(self, size: int, prefix: bytes, last: bytes) -> Oversized:
        if last.endswith(b"\r"):
            size -= 1
        return Oversized(size, prefix)


def line_chunks(path: Path, compression: str | None, chunk_bytes: int = CHUNK_BYTES,
                **options) -> Iterator[tuple[int, bytes | Oversized, int]]:
    """Whole-line chunks of a file (see LineChunks; damage is ignored here)."""
    yield from LineChunks(path, compression, chunk_bytes, **options)


def read_all(path: Path, compression: str | None, **guards) -> tuple[bytes, Damage | None]:
    """The whole decoded file, and the damage that cut it short (or None)."""
    reader = DecodedReader(path, compression, **guards)
    return b"".join(reader), reader.damage
