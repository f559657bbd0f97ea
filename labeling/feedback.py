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

    sluice feedback build curated@latest --to feedback --good-at 4 --bad-at 2
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.parquet as pq

from sluice.errors import InputError
from sluice.store import Store, Version

from . import output
from .convert import Thresholds, answer, dpo_row, kto_row, split, text_of

STEP = "feedback_build"
COLUMNS = ["id", "source", "source_id", "created_at", "messages", "feedback"]


@dataclass
class FeedbackResult:
    kto: Version
    dpo: Version
    source: str

    def summary(self) -> dict:
        return {"source": self.source, "kto": self.kto.ref, "dpo": self.dpo.ref,
                "kto_rows": self.kto.manifest["rows"], "dpo_rows": self.dpo.manifest["rows"],
                "kto_origins": self.kto.manifest.get("origins", {}),
                "kto_rejected": self.kto.manifest["accounting"]["rejected"].get(STEP, {}),
                "dpo_rejected": self.dpo.manifest["accounting"]["rejected"].get(STEP, {})}


def build(ref: str, to: str, *, store: Store | None = None, thresholds: Thresholds | None = None,
          batch_size: int = 20_000) -> FeedbackResult:
    store = store or Store()
    th = thresholds or Thresholds()
    version = store.resolve(ref)
    if version.kind != "conversation":
        raise InputError(f"{version.ref} holds {version.kind} rows; feedback build reads conversations",
                         hint="pass a conversation dataset, e.g. raw@latest or curated@latest")
    names = version.read().schema.names if not version.files() else pq.ParquetFile(version.files()[0]).schema_arrow.names
    missing = [c for c in ("messages", "feedback") if c not in names]
    if missing:
        raise InputError(f"{version.ref} has no column(s) {missing}", hint="ingest logs with a feedback field")
    kto, dpo, kto_rej, dpo_rej = [], [], [], []
    for batch in version.iter_batches(batch_size):
        cols = [c for c in COLUMNS if c in batch.schema.names]
        for conv in batch.select(cols).to_pylist():
            _one(conv, th, kto, dpo, kto_rej, dpo_rej)
    parents = [version.ref]
    config = th.model_dump()
    kv = output.publish(store, f"{to}-kto", "kto", kto, kto_rej, step=STEP, parents=parents, info={}, config=config)
    dv = output.publish(store, f"{to}-dpo", "preference", dpo, dpo_rej, step=STEP, parents=parents, info={},
                        config=config)
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
