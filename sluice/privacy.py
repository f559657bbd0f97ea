"""The privacy guard: only redacted datasets leave the machine, enforced from manifests.

A version counts as redacted when its manifest, or an ancestor's (walking ``parents``), records
that sluice's own redaction ran: a ``redact_pii`` record whose class and version are sluice's
``RedactPii`` (``stages[].info.class``/``version``, written by the stage itself), after the
``PiiDetect`` record that found what it replaced. A stage that is merely *named* ``redact_pii``
certifies nothing. The record says how strong the redaction was:

* ``strong`` — detection ran a NER model (names, places, organisations) besides the patterns;
* weak — pattern-only (``nlp: blank``, or ``auto`` without a model): names outside the lists,
  places and organisations are missed. Sending weakly redacted data off the machine needs the
  same explicit override as unredacted data, and callers record it in their manifest.

One loopback rule serves the whole project: ``is_loopback_host`` / ``is_remote``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlparse

from sluice.errors import SluiceError
from sluice.store import Store, Version

REDACTION_STAGE = "redact_pii"
# class → the first version that covers every text-bearing field; older records are not trusted
REDACTORS = {"sluice.curate.pii.stage:RedactPii": 2}
DETECTORS = {"sluice.curate.pii.stage:PiiDetect": 3}
NER_HINT = ("use pii_detect with a NER engine (nlp: auto with the embedded model installed by "
            "`bash scripts/setup.sh pii`, or nlp: spacy:<model>)")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, IPv4-mapped 127.x), parsed
    as addresses — never a hostname that merely starts with "127." (``127.evil.example``)."""
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def is_remote(url: str) -> bool:
    """True unless the URL points at this machine. A URL without a host is remote (fail closed)."""
    try:
        host = urlparse(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return True
    return not (host and is_loopback_host(host))


class NotRedacted(SluiceError):
    """A dataset without (strong enough) PII redaction in its lineage was about to leave the machine."""


@dataclass(frozen=True)
class Redaction:
    redacted: bool
    by: str | None  # the version whose manifest records the redaction
    strong: bool = False  # NER-backed, not pattern-only
    engine: str = "none"  # "ner" | "pattern-only" | "none"
    languages: tuple[str, ...] = ()  # languages NER covers (patterns are language-independent)
    fields: tuple[str, ...] = ()  # field groups covered
    entities: tuple[str, ...] = ()
    stage: str | None = None  # "module:Class vN" of the redaction stage that ran
    skipped_fields: tuple[str, ...] = field(default_factory=tuple)


def _trusted(info: dict, table: dict[str, int]) -> bool:
    return isinstance(info, dict) and info.get("class") in table and \
        isinstance(info.get("version"), int) and info["version"] >= table[info["class"]]


def in_manifest(manifest: dict, ref: str) -> Redaction | None:
    """The redaction recorded in one manifest: the last trusted redact record after a trusted detect."""
    found, detect = None, None
    for s in manifest.get("stages") or []:
        info = s.get("info") or {}
        if _trusted(info, DETECTORS):
            detect = info
        elif _trusted(info, REDACTORS) and detect is not None:
            found = (detect, info)
    if found is None:
        return None
    detect, redact = found
    strong = bool(detect.get("ner")) and detect.get("engine") == "ner" and not detect.get("fallback")
    return Redaction(True, ref, strong, detect.get("engine", "pattern-only"), tuple(detect.get("ner_languages") or ()),
                     tuple(detect.get("fields") or ()), tuple(detect.get("entities") or ()),
                     f"{redact['class']} v{redact['version']}", tuple(detect.get("skipped_fields") or ()))


def redaction_of(version: Version, store: Store) -> Redaction:
    """Walk the lineage until a version whose manifest records sluice's redaction (module doc)."""
    for v in store.lineage(version):
        found = in_manifest(v.manifest, v.ref)
        if found is not None:
            return found
    return Redaction(False, None)


def require_redacted(version: Version, store: Store, *, action: str, override: bool = False) -> Redaction:
    """Raise NotRedacted unless the lineage shows strong redaction (or ``override`` is set)."""
    found = redaction_of(version, store)
    if (found.redacted and found.strong) or override:
        return found
    if found.redacted:
        raise NotRedacted(
            f"refusing to {action}: {version.ref} was redacted pattern-only by {found.by} (weak: names, places "
            "and organisations outside the lists remain)",
            hint=f"{NER_HINT}; or pass the explicit override flag — it is recorded in the output's manifest")
    raise NotRedacted(
        f"refusing to {action}: no PII redaction ran on {version.ref} or its parents",
        hint=f"run a recipe with the `pii_detect` and `{REDACTION_STAGE}` stages first (see examples/pii.yaml); "
             "if the data is known to hold no personal data, pass the explicit override flag — "
             "it is recorded in the output's manifest")


def recipe_redaction(stages: list) -> tuple[int, bool] | None:
    """(index, strong) of the first sluice redaction stage in a recipe, after a sluice detect stage."""
    from sluice.curate.pii.engine import resolve_nlp

    detect = None
    for i, stage in enumerate(stages):
        cls = type(stage)
        name = f"{cls.__module__}:{cls.__qualname__}"
        if name in DETECTORS and stage.version >= DETECTORS[name]:
            detect = stage
        elif name in REDACTORS and stage.version >= REDACTORS[name] and detect is not None:
            return i, resolve_nlp(detect.config.nlp)[0] != "blank"
    return None


def check_recipe(stages: list, version: Version, store: Store) -> None:
    """A stage that sends rows off the machine runs only after strong redaction: earlier in the
    recipe, or in the input's lineage."""
    in_recipe = recipe_redaction(stages)
    lineage = None
    for i, stage in enumerate(stages):
        remote = [url for url in stage.remote_endpoints() if is_remote(url)]
        if not remote:
            continue
        if in_recipe is not None and in_recipe[0] < i and in_recipe[1]:
            continue
        if lineage is None:
            lineage = redaction_of(version, store)
        if lineage.redacted and lineage.strong:
            continue
        weak = (in_recipe is not None and in_recipe[0] < i) or lineage.redacted
        raise NotRedacted(
            f"refusing to run stages[{i}] ({stage.name}): it sends rows to {', '.join(remote)}, and "
            + ("the PII redaction before it is pattern-only (weak)" if weak else
               f"no PII redaction ran on {version.ref}, its parents, or earlier in this recipe"),
            hint=f"put pii_detect and `{REDACTION_STAGE}` before it ({NER_HINT}), or use an endpoint on this machine")
