"""Exact JSON for the data the store holds: message contents, tool arguments, metadata.

orjson for speed, the standard library where orjson would lose something (integers past 64 bits,
nesting past 254 levels), so ingest (``sluice.curate.ingest``) and export read and write the same text.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

# An integer literal longer than 18 digits may not fit 64 bits, where orjson would turn it
# into a float: such (rare) input is parsed by the standard library, which keeps it exact.
_LONG_INT = re.compile(rb"\d{19}")


def loads(raw: bytes | str) -> Any:
    """JSON → Python, exactly: integers of any size stay integers."""
    if _LONG_INT.search(raw if isinstance(raw, bytes) else raw.encode()):
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
