"""Leak scan and reports: re-analyze any dataset version and count findings per type and role.

Reports hold counts only — never values or offsets. ``scan()`` backs ``sluice pii scan REF``;
``findings_report()`` aggregates the ``pii_findings`` column pii_detect adds (what a manifest
"stage report" would record).
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from sluice.store import Store

from . import fields
from .detector import Detector
from .engine import EngineConfig


def scan(store: Store, ref: str, config: EngineConfig | None = None, *, min_score: float = 0.5,
         limit: int | None = None, batch_size: int = 5_000) -> dict:
    """Residual findings of ``ref``: {rows, texts, findings, by_entity, by_role, rows_with_findings, engine}."""
    version = store.resolve(ref)
    detector = Detector(config or EngineConfig())
    by_entity, by_role = Counter(), Counter()
    rows = texts = hit_rows = 0
    for batch in version.iter_batches(batch_size):
        frame = pl.from_arrow(batch)
        for row in frame.iter_rows(named=True):
            if limit is not None and rows >= limit:
                break
            rows += 1
            items = fields.texts(row)
            texts += len(items)
            found = False
            for (_, role, _), results in zip(items, detector.findings([t for _, _, t in items])):
                for r in results:
                    if r.score >= min_score:
                        by_entity[r.entity_type] += 1
                        by_role[role] += 1
                        found = True
            hit_rows += found
    return {"ref": version.ref, "rows": rows, "texts": texts, "findings": sum(by_entity.values()),
            "rows_with_findings": hit_rows, "by_entity": dict(by_entity.most_common()), "by_role": dict(by_role),
            "engine": detector.info.as_dict()}


def findings_report(frame: pl.DataFrame) -> dict:
    """Counts per entity type and per role from a ``pii_findings`` column (no values)."""
    f = frame.select(pl.col("pii_findings").explode()).unnest("pii_findings").drop_nulls("entity")
    by_entity = dict(f.group_by("entity").len().sort("len", descending=True).iter_rows())
    by_role = dict(f.group_by("role").len().iter_rows())
    by_both = {f"{e}/{r}": n for e, r, n in f.group_by("entity", "role").len().iter_rows()}
    return {"findings": f.height, "by_entity": by_entity, "by_role": by_role, "by_entity_role": by_both}
