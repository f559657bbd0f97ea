"""Per-record errors raised by format adapters; each becomes one quarantine row."""

from __future__ import annotations


class RecordError(Exception):
    """A record that cannot be ingested. ``kind`` is the quarantine error code.

    Messages name fields and types, never values: input rows can hold PII.
    """

    def __init__(self, kind: str, message: str, field: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.field = field
        self.message = message


class Dropped(Exception):
    """A valid record that is not kept (e.g. a preference tie): a rejected row with a reason."""

    def __init__(self, reason: str, row: dict, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.row = row
        self.detail = detail


def type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def expect(value: object, types: type | tuple[type, ...], field: str, what: str) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise RecordError("wrong_type", f"expected {what}, got {type_name(value)}", field)


def _tuple(t):
    return t if isinstance(t, tuple) else (t,)


def parts_text(content, field: str, extra: dict, text_types, sep: str, items: str, item: str) -> str:
    """The text of a list of typed content parts (Anthropic blocks, Responses parts), joined by
    ``sep``; the list itself is kept whole in ``extra["content_parts"]`` (types, images,
    annotations). Parts of other types add no text."""
    expect(content, list, field, f"a string or a list of {items}")
    texts = []
    for i, part in enumerate(content):
        expect(part, dict, f"{field}[{i}]", item)
        if part.get("type") in text_types and isinstance(part.get("text"), str):
            texts.append(part["text"])
    extra["content_parts"] = content
    return sep.join(texts)
