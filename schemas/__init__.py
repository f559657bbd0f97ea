"""Record kinds: one versioned Arrow schema per table that crosses a module boundary.

>>> from sluice.schemas import CONVERSATION
>>> CONVERSATION.validate(table)          # raises SchemaValidationError naming column and row
"""

from __future__ import annotations

from ._base import RecordSchema
from .conversation import CONVERSATION, FEEDBACK
from .kto import KTO
from .messages import MESSAGE, MESSAGE_V1, MESSAGES, ROLES, TOOL_CALL, upgrade
from .preference import ORIGINS, PREFERENCE
from .quarantine import QUARANTINE, RAW_PREFIX_BYTES
from .rejected import REJECTED

KINDS: dict[str, RecordSchema] = {
    s.kind: s for s in (CONVERSATION, PREFERENCE, KTO, REJECTED, QUARANTINE)
}

#: Kinds a dataset version can hold as its main data.
DATA_KINDS = ("conversation", "preference", "kto")


def get(kind: str) -> RecordSchema:
    try:
        return KINDS[kind]
    except KeyError:
        from sluice.errors import SluiceError

        raise SluiceError(
            f"unknown record kind {kind!r}", hint=f"expected one of {sorted(KINDS)}"
        ) from None


__all__ = [
    "CONVERSATION", "DATA_KINDS", "FEEDBACK", "KINDS", "KTO", "MESSAGE", "MESSAGES", "MESSAGE_V1", "ORIGINS",
    "PREFERENCE", "QUARANTINE", "RAW_PREFIX_BYTES", "REJECTED", "ROLES", "RecordSchema",
    "TOOL_CALL", "get", "upgrade",
]
