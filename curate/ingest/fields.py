"""Field converters shared by the format adapters: timestamps, feedback, tools, ids."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from typing import Any

import orjson

from .errors import RecordError, type_name
from .messages import dumps, loads

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_EPOCH_MS = 9_000_000_000_000_000  # int64 µs ends near 9.2e15 s; as ms this is ~285,000 years

THUMBS = {
    "up": 1, "down": -1, "thumbs_up": 1, "thumbs_down": -1, "thumbsup": 1, "thumbsdown": -1,
    "positive": 1, "negative": -1, "like": 1, "dislike": -1, "good": 1, "bad": -1, "+1": 1, "-1": -1,
}
FEEDBACK_KEYS = {
    "thumb": ("thumb", "thumbs", "vote"),
    "rating": ("rating", "stars"),
    "edited": ("edited", "edited_answer", "edited_response", "user_edit", "correction"),
    "comment": ("comment", "feedback_text"),
}
# Keys that carry feedback at the top level of a record (besides a "feedback" object).
TOP_LEVEL_FEEDBACK = {"thumb": "thumb", "thumbs": "thumb", "rating": "rating",
                      "edited_answer": "edited", "user_edit": "edited"}


def timestamp_us(value: Any, field: str) -> int | None:
    """ISO-8601 text or Unix seconds/milliseconds → microseconds since the epoch (UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError("wrong_type", "expected a timestamp, got boolean", field)
    if isinstance(value, (int, float)):
        if value != value or abs(value) > _MAX_EPOCH_MS:  # NaN, or past what a µs timestamp holds
            raise RecordError("bad_timestamp", "timestamp number is out of range", field)
        seconds = value / 1000 if abs(value) > 1e11 else value  # milliseconds are common in logs
        return int(round(seconds * 1_000_000))
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordError("bad_timestamp", "not an ISO-8601 timestamp", field) from None
    elif isinstance(value, datetime):  # typed columns of Parquet / CSV inputs
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        dt = None
    if dt is not None:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)  # logs without zone are taken as UTC
        delta = dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise RecordError("wrong_type", f"expected a timestamp, got {type_name(value)}", field)


def thumb(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1 if value else -1
    if isinstance(value, (int, float)) and value in (1, -1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in THUMBS:
        return THUMBS[value.strip().lower()]
    raise RecordError("wrong_type", "thumb must be up/down, +1/-1 or true/false", field)


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise RecordError("wrong_type", f"expected a number, got {type_name(value)}", field)


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise RecordError("wrong_type", f"expected a string, got {type_name(value)}", field)


def feedback(record: dict, metadata: dict) -> tuple | None:
    """Collect feedback from a ``feedback`` object and known top-level keys.

    Returns ``(thumb, rating, edited, comment)`` or None. Keys used are removed from
    ``metadata``; unknown keys of a feedback object stay there under ``feedback_extra``.
    """
    found: dict[str, Any] = {}
    fb = record.get("feedback")
    if fb is not None:
        if not isinstance(fb, dict):
            raise RecordError("wrong_type", f"expected an object, got {type_name(fb)}", "feedback")
        metadata.pop("feedback", None)
        rest = dict(fb)
        for target, aliases in FEEDBACK_KEYS.items():
            for key in aliases:
                if key in rest:
                    value = rest.pop(key)
                    if value is not None:
                        found[target] = (value, f"feedback.{key}")
        if rest:
            metadata["feedback_extra"] = rest
    for key, target in TOP_LEVEL_FEEDBACK.items():
        if key in record and target not in found and record[key] is not None:
            found[target] = (record[key], key)
            metadata.pop(key, None)
    if not found:
        return None
    get = lambda k: found.get(k, (None, k))  # noqa: E731
    return (thumb(*get("thumb")), _number(*get("rating")), _text(*get("edited")), _text(*get("comment")))


def tools_json(value: Any, field: str = "tools") -> str | None:
    """Tool definitions as canonical JSON text (a JSON string is parsed first)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = loads(value)
        except orjson.JSONDecodeError:
            raise RecordError("wrong_type", "tools is a string but not valid JSON", field) from None
    if not isinstance(value, list):
        raise RecordError("wrong_type", f"expected a list of tool definitions, got {type_name(value)}", field)
    return dumps(value)


def source_id(value: Any, field: str = "id") -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise RecordError("wrong_type", f"expected a string or number id, got {type_name(value)}", field)


def stable_id(source: str, sid: str | None, content: Any) -> str:
    """A hash of source + source id, or of the content when there is no source id (ARCHITECTURE.md,
    "Records and identity")."""
    h = hashlib.blake2b(digest_size=16)
    h.update(source.encode())
    h.update(b"\x1f")
    if sid is not None:
        h.update(b"id:" + sid.encode())
    else:
        h.update(b"content:" + orjson.dumps(content))
    return h.hexdigest()
