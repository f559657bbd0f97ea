"""Exact JSON for the data the store holds: message contents, tool arguments, metadata.

orjson for speed, the standard library where orjson would lose something (integers past 64 bits,
nesting past 254 levels), so ingest (``sluice.curate.ingest``) and export read and write the same text.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

# An integer literal longer than 18 digits may not fit 64 bits, where orjson would turn it
# into a float: such (rare) input is parsed by the standard library, which keeps it exact.
# Found as 19 ASCII digits in a row (what the regex ``rb"\d{19}"`` matches) by mapping every digit
# to "0" and every other byte to " ": 5x faster than the regex per line (0.06 s vs 0.31 s for the
# 20,000 lines of BENCHMARKS.md "#34 round two"); tests/test_exact_json_digits.py holds them equal.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19


def has_long_int(raw: bytes) -> bool:
    """Whether ``raw`` holds 19 or more ASCII digits in a row."""
    return _LONG_RUN in raw.translate(_DIGITS)


def loads(raw: bytes | str) -> Any:
    """JSON → Python, exactly: integers of any size stay integers."""
    if has_long_int(raw if isinstance(raw, bytes) else raw.encode()):
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as e:  # one error type for callers, as with orjson
            raise orjson.JSONDecodeError(str(e).split(":")[0], "", 0) from None
    return orjson.loads(raw)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # orjson refuses NaN / Infinity too


def dumps_bytes(value: Any, sort_keys: bool = False) -> bytes:
    """Compact JSON. orjson, unless the value holds what it refuses (integers past 64 bits,
    nesting past 254 levels): then the standard library, which writes the same text."""
    try:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:
        return json.dumps(value, default=_json_default, sort_keys=sort_keys, ensure_ascii=False,
                          separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value, sort_keys=True).decode()


def _json_default(value: Any) -> Any:
    """Typed values of Parquet / CSV inputs that JSON has no type for."""
    if isinstance(value, Decimal):
        return str(value)  # exact; a float would round
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            pass
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
