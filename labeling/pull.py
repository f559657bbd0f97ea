"""``sluice label pull``: annotators' judgments in Argilla → KTO and DPO datasets.

Reads every record with the responses of all annotators, then per record:

- ``submitted`` responses are aggregated: ``quality`` by mean (or median), ``verdict`` by strict
  majority (a tie decides nothing), corrections kept per distinct text, ``preference`` by
  majority of the candidate ranked first;
- KTO (``NAME-kto``): aggregated rating ≥ good_at → true, ≤ bad_at → false (origin ``rating``);
  a neutral rating defers to the verdict majority (origin ``label``);
- DPO (``NAME-dpo``): each distinct corrected answer → chosen = correction, rejected = the
  original answer (origin ``edit``); a ranking majority → chosen = the first-ranked candidate
  (origin ``ranking``).

Records whose responses are all discarded are counted (reason ``discarded``), never converted;
records without a submitted response are counted as ``not_annotated``. Inter-annotator agreement
(Krippendorff's alpha: interval for ``quality``, nominal for ``verdict``) goes into the report
and the manifests. Every row keeps lineage: ``source_ids`` (the sluice conversation id), the
annotator ids and the Argilla dataset in ``metadata``; the pushed version (``sluice_ref``) is
the parent when it is in the local store, and then the original messages (tool calls included)
are taken from it instead of the Argilla fields. Everything is read before anything is written:
a failed pull publishes nothing.

    sluice label pull review-1 --to review-1-feedback --good-at 4 --bad-at 2
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import SluiceError
from sluice.store import Store, Version

from . import output
from .agreement import krippendorff_alpha
from .client import ArgillaError, api, connect, retry
from .convert import Thresholds, answer, dpo_row, kto_row, split, text_of
from .push import check_settings

STEP = "label_pull"


@dataclass
class Judgment:
    user_id: str
    status: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class PullResult:
    dataset: str
    kto: Version
    dpo: Version
    records: int
    agreement: dict[str, float | None]
    annotators: dict[str, int]

    def summary(self) -> dict:
        m_k, m_d = self.kto.manifest, self.dpo.manifest
        return {"dataset": self.dataset, "records": self.records, "kto": self.kto.ref, "dpo": self.dpo.ref,
                "kto_rows": m_k["rows"], "dpo_rows": m_d["rows"], "kto_origins": m_k.get("origins", {}),
                "dpo_origins": m_d.get("origins", {}), "agreement": self.agreement,
                "submitted_by_annotator": self.annotators,
                "kto_rejected": m_k["accounting"]["rejected"].get(STEP, {}),
                "dpo_rejected": m_d["accounting"]["rejected"].get(STEP, {})}


def fetch(dataset: str, *, workspace: str | None = None, api_url: str | None = None, api_key: str | None = None,
          batch_size: int = 1000) -> list[dict]:
    """Every record of the Argilla dataset as {id, fields, metadata, judgments: [Judgment]}."""
    client = connect(api_url, api_key)
    ds = retry(lambda: client.datasets(name=dataset, workspace=workspace), what=f"look up dataset {dataset!r}")
    if ds is None:
        raise ArgillaError(f"no Argilla dataset named {dataset!r}" + (f" in workspace {workspace!r}" if workspace else ""),
                           hint="push one first: sluice label push REF --dataset NAME")
    check_settings(ds)

    # Plain REST, not ds.records(): the 2.8 client crashes on a discarded response without values.
    http = api(client)

    def page(offset: int) -> dict:
        r = http.get(f"/api/v1/datasets/{ds.id}/records",
                     params={"include": "responses", "offset": offset, "limit": batch_size})
        r.raise_for_status()
        return r.json()

    def read() -> list[dict]:
        out, offset = [], 0
        while True:
            body = page(offset)
            for item in body["items"]:
                by_user: dict[str, Judgment] = {}
                for resp in item.get("responses") or []:
                    values = {q: (v or {}).get("value") for q, v in (resp.get("values") or {}).items()}
                    by_user[str(resp["user_id"])] = Judgment(str(resp["user_id"]), resp["status"], values)
                out.append({"id": item.get("external_id") or item["id"], "fields": item.get("fields") or {},
                            "metadata": item.get("metadata") or {}, "judgments": list(by_user.values())})
            offset += len(body["items"])
            if not body["items"] or offset >= body.get("total", 0):
                return out

    return retry(read, what=f"read records of {dataset!r}")


def pull(dataset: str, to: str, *, store: Store | None = None, workspace: str | None = None,
         thresholds: Thresholds | None = None, statistic: str = "mean", api_url: str | None = None,
         api_key: str | None = None) -> PullResult:
    if statistic not in ("mean", "median"):
        raise SluiceError(f"unknown rating statistic {statistic!r}", hint="use mean or median")
    store = store or Store()
    th = thresholds or Thresholds()
    records = fetch(dataset, workspace=workspace, api_url=api_url, api_key=api_key)
    sources, parents = _sources(store, records)
    kto, dpo, kto_rej, dpo_rej = [], [], [], []
    per_annotator: Counter = Counter()
    for rec in records:
        for j in rec["judgments"]:
            if j.status == "submitted":
                per_annotator[j.user_id] += 1
        _convert(rec, sources.get(rec["id"]), dataset, th, statistic, kto, dpo, kto_rej, dpo_rej)
    submitted = {r["id"]: [j for j in r["judgments"] if j.status == "submitted"] for r in records}
    agreement = {
        "quality_alpha_interval": krippendorff_alpha(
            {k: [j.values.get("quality") for j in js] for k, js in submitted.items()}, "interval"),
        "verdict_alpha_nominal": krippendorff_alpha(
            {k: [j.values.get("verdict") for j in js] for k, js in submitted.items()}, "nominal"),
    }
    output.table("kto", kto), output.table("preference", dpo)  # validate both before publishing either
    info = {"argilla_dataset": dataset, "agreement": agreement, "annotators": dict(per_annotator)}
    config = {**th.model_dump(), "statistic": statistic}
    kv = output.publish(store, f"{to}-kto", "kto", kto, kto_rej, step=STEP, parents=parents, info=info, config=config)
    dv = output.publish(store, f"{to}-dpo", "preference", dpo, dpo_rej, step=STEP, parents=parents, info=info,
                        config=config)
    return PullResult(dataset, kv, dv, len(records), agreement, dict(per_annotator))


def _sources(store: Store, records: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """The pushed rows, by id, from the local store (when the pushed version is there)."""
    refs = sorted({r["metadata"].get("sluice_ref") for r in records} - {None})
    found, parents = {}, []
    ids = {r["id"] for r in records}
    for ref in refs:
        try:
            version = store.resolve(ref)
        except SluiceError:
            continue
        parents.append(version.ref)
        cols = ["id", "source", "source_id", "created_at"]
        cols += ["prompt", "chosen", "rejected"] if version.kind == "preference" else ["messages"]
        for part in ("data", "rejected"):
            table = version.read(part)
            keep = [c for c in cols if c in table.column_names]
            if "id" not in keep or ("messages" not in keep and "prompt" not in keep):
                continue
            for row in table.select(keep).to_pylist():
                if row["id"] in ids:
                    found[row["id"]] = row
    return found, parents


def _conversation(rec: dict, src: dict | None) -> tuple[dict, Any, dict | None]:
    """(conversation dict for lineage, Split of prompt/answer, alternative message or None)."""
    alt_text = rec["fields"].get("alternative")
    alternative = answer(alt_text) if alt_text else None
    if src is not None and "prompt" in src:
        sp = split(list(src["prompt"]) + [src["chosen"][-1]])
        return src, sp, src["rejected"][-1]
    if src is not None:
        return src, split(src["messages"]), alternative
    prompt = [{"role": m["role"], "content": m["content"], "name": None, "tool_calls": None,
               "tool_call_id": None, "extra": None} for m in rec["fields"].get("conversation") or []]
    conv = {"id": rec["id"], "source": "argilla", "created_at": None}
    return conv, split(prompt + [answer(rec["fields"].get("answer") or "")]), alternative


def _majority(values: list) -> Any:
    counts = Counter(v for v in values if v is not None).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def _convert(rec, src, dataset, th, statistic, kto, dpo, kto_rej, dpo_rej) -> None:
    rid = rec["id"]
    subs = [j for j in rec["judgments"] if j.status == "submitted"]
    if not subs:
        reason = "discarded" if any(j.status == "discarded" for j in rec["judgments"]) else "not_annotated"
        kto_rej.append((rid, reason, None))
        dpo_rej.append((rid, reason, None))
        return
    conv, sp, alternative = _conversation(rec, src)
    if sp is None:
        kto_rej.append((rid, "no_final_answer", None))
        dpo_rej.append((rid, "no_final_answer", None))
        return
    ratings = [float(j.values["quality"]) for j in subs if j.values.get("quality") is not None]
    rating = (statistics.mean if statistic == "mean" else statistics.median)(ratings) if ratings else None
    verdict = _majority([j.values.get("verdict") for j in subs])
    meta = {"argilla_dataset": dataset, "annotators": sorted(j.user_id for j in subs), "rating": rating,
            "ratings": ratings, "verdict": verdict, "n_submitted": len(subs)}
    if th.label(rating) is not None:
        kto.append(kto_row(conv, sp, th.label(rating), "rating", meta))
    elif verdict in ("good", "bad"):
        kto.append(kto_row(conv, sp, verdict == "good", "label", meta))
    else:
        kto_rej.append((rid, "no_decisive_judgment", f"{statistic} rating {rating}, verdict {verdict}"))
    made = 0
    corrections: dict[str, list[str]] = {}
    for j in subs:
        text = (j.values.get("corrected_answer") or "").strip()
        if text and text != text_of(sp.final).strip():
            corrections.setdefault(text, []).append(j.user_id)
    for text, users in corrections.items():
        dpo.append(dpo_row(conv, sp, answer(text), sp.final, "edit", {**meta, "corrected_by": sorted(users)}))
        made += 1
    first = _majority([_first_ranked(j.values.get("preference")) for j in subs])
    if first in ("answer", "alternative") and alternative is not None and text_of(alternative).strip():
        chosen, rejected = (sp.final, alternative) if first == "answer" else (alternative, sp.final)
        if text_of(chosen).strip() != text_of(rejected).strip():
            dpo.append(dpo_row(conv, sp, chosen, rejected, "ranking", {**meta, "ranked_first": first}))
            made += 1
    if not made:
        dpo_rej.append((rid, "no_correction_or_ranking", None))


def _first_ranked(value) -> str | None:
    """The candidate ranked first: REST gives [{"value": name, "rank": r}, …]."""
    if not value:
        return None
    items = [v if isinstance(v, dict) else {"value": v, "rank": i + 1} for i, v in enumerate(value)]
    best = min(items, key=lambda v: v.get("rank") or 0)
    return best.get("value")
