"""Publish converted rows as a versioned preference or kto dataset, with exact accounting.

Every input unit (a conversation, or an Argilla record) yields at most one row per output, or
is written to ``rejected/`` with the step name and a reason code, or to ``quarantine/`` (an
annotator reported personal data) — so rows in = kept + rejected + quarantined = the input
units, per output. Nothing is published unless the whole conversion succeeded (the store's
temporary folder is removed on any error).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from sluice.schemas import KTO, PREFERENCE, QUARANTINE, REJECTED
from sluice.store import Store, Version


def table(kind: str, rows: list[dict]) -> pa.Table:
    """Rows as a validated table of the kind (raises before anything is written)."""
    schema = {"preference": PREFERENCE, "kto": KTO}[kind]
    t = pa.Table.from_pylist(rows, schema=schema.schema) if rows else schema.empty()
    schema.validate(t, where=f"converted {kind} rows")
    return t


def publish(store: Store, name: str, kind: str, rows: list[dict], rejected: list[tuple[str, str, str | None]],
            *, step: str, parents: list[str], info: dict[str, Any], config: dict[str, Any],
            quarantined: list[dict] | None = None, fingerprint: str | None = None,
            meanings: dict[str, str] | None = None) -> Version:
    """``rejected`` holds (input id, reason, detail) for every input unit that yielded no row;
    ``quarantined`` holds quarantine rows (``error_kind``, no raw text) for units held back."""
    quarantined = quarantined or []
    units = [tuple(r["source_ids"]) for r in rows]
    if len(set(units)) != len(units):
        raise AssertionError(f"{name}: an input unit yielded more than one row")
    reasons = Counter(reason for _, reason, _ in rejected)
    kinds = Counter(q["error_kind"] for q in quarantined)
    accounting = {"rows_in": len(rows) + len(rejected) + len(quarantined), "kept": len(rows),
                  "rejected_total": len(rejected), "rejected": {step: dict(reasons)} if rejected else {},
                  "quarantined_total": len(quarantined), "quarantined": {step: dict(kinds)} if quarantined else {}}
    extra = {"fingerprint": fingerprint} if fingerprint else {}
    if meanings:
        extra["reasons"] = {step: {r: meanings.get(r, "") for r in reasons}}
    with store.create(name, kind) as w:
        w.write(table(kind, rows))
        if rejected:
            w.write_rejected(pa.Table.from_pylist(
                [{"id": i, "stage": step, "reason": reason, "detail": detail, "duplicate_of": None}
                 for i, reason, detail in rejected], schema=REJECTED.schema))
        if quarantined:
            w.write_quarantine(pa.Table.from_pylist(quarantined, schema=QUARANTINE.schema))
        stage = {"name": step, "index": 0, "rows_in": accounting["rows_in"], "kept": len(rows),
                 "rejected": dict(reasons), "quarantined": dict(kinds), "config": config, "info": info}
        return w.publish(accounting, parents=parents, stages=[stage], origins=dict(Counter(r["origin"] for r in rows)),
                         **extra)
