"""MinHash signatures, vectorized across documents, equal to datasketch's ``MinHash``.

The shingle hash is a polynomial hash of the shingle's UTF-8 bytes mod 2^64, finalized with
MurmurHash3's fmix64 and truncated to 32 bits (:func:`shingle_hash`, a plain Python function
you can pass to datasketch as ``hashfunc``). A polynomial hash of any substring comes from
prefix sums in O(1), so every shingle of every document in a batch is hashed with a handful of
numpy operations over the batch's byte buffer — no Python loop per shingle or per document.

The permutations are datasketch's ``affine32`` scheme (its default since 2.0): the input
hash is pre-mixed with fmix32 and permuted with ``a*h + b mod 2^32``; ``a`` and ``b`` are
taken from ``datasketch.MinHash(num_perm, seed).permutations``. So for the same seed and
``num_perm``::

    m = datasketch.MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
    m.update_batch(shingles(text, n=5))            # == signatures([text], ...)[0]

Work is split into chunks of documents run on a thread pool. With numba installed (the dedup
extra) each chunk is one compiled pass that releases the GIL (:func:`_kernel`: shingle hashes from
prefix hashes, then the permutation minimum vectorized across shingles); without it, the numpy
path below computes the same signatures (tests compare both with datasketch).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import pyarrow as pa

Unit = Literal["word", "char"]
P = np.uint64(0x9E3779B97F4A7C15)  # odd → invertible mod 2^64
Q = np.uint64(pow(int(P), -1, 1 << 64))
_M64 = (1 << 64) - 1
MAX32 = np.uint32(0xFFFFFFFF)


# -- the hash, as plain Python (reference / datasketch hashfunc) ------------------------------

def _fmix64_py(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def shingle_hash64(b: bytes) -> int:
    """64-bit hash of one shingle (decontamination uses the full 64 bits)."""
    h, p = 0, int(P)
    for c in b:
        h = (h * p + c) & _M64
    return _fmix64_py(h)


def shingle_hash(b: bytes) -> int:
    """32-bit hash of one shingle: pass as ``hashfunc`` to ``datasketch.MinHash``."""
    return shingle_hash64(b) & 0xFFFFFFFF


def shingles(text: str, n: int, unit: Unit = "word") -> list[bytes]:
    """Reference shingling of one *normalized* text (see normalize.py): word or char n-grams.

    A text shorter than ``n`` units is one shingle; an empty text has none.
    """
    if not text:
        return []
    units = text.split(" ") if unit == "word" else list(text)
    sep = " " if unit == "word" else ""
    if len(units) < n:
        return [text.encode()]
    return [sep.join(units[i:i + n]).encode() for i in range(len(units) - n + 1)]


# -- vectorized ---------------------------------------------------------------------------------

def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _buffers(texts) -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64[n+1] starting at 0, bytes uint8) of a string array/Series without copies of text."""
    arr = texts.to_arrow() if hasattr(texts, "to_arrow") else texts
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string()).fill_null("")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    data = data[offsets[0]: offsets[-1]]
    return offsets - offsets[0], data


_POW: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base^0 .. base^(n-1) mod 2^64, cached and grown geometrically."""
    have = _POW.get(int(base))
    if have is None or len(have) < n:
        size = max(n, 2 * len(have) if have is not None else 1 << 20)
        out = np.full(size, base, dtype=np.uint64)
        out[0] = 1
        have = _POW[int(base)] = np.cumprod(out, dtype=np.uint64)
    return have[:n]


def shingle_hashes(texts, n: int, unit: Unit = "word") -> tuple[np.ndarray, np.ndarray]:
    """Hash every shingle of every normalized text → (doc index int64[m], hash64 uint64[m]).

    Same shingles as :func:`shingles`, grouped by document in ascending order.
    """
    offsets, data = _buffers(texts)
    ndocs = len(offsets) - 1
    size = len(data)
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    if unit == "word":
        space = data == 32
        is_start = np.zeros(size + 1, dtype=bool)
        is_start[1:] = space
        is_start[offsets[nonempty]] = True
        starts = np.flatnonzero(is_start[:size])
        is_end = np.zeros(size + 1, dtype=bool)
        is_end[:size] = space
        is_end[offsets[nonempty + 1]] = True
        ends = np.flatnonzero(is_end)
    else:
        starts = np.flatnonzero((data & 0xC0) != 0x80)  # first byte of each UTF-8 character
    count = np.zeros(ndocs, dtype=np.int64)
    count[nonempty] = np.add.reduceat(
        np.ones(len(starts), np.int64), np.searchsorted(starts, offsets[nonempty])) if len(starts) else 0
    doc = np.repeat(np.arange(ndocs), count)
    first = np.cumsum(count) - count
    pos = np.arange(len(starts)) - first[doc]
    # n-grams start at pos <= count-n; a text shorter than n is one shingle starting at pos 0
    g = np.flatnonzero(pos <= np.maximum(count[doc] - n, 0))
    s_doc = doc[g]
    whole = count[s_doc] < n
    s_start = starts[g]
    if unit == "word":
        s_end = ends[np.minimum(g + n - 1, len(ends) - 1)]
    else:
        inside = pos[g] + n < count[s_doc]
        s_end = np.where(inside, starts[np.minimum(g + n, len(starts) - 1)], offsets[s_doc + 1])
    s_end = np.where(whole, offsets[s_doc + 1], s_end)
    # prefix sums G[i] = sum_{k<i} c_k Q^k;  hash(i, j) = P^(j-1) * (G[j] - G[i])  (mod 2^64)
    G = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum(data * _powers(Q, size), out=G[1:])
    h = _powers(P, size + 1)[s_end - 1] * (G[s_end] - G[s_start]) if len(s_end) else np.zeros(0, np.uint64)
    return s_doc, fmix64(h)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a odd, b) for ``num_perm`` and ``seed``."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _kernel():
    """The compiled signature kernel (numba, ``nogil``), or None where numba is not installed.

    One pass per document: find the unit starts, hash each shingle's bytes (the same polynomial
    hash + fmix64 + fmix32 as :func:`shingle_hashes`), then ``min(a*h + b)`` over the
    permutations in an inner loop the compiler vectorizes. No temporary arrays per shingle, and
    the GIL is released, so the thread pool's slices run in parallel.
    """
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL or None
    try:
        import numba
    except ImportError:
        _KERNEL = False
        return None

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def kernel(offsets, data, n, word, a, b, pw, qw, sig):  # pragma: no cover - compiled
        m1, m2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
        c1, c2, low = np.uint64(0x85EBCA6B), np.uint64(0xC2B2AE35), np.uint64(0xFFFFFFFF)
        s33, s16, s13 = np.uint64(33), np.uint64(16), np.uint64(13)
        num_perm = a.shape[0]
        cap = 0
        bound = np.empty(0, np.int64)  # unit starts (words: the byte after each space), then an end marker
        prefix = np.empty(0, np.uint64)  # prefix[i] = sum of byte k * Q^k over the document's first i bytes
        hv = np.empty(0, np.uint32)  # the document's shingle hashes, pre-mixed
        for d in range(offsets.shape[0] - 1):
            lo, hi = offsets[d], offsets[d + 1]
            if hi <= lo:
                continue
            if cap < hi - lo + 2:
                cap = 2 * (hi - lo) + 2
                bound = np.empty(cap, np.int64)
                prefix = np.empty(cap, np.uint64)
                hv = np.empty(cap, np.uint32)
            pre = np.uint64(0)  # a sum, not a Horner chain: the products are independent of each other
            prefix[0] = pre
            bound[0] = lo
            units = 1 if word else 0
            for i in range(lo, hi):  # branch-free: the slot at `units` is rewritten until a boundary keeps it
                c = data[i]
                pre += np.uint64(c) * qw[i - lo]
                prefix[i - lo + 1] = pre
                if word:
                    bound[units] = i + 1
                    units += c == 32
                else:
                    bound[units] = i
                    units += (c & 0xC0) != 0x80
            bound[units] = hi + 1 if word else hi  # shingle g spans bound[g] .. bound[g + n] (- 1 for the space)
            grams = units - n + 1 if units >= n else 1
            for g in range(grams):
                if units >= n:
                    s_lo, s_hi = bound[g], bound[g + n] - word
                else:  # shorter than n units: the whole text is one shingle
                    s_lo, s_hi = lo, hi
                h = pw[s_hi - lo - 1] * (prefix[s_hi - lo] - prefix[s_lo - lo])  # = polynomial hash of the bytes
                h ^= h >> s33
                h *= m1
                h ^= h >> s33
                h *= m2
                h ^= h >> s33
                # numba widens uint32 arithmetic to 64 bits: mask back to 32 after each product
                v = h & low
                v ^= v >> s16
                v = (v * c1) & low
                v ^= v >> s13
                v = (v * c2) & low
                v ^= v >> s16
                hv[g] = np.uint32(v)
            row = sig[d]
            for k in range(num_perm):  # min over shingles, vectorized across them
                ak, bk = a[k], b[k]
                m = row[k]
                for g in range(grams):
                    m = min(m, np.uint32(ak * hv[g] + bk))
                row[k] = m

    _KERNEL = kernel
    return kernel


_KERNEL = None


def _slice_signatures(texts, n: int, unit: Unit, a: np.ndarray, b: np.ndarray, chunk: int,
                      compiled: bool = True) -> np.ndarray:
    """Signatures of one slice of documents: hash shingles, then permute + min per shingle chunk.

    Layout is (num_perm, shingles) so the min-reduction per document runs over contiguous memory.
    """
    sig = np.full((len(texts), len(a)), MAX32, dtype=np.uint32)
    kernel = _kernel() if compiled else None
    if kernel is not None:
        offsets, data = _buffers(texts)
        longest = int(np.diff(offsets).max()) if len(offsets) > 1 else 0
        kernel(offsets, data, n, unit == "word", a, b, _powers(P, longest + 1), _powers(Q, longest + 1), sig)
        return sig
    doc, h64 = shingle_hashes(texts, n, unit)
    if not len(doc):
        return sig
    hv = fmix32(h64.astype(np.uint32))  # low 32 bits, pre-mixed as datasketch's affine32 does
    bounds = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])  # first shingle of each document
    cut = np.unique(np.r_[np.searchsorted(bounds, np.arange(0, len(doc), chunk)), len(bounds)])
    for i, j in zip(cut[:-1], cut[1:]):
        lo = bounds[i]
        hi = bounds[j] if j < len(bounds) else len(doc)
        buf = np.multiply(a[:, None], hv[None, lo:hi], dtype=np.uint32)
        np.add(buf, b[:, None], out=buf)
        sig[doc[bounds[i:j]]] = np.minimum.reduceat(buf, bounds[i:j] - lo, axis=1).T
    return sig


def _slices(texts, docs_per_job: int, bytes_per_job: int) -> list[tuple[int, int]]:
    """Consecutive document ranges of at most ``docs_per_job`` documents and about
    ``bytes_per_job`` bytes of text (a longer document is a range of its own): the working
    arrays of one job grow with its bytes, so this bounds the memory of each thread."""
    ends = np.cumsum(_byte_lengths(texts))
    cuts, lo = [], 0
    while lo < len(ends):
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + bytes_per_job, side="right"))
        hi = min(max(hi, lo + 1), lo + docs_per_job)
        cuts.append((lo, hi))
        lo = hi
    return cuts


def _byte_lengths(texts) -> np.ndarray:
    if hasattr(texts, "str"):  # a polars Series
        return texts.str.len_bytes().fill_null(0).to_numpy().astype(np.int64)
    import pyarrow.compute as pc

    return pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def signatures(texts, n: int = 5, unit: Unit = "word", num_perm: int = 128, seed: int = 1,
               threads: int | None = None, docs_per_job: int = 4_096, chunk_shingles: int = 32_768,
               bytes_per_job: int = 4 << 20) -> np.ndarray:
    """uint32[len(texts), num_perm] MinHash signatures of normalized texts (a polars Series or
    Arrow string array). A text without shingles (empty) keeps datasketch's initial 2^32-1."""
    a, b = permutations(num_perm, seed)
    ndocs = len(texts)
    threads = threads or min(2, os.cpu_count() or 1)
    pool = _pool(threads)
    kernel = _kernel()
    if kernel is not None:  # one view of the text buffers; each job writes its rows of the result in place
        offsets, data = _buffers(texts)
        sig = np.full((ndocs, num_perm), MAX32, dtype=np.uint32)
        longest = int(np.diff(offsets).max()) if ndocs else 0
        pw, qw = _powers(P, longest + 1), _powers(Q, longest + 1)
        jobs = [pool.submit(kernel, offsets[lo:hi + 1], data, n, unit == "word", a, b, pw, qw, sig[lo:hi])
                for lo, hi in _slices(texts, docs_per_job, bytes_per_job)]
        for job in jobs:
            job.result()
        return sig
    sig = np.empty((ndocs, num_perm), dtype=np.uint32)
    futures = {lo: pool.submit(_slice_signatures, texts[lo:hi], n, unit, a, b, chunk_shingles)
               for lo, hi in _slices(texts, docs_per_job, bytes_per_job)}
    for lo, fut in futures.items():
        part = fut.result()
        sig[lo: lo + len(part)] = part
    return sig


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count: new threads for every batch would each get a fresh
    malloc arena that keeps its peak, and RSS would climb with the number of batches."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="minhash")
    return _POOLS[threads]


def jaccard(sig: np.ndarray, left: np.ndarray, right: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Estimated Jaccard (fraction of equal signature slots) of row pairs."""
    out = np.empty(len(left), dtype=np.float32)
    for lo in range(0, len(left), chunk):
        eq = sig[left[lo: lo + chunk]] == sig[right[lo: lo + chunk]]
        out[lo: lo + chunk] = eq.mean(axis=1)
    return out
