"""Production feedback → second-round data, for teams without annotators.

``build(ref, to=NAME)`` reads the ``feedback`` column of a conversation dataset (thumb, rating,
edited, comment) and publishes two versioned datasets:

- ``NAME-kto`` (kind kto): one row per conversation with a decisive signal — a thumb
  (origin ``thumbs``: up → true, down → false), else a rating (origin ``rating``: ≥ good_at →
  true, ≤ bad_at → false). Rejected reasons: ``no_feedback``, ``neutral_rating``,
  ``no_final_answer``.
- ``NAME-dpo`` (kind preference): one pair per user edit (origin ``edit``): chosen = the edited
  answer, rejected = the model's answer. Rejected reasons: ``no_edit``, ``edit_unchanged``,
  ``no_final_answer``.

Both record ``source_ids`` (the conversation id) and list the input version as parent, so the
privacy guard sees through them. Comments are not copied (free text, may hold personal data).

Feedback goes through curation: the input must be curated — PII redaction *and* decontamination
(a ``decontaminate`` stage) in its lineage — or the build is refused unless ``allow_raw`` (recorded
in both manifests). Rows keep the split of their source conversation: a conversation in the
``test`` or ``validation`` split never becomes a training row (rejected as ``held_out_split``).
Building again over the same input and settings publishes nothing new (the same versions come back).

    sluice feedback build curated@latest --to feedback --good-at 4 --bad-at 2
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


from sluice.errors import InputError
from sluice.fs import read_schema
from sluice.store import Store, Version

from . import output
from .convert import Thresholds, answer, dpo_row, kto_row, split, text_of

STEP = "feedback_build"
COLUMNS = ["id", "source", "source_id", "created_at", "messages", "feedback", "split"]
HELD_OUT = {"test", "validation", "valid", "val", "dev", "eval"}  # never training rows
DECONTAMINATION_STAGE = "decontaminate"


@dataclass
class FeedbackResult:
    kto: Version
    dpo: Version
    source: str
    reused: bool = False  # True when the same input and settings were built before: nothing new published

    def summary(self) -> dict:
        return {"source": self.source, "kto": self.kto.ref, "dpo": self.dpo.ref, "reused": self.reused,
                "kto_rows": self.kto.manifest["rows"], "dpo_rows": self.dpo.manifest["rows"],
                "kto_origins": self.kto.manifest.get("origins", {}),
                "kto_rejected": self.kto.manifest["accounting"]["rejected"].get(STEP, {}),
                "dpo_rejected": self.dpo.manifest["accounting"]["rejected"].get(STEP, {})}


def curation_of(version: Version, store: Store) -> dict:
    """Which curation the version's lineage shows: strong PII redaction and decontamination."""
    from sluice.privacy import redaction_of

    found = redaction_of(version, store)
    decontaminated = None
    for v in store.lineage(version):
        if any(s.get("name") == DECONTAMINATION_STAGE for s in v.manifest.get("stages") or []):
            decontaminated = v.ref
            break
    return {"redacted_by": found.by if found.redacted and found.strong else None,
            "decontaminated_by": decontaminated}


def _fingerprint(version: Version, th: Thresholds, allow_raw: bool) -> str:
    """Versions are immutable: the same ref and settings always build the same rows."""
    return hashlib.sha256(json.dumps([STEP, 2, version.ref, th.model_dump(), allow_raw],
                                     sort_keys=True).encode()).hexdigest()


def _previous(store: Store, name: str, fingerprint: str) -> Version | None:
    try:
        versions = store.versions(name)
    except Exception:  # noqa: BLE001 — no such dataset yet
        return None
    return versions[-1] if versions and versions[-1].manifest.get("fingerprint") == fingerprint else None


def build(ref: str, to: str, *, store: Store | None = None, thresholds: Thresholds | None = None,
          batch_size: int = 20_000, allow_raw: bool = False) -> FeedbackResult:
    store = store or Store()
    th = thresholds or Thresholds()
    version = store.resolve(ref)
    if version.kind != "conversation":
        raise InputError(f"{version.ref} holds {version.kind} rows; feedback build reads conversations",
                         hint="pass a conversation dataset, e.g. curated@latest")
    curation = curation_of(version, store)
    missing_steps = [what for what, by in (("PII redaction", curation["redacted_by"]),
                                           ("decontamination", curation["decontaminated_by"])) if by is None]
    if missing_steps and not allow_raw:
        raise InputError(f"refusing to build training data from {version.ref}: no {' and no '.join(missing_steps)} "
                         "in its lineage (feedback goes through curation)",
                         hint="build from a curated version (e.g. `sluice run examples/quickstart.yaml`, then "
                              "`sluice feedback build curated@latest`), or pass --allow-raw (recorded in the manifests)")
    fingerprint = _fingerprint(version, th, allow_raw)
    kv_prev, dv_prev = _previous(store, f"{to}-kto", fingerprint), _previous(store, f"{to}-dpo", fingerprint)
    if kv_prev is not None and dv_prev is not None:  # the same input and settings: the same versions
        return FeedbackResult(kv_prev, dv_prev, version.ref, reused=True)
    names = version.read().schema.names if not version.files() else read_schema(version.files()[0]).names
    missing = [c for c in ("messages", "feedback") if c not in names]
    if missing:
        raise InputError(f"{version.ref} has no column(s) {missing}", hint="ingest logs with a feedback field")
    kto, dpo, kto_rej, dpo_rej = [], [], [], []
    for batch in version.iter_batches(batch_size):
        cols = [c for c in COLUMNS if c in batch.schema.names]
        for conv in batch.select(cols).to_pylist():
            held = conv.get("split")
            if held in HELD_OUT:  # the source conversation is held out: so is anything built from it
                kto_rej.append((conv["id"], "held_out_split", held))
                dpo_rej.append((conv["id"], "held_out_split", held))
                continue
            _one(conv, th, kto, dpo, kto_rej, dpo_rej)
    parents = [version.ref]
    config = {**th.model_dump(), "allow_raw": allow_raw}
    info = {"curation": curation, **({"override": "--allow-raw: built from data curation did not see"}
                                     if missing_steps else {})}
    meanings = {"held_out_split": "the source conversation is in a test/validation split (detail: which)"}
    kv = output.publish(store, f"{to}-kto", "kto", kto, kto_rej, step=STEP, parents=parents, info=info, config=config,
                        fingerprint=fingerprint, meanings=meanings)
    dv = output.publish(store, f"{to}-dpo", "preference", dpo, dpo_rej, step=STEP, parents=parents, info=info,
                        config=config, fingerprint=fingerprint, meanings=meanings)
    return FeedbackResult(kv, dv, version.ref)


def _one(conv: dict, th: Thresholds, kto: list, dpo: list, kto_rej: list, dpo_rej: list) -> None:
    fb = conv.get("feedback") or {}
    cid = conv["id"]
    thumb, rating, edited = fb.get("thumb"), fb.get("rating"), fb.get("edited")
    sp = split(conv.get("messages"))
    # KTO: the thumb is the user's own verdict; a rating decides only when there is no thumb.
    if thumb is None and rating is None:
        kto_rej.append((cid, "no_feedback", None))
    elif sp is None:
        kto_rej.append((cid, "no_final_answer", None))
    elif thumb in (1, -1):
        meta = {"signal": "thumb", "thumb": thumb, "rating": rating}
        if th.label(rating) is not None and th.label(rating) != (thumb == 1):
            meta["conflict"] = "rating disagrees with thumb"
        kto.append(kto_row(conv, sp, thumb == 1, "thumbs", meta))
    elif th.label(rating) is not None:
        kto.append(kto_row(conv, sp, th.label(rating), "rating", {"signal": "rating", "rating": rating}))
    else:
        kto_rej.append((cid, "neutral_rating", f"rating {rating} between {th.bad_at} and {th.good_at}"))
    # DPO: a user edit is a better answer to the same prompt.
    if edited is None:
        dpo_rej.append((cid, "no_edit", None))
    elif sp is None:
        dpo_rej.append((cid, "no_final_answer", None))
    elif edited.strip() == text_of(sp.final).strip():
        dpo_rej.append((cid, "edit_unchanged", None))
    else:
        dpo.append(dpo_row(conv, sp, answer(edited), sp.final, "edit", {"signal": "user_edit", "thumb": thumb}))
