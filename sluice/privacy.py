"""The privacy certificate: what redaction actually ran on a version, graded against a declared
standard — one function decides, every exit asks it.

``certificate(version, store)`` walks the lineage (the version, then ``parents``) to the first
manifest that records sluice's own redaction: a ``redact_pii`` record whose class and version are
sluice's ``RedactPii`` (``stages[].info.class``/``version``, written by the stage itself), after
the ``PiiDetect`` record that found what it replaced. A stage merely *named* ``redact_pii``
certifies nothing. The certificate lists what ran — engine, model (per language), entity set,
thresholds, the field groups covered and opted out, the ``pii_detect`` settings — and grades it
against ``STANDARD`` (the default recipe's ``pii_detect`` + ``redact_pii``):

* ``strong`` — every part of the standard is met;
* ``weak`` — anything less, each shortfall named: pattern-only detection (no NER model, or
  ``nlp: auto`` fell back), a narrowed ``entities`` list, a raised ``score_threshold`` or
  ``min_score``, a skipped field group or metadata key, text of a language without NER passed
  with name lists only (not quarantined), a fallback model with no measured recall, a record that
  does not say what ran;
* ``none`` — no sluice redaction in the lineage.

``require_certified`` is the one gate at every exit where data leaves the machine — export,
label push, synth, the quality judge with ``allow_remote``, the eval judge: anything but
``strong`` needs the explicit override, and the record it returns (grade, shortfalls, override)
goes into the output's manifest or results. ``check_recipe`` applies the same grading to the
redaction stages of a recipe before it runs (``Stage.describe()`` is what the manifest records).

One loopback rule serves the whole project: ``is_loopback_host`` / ``is_remote``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sluice.errors import SluiceError

if TYPE_CHECKING:  # annotations only: the store renders data cards, which ask this module (no cycle at run time)
    from sluice.store import Store, Version

REDACTION_STAGE = "redact_pii"
DETECTION_STAGE = "pii_detect"
# class → the first version that records what the certificate grades; older records are not trusted
REDACTORS = {"sluice.curate.pii.stage:RedactPii": 3}
DETECTORS = {"sluice.curate.pii.stage:PiiDetect": 5}
NER_HINT = ("use pii_detect with a NER engine (nlp: auto with the embedded model installed by "
            "`bash scripts/setup.sh pii`, or nlp: spacy:<model>)")
STRONG, WEAK, NONE = "strong", "weak", "none"


@dataclass(frozen=True)
class Standard:
    """The redaction a version must have had to leave the machine without an override: the
    default recipe's (``tests/test_privacy.py`` checks that the defaults meet it)."""

    name: str = "default-recipe"
    engine: str = "ner"
    entities: tuple[str, ...] = (
        "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN",
        "US_BANK_NUMBER", "US_PASSPORT", "US_DRIVER_LICENSE", "US_ITIN", "UK_NHS", "CRYPTO", "MEDICAL_LICENSE",
        "STREET_ADDRESS", "API_KEY", "BEARER_TOKEN", "PRIVATE_KEY", "PASSWORD", "LOCATION", "ORGANIZATION")
    score_threshold: float = 0.4  # pii_detect: findings below it are not reported
    min_score: float = 0.0  # redact_pii: findings below it are not replaced
    fields: tuple[str, ...] = ("content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback",
                               "metadata", "source")


STANDARD = Standard()


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
class Certificate:
    """What redaction ran on a version's lineage, and its grade against ``standard``."""

    redacted: bool
    by: str | None  # the version whose manifest records the redaction
    grade: str = NONE  # strong | weak | none
    shortfalls: tuple[str, ...] = ()  # why it is weaker than the standard (empty when strong)
    engine: str = "none"  # "ner" | "pattern-only" | "none"
    model: str | None = None
    models: tuple[tuple[str, str], ...] = ()  # (language, model) where the record names them
    languages: tuple[str, ...] = ()  # languages NER covers (patterns are language-independent)
    fields: tuple[str, ...] = ()  # field groups covered
    skipped_fields: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    score_threshold: float | None = None
    min_score: float | None = None
    stage: str | None = None  # "module:Class vN" of the redaction stage that ran
    detect_settings: dict = field(default_factory=dict, compare=False)  # the pii_detect config (payload rescans)
    standard: str = STANDARD.name
    # language → how its text was treated: its own model, a declared fallback (with its measured
    # recall), or no NER and the policy (quarantine | names_only)
    language_policy: tuple[tuple[str, str], ...] = ()

    @property
    def strong(self) -> bool:
        return self.grade == STRONG

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["models"] = dict(self.models)
        out["language_policy"] = dict(self.language_policy)
        out.pop("detect_settings")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


Redaction = Certificate  # the name callers used before the certificate was graded


def _trusted(info: dict, table: dict[str, int]) -> bool:
    return isinstance(info, dict) and info.get("class") in table and \
        isinstance(info.get("version"), int) and info["version"] >= table[info["class"]]


def grade(detect: dict, redact: dict, standard: Standard = STANDARD) -> tuple[str, tuple[str, ...]]:
    """(grade, shortfalls) of a detect/redact record pair against the standard. A value the record
    does not state counts as a shortfall (fail closed)."""
    short: list[str] = []
    if not (detect.get("ner") and detect.get("engine") == standard.engine) or detect.get("fallback"):
        short.append("pattern-only detection (no NER model ran): names, places and organisations outside the "
                     "lists remain")
    entities = detect.get("entities")
    if not isinstance(entities, (list, tuple)):
        short.append("the record does not say which entity types were detected")
    elif missing := [e for e in standard.entities if e not in entities]:
        short.append(f"narrowed entity list: {', '.join(missing)} not detected")
    threshold = detect.get("score_threshold")
    if not isinstance(threshold, (int, float)):
        short.append("the record does not state the detection score threshold")
    elif threshold > standard.score_threshold:
        short.append(f"detection score_threshold {threshold} above the standard {standard.score_threshold}")
    if detect.get("keep_places"):  # records before the option existed redacted places: absent means False
        short.append("country and continent names left unredacted (keep_places)")
    min_score = redact.get("min_score")
    if not isinstance(min_score, (int, float)):
        short.append("the record does not state redact_pii's min_score")
    elif min_score > standard.min_score:
        short.append(f"redact_pii min_score {min_score} above the standard {standard.min_score}")
    skipped = [str(f) for f in detect.get("skipped_fields") or ()]
    if skipped:
        short.append(f"fields opted out: {', '.join(skipped)}")
    covered = detect.get("fields")
    if not isinstance(covered, (list, tuple)):
        short.append("the record does not say which fields were covered")
    elif missing := [f for f in standard.fields if f not in covered and f not in skipped]:
        short.append(f"fields not covered: {', '.join(missing)}")
    short += _language_shortfalls(detect)
    return (WEAK if short else STRONG), tuple(short)


def _language_shortfalls(detect: dict) -> list[str]:
    """A language without NER must be held back (``uncovered: quarantine``), and a language read by
    another language's model (a declared fallback) must carry that fallback's measured recall."""
    languages = detect.get("languages")
    if detect.get("uncovered") is None or not isinstance(languages, dict):
        return ["the record does not state the policy for text in a language without NER"]
    out = []
    bare = sorted(k for k, v in languages.items() if isinstance(v, dict) and not v.get("ner")
                  and v.get("policy") != "quarantine")
    if bare and detect.get("ner"):
        out.append(f"languages without NER passed with name lists only: {', '.join(bare)}")
    unmeasured = sorted(k for k, v in languages.items() if isinstance(v, dict) and v.get("ner")
                        and v.get("fallback") and not v.get("recall"))
    if unmeasured:
        out.append(f"fallback models with no measured recall: {', '.join(unmeasured)}")
    return out


def _policy(detect: dict) -> tuple[tuple[str, str], ...]:
    out = []
    for lang, v in sorted((detect.get("languages") or {}).items()):
        if not isinstance(v, dict):
            continue
        if v.get("ner") and v.get("fallback"):
            r = v.get("recall") or {}
            measured = (f"person surviving {r.get('person_surviving')}, all surviving {r.get('all_surviving')} "
                        f"on {r.get('set')}") if r else "recall not measured"
            out.append((lang, f"fallback {v.get('model')} ({measured})"))
        elif v.get("ner"):
            out.append((lang, f"ner {v.get('model')}"))
        else:
            out.append((lang, str(v.get("policy") or "names_only")))
    return tuple(out)


def certify(detect: dict, redact: dict, ref: str | None, settings: dict | None = None,
            standard: Standard = STANDARD) -> Certificate:
    """The certificate of one detect/redact record pair (as ``Stage.describe()`` writes them)."""
    g, short = grade(detect, redact, standard)
    models = detect.get("models") if isinstance(detect.get("models"), dict) else {}
    threshold, min_score = detect.get("score_threshold"), redact.get("min_score")
    return Certificate(
        True, ref, g, short, detect.get("engine", "pattern-only"), detect.get("model"),
        tuple(sorted((str(k), str(v)) for k, v in models.items())), tuple(detect.get("ner_languages") or ()),
        tuple(detect.get("fields") or ()), tuple(detect.get("skipped_fields") or ()),
        tuple(detect.get("entities") or ()),
        float(threshold) if isinstance(threshold, (int, float)) else None,
        float(min_score) if isinstance(min_score, (int, float)) else None,
        f"{redact.get('class')} v{redact.get('version')}", dict(settings or {}), standard.name,
        language_policy=_policy(detect))


def _last_redaction(manifest: dict) -> tuple[int, dict, dict, int] | None:
    """The one reader of redaction records: (index, detect record, redact record, detect index) of a
    manifest's last trusted redact record after a trusted detect, or None."""
    found, detect, at = None, None, None
    for i, s in enumerate(manifest.get("stages") or []):
        info = s.get("info") or {}
        if _trusted(info, DETECTORS):
            detect, at = info, i
        elif _trusted(info, REDACTORS) and detect is not None:
            found = (i, detect, info, at)
    return found


def redacted_from(manifest: dict) -> int | None:
    """The index of the first of this manifest's stages that saw redacted text (the one after its
    redaction), or None when the manifest itself records no redaction."""
    found = _last_redaction(manifest)
    return None if found is None else found[0] + 1


def in_manifest(manifest: dict, ref: str) -> Certificate | None:
    """The certificate one manifest records: its last trusted redact record after a trusted detect."""
    found = _last_redaction(manifest)
    if found is None:
        return None
    _, detect, redact, at = found
    configs = [c for c in (manifest.get("recipe") or {}).get("stages") or [] if isinstance(c, dict)]
    named = [c for c in configs if c.get("stage") == DETECTION_STAGE]
    settings = configs[at] if at < len(configs) and configs[at].get("stage") == DETECTION_STAGE else \
        (named[0] if named else {})
    return certify(detect, redact, ref, {k: v for k, v in settings.items() if k != "stage"})


def certificate(version: Version, store: Store) -> Certificate:
    """THE privacy decision: the certificate of the nearest redaction in the lineage (module doc)."""
    for v in store.lineage(version):
        found = in_manifest(v.manifest, v.ref)
        if found is not None:
            return found
    return Certificate(False, None)


redaction_of = certificate  # the name callers used before


def require_certified(version: Version | None, store: Store | None, *, action: str, override: bool = False,
                      what: str = "the data") -> dict[str, Any]:
    """The gate at every exit: raise ``NotRedacted`` unless the lineage's certificate is ``strong``
    or ``override`` is set. ``version`` None is a file without lineage (never certified). Returns
    the record for the output's manifest: {certificate, override, warning?}."""
    cert = certificate(version, store) if version is not None else Certificate(False, None)
    record: dict[str, Any] = {"grade": cert.grade, "redaction_verified_by": cert.by, "override": False,
                              "certificate": cert.as_dict()}
    if cert.strong:
        return record
    if override:
        record["override"] = True
        record["warning"] = (f"{'UNREDACTED' if not cert.redacted else 'WEAKLY REDACTED'} DATA: {action} "
                             "(explicit override)")
        return record
    subject = version.ref if version is not None else what
    if cert.redacted:
        raise NotRedacted(
            f"refusing to {action}: the redaction of {subject} by {cert.by} is weaker than the standard "
            f"({'; '.join(cert.shortfalls)})",
            hint=f"redact with the default pii_detect/redact_pii settings ({NER_HINT}); or pass the explicit "
                 "override flag — it is recorded in the output's manifest")
    where = "its parents" if version is not None else "a file has no lineage"
    raise NotRedacted(
        f"refusing to {action}: no PII redaction ran on {subject} or {where}",
        hint=f"run a recipe with the `{DETECTION_STAGE}` and `{REDACTION_STAGE}` stages first (see examples/pii.yaml); "
             "if the data is known to hold no personal data, pass the explicit override flag — "
             "it is recorded in the output's manifest")


def require_redacted(version: Version, store: Store, *, action: str, override: bool = False) -> Certificate:
    """``require_certified``, returning the certificate itself."""
    require_certified(version, store, action=action, override=override)
    return certificate(version, store)


def _name(stage) -> str:
    cls = type(stage)
    return f"{cls.__module__}:{cls.__qualname__}"


def recipe_redaction(stages: list) -> tuple[int, Any, Any] | None:
    """(index, detect stage, redact stage) of the first sluice redaction in a recipe, after a sluice
    detect stage; None without one."""
    detect = None
    for i, stage in enumerate(stages):
        name = _name(stage)
        if name in DETECTORS and stage.version >= DETECTORS[name]:
            detect = stage
        elif name in REDACTORS and stage.version >= REDACTORS[name] and detect is not None:
            return i, detect, stage
    return None


def recipe_certificate(stages: list) -> tuple[int, Certificate] | None:
    """(index, certificate) of the recipe's own redaction, graded from what its stages describe."""
    found = recipe_redaction(stages)
    if found is None:
        return None
    i, detect, redact = found
    settings = detect.config.model_dump(mode="json", exclude_defaults=True) if hasattr(detect, "config") else {}
    return i, certify(detect.describe(), redact.describe(), None, settings)


def check_recipe(stages: list, version: Version, store: Store) -> None:
    """A stage that sends rows off the machine runs only after strong redaction: earlier in the
    recipe, or in the input's lineage."""
    in_recipe: tuple[int, Certificate] | None | bool = False
    lineage = None
    for i, stage in enumerate(stages):
        remote = [url for url in stage.remote_endpoints() if is_remote(url)]
        if not remote:
            continue
        if in_recipe is False:
            in_recipe = recipe_certificate(stages)
        before = in_recipe if in_recipe and in_recipe[0] < i else None
        if before is not None and before[1].strong:
            continue
        if lineage is None:
            lineage = certificate(version, store)
        if lineage.strong:
            continue
        cert = before[1] if before is not None else lineage
        raise NotRedacted(
            f"refusing to run stages[{i}] ({stage.name}): it sends rows to {', '.join(remote)}, and "
            + (f"the PII redaction before it is weaker than the standard ({'; '.join(cert.shortfalls)})"
               if cert.redacted else
               f"no PII redaction ran on {version.ref}, its parents, or earlier in this recipe"),
            hint=f"put pii_detect and `{REDACTION_STAGE}` with the default settings before it ({NER_HINT}), "
                 "or use an endpoint on this machine")
