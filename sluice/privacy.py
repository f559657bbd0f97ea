"""The privacy guard: only redacted datasets leave the machine, enforced from manifests.

A version counts as redacted when the ``redact_pii`` stage ran on it or on one of its
ancestors (walking ``parents`` in the manifests) — not by naming convention. Parts that send
data off the machine (remote LLM endpoints, Argilla) call ``require_redacted`` first; an
explicit override exists for data known to be clean, and callers record it in their manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from sluice.errors import SluiceError
from sluice.store import Store, Version

REDACTION_STAGE = "redact_pii"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_remote(url: str) -> bool:
    """True unless the URL points at this machine (loopback)."""
    host = urlparse(url).hostname or ""
    return not (host in LOOPBACK_HOSTS or host.startswith("127."))


class NotRedacted(SluiceError):
    """A dataset without PII redaction in its lineage was about to leave the machine."""


@dataclass(frozen=True)
class Redaction:
    redacted: bool
    by: str | None  # the version whose manifest shows the redaction stage
    # What it covered, from the redaction stage's manifest record (None: not recorded → covers nothing).
    strong: bool = False
    engine: str | None = None
    languages: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None

    @classmethod
    def of_stage(cls, ref: str, stage: dict) -> Redaction:
        info = stage.get("info") or {}
        cover = {k: tuple(info[k]) if info.get(k) is not None else None for k in ("languages", "fields")}
        return cls(True, ref, bool(info.get("strong")), info.get("engine"), **cover)


def redaction_of(version: Version, store: Store) -> Redaction:
    """Walk the lineage until a version whose stages include ``redact_pii``."""
    seen: set[str] = set()
    queue = [version]
    while queue:
        v = queue.pop(0)
        if v.ref in seen:
            continue
        seen.add(v.ref)
        manifest = v.manifest
        stage = next((s for s in manifest.get("stages", []) if s.get("name") == REDACTION_STAGE), None)
        if stage is not None:
            return Redaction.of_stage(v.ref, stage)
        for parent in manifest.get("parents") or []:
            try:
                queue.append(store.resolve(parent))
            except SluiceError:
                continue  # a deleted parent proves nothing
    return Redaction(False, None)


def require_redacted(version: Version, store: Store, *, action: str, override: bool = False) -> Redaction:
    """Raise NotRedacted unless the lineage shows redaction (or ``override`` is set)."""
    found = redaction_of(version, store)
    if found.redacted or override:
        return found
    raise NotRedacted(
        f"refusing to {action}: no PII redaction ran on {version.ref} or its parents",
        hint=f"run a recipe with the `{REDACTION_STAGE}` stage first (see examples/pii.yaml); "
             "if the data is known to hold no personal data, pass the explicit override flag — "
             "it is recorded in the output's manifest")
