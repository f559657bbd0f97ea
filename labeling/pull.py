"""``sluice label pull``: annotators' judgments in Argilla → KTO and DPO datasets.

Reads every record of ``NAME`` and, when it exists, ``NAME-compare`` (see ``form``), with all
annotators' responses, then per record — one row at most per output, so for each output
rows in = kept + rejected + quarantined = the records pulled:

- a record that any annotator marked as holding personal data (``personal_data: yes``, in a
  submitted or discarded response) is quarantined in both outputs (``personal_data_reported``)
  and counted in their data cards — never converted;
- ``submitted`` responses are aggregated: ``quality`` by mean (or median), ``verdict`` by strict
  majority (a tie decides nothing), corrections by distinct text, ``preference`` by strict
  majority over each annotator's first-ranked candidate, where a ranking with both candidates at
  the same rank votes ``tie`` (so a tie never makes a pair);
- KTO (``NAME-kto``): aggregated rating ≥ good_at → true, ≤ bad_at → false (origin ``rating``);
  a neutral rating defers to the verdict majority (origin ``label``);
- DPO (``NAME-dpo``): the correction most annotators wrote (ties by text order) → chosen =
  correction, rejected = the original answer (origin ``edit``); else a ranking majority → chosen
  = the first-ranked candidate (origin ``ranking``). Reasons for no pair: ``ranking_tied``,
  ``no_correction_or_ranking``; other distinct corrections and a ranking superseded by an edit
  are counted in the stage info.

Corrections are mapped back from display form (``[PERSON_1]`` → ``<PERSON_1>``, for the
placeholders the record holds). Annotators are named by their Argilla username. Records whose
responses are all discarded are counted (``discarded``), records without a submitted response
as ``not_annotated``. Agreement (Krippendorff's alpha: interval for ``quality``, nominal for
``verdict``) and how often a submitted answer equals its pre-filled suggestion go to the report
and the manifests. The pushed version (``sluice_ref``) is the parent when it is in the local
store, and the original messages (tool calls included) are taken from it. Everything is read
before anything is written: a failed pull publishes nothing, and a pull whose records,
responses and settings are unchanged since the last one publishes nothing either.

    sluice label pull review-1 --to review-1-feedback --good-at 4 --bad-at 2
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import SluiceError
from sluice.store import Store, Version

from . import output, render
from .agreement import krippendorff_alpha
from .client import ArgillaError, api, connect, retry
from .convert import Thresholds, answer, dpo_row, kto_row, split, text_of
from .form import PERSONAL_YES, check_settings, dataset_names

STEP = "label_pull"
PERSONAL_DATA = "personal_data_reported"
TIE = "tie"
REASONS = {
    "discarded": "every annotator discarded the record",
    "not_annotated": "no submitted response yet",
    "no_final_answer": "no assistant answer to convert",
    "no_decisive_judgment": "neutral rating and no verdict majority",
    "ranking_tied": "the ranking was a tie (or had no majority): no preference pair",
    "no_correction_or_ranking": "no correction and no ranking to make a pair from",
}


@dataclass
class Judgment:
    user: str  # the Argilla username (the user id when it cannot be resolved)
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
    unchanged: bool = False

    def summary(self) -> dict:
        m_k, m_d = self.kto.manifest, self.dpo.manifest
        return {"dataset": self.dataset, "records": self.records, "kto": self.kto.ref, "dpo": self.dpo.ref,
                "unchanged": self.unchanged, "kto_rows": m_k["rows"], "dpo_rows": m_d["rows"],
                "kto_origins": m_k.get("origins", {}), "dpo_origins": m_d.get("origins", {}),
                "agreement": self.agreement, "submitted_by_annotator": self.annotators,
                "kto_rejected": m_k["accounting"]["rejected"].get(STEP, {}),
                "dpo_rejected": m_d["accounting"]["rejected"].get(STEP, {}),
                "quarantined": m_k["accounting"]["quarantined"].get(STEP, {}),
                "suggestions_accepted": m_k["stages"][0]["info"].get("suggestions_accepted", {})}


def fetch(dataset: str, *, workspace: str | None = None, api_url: str | None = None, api_key: str | None = None,
          batch_size: int = 1000) -> list[dict]:
    """Every record of NAME and NAME-compare as {id, dataset, fields, metadata, judgments, suggestions}."""
    client = connect(api_url, api_key)
    found = {}
    for form, name in dataset_names(dataset).items():
        ds = retry(lambda name=name: client.datasets(name=name, workspace=workspace), what=f"look up dataset {name!r}")
        if ds is not None:
            check_settings(ds, form)
            found[name] = ds
    if not found:
        raise ArgillaError(f"no Argilla dataset named {dataset!r}" + (f" in workspace {workspace!r}" if workspace else ""),
                           hint="push one first: sluice label push REF --dataset NAME")
    http = api(client)  # plain REST: the 2.8 client crashes on a discarded response without values
    names: dict[str, str] = {}

    def username(user_id: str) -> str:
        if user_id not in names:
            r = http.get(f"/api/v1/users/{user_id}")
            names[user_id] = r.json().get("username", user_id) if r.status_code == 200 else user_id
        return names[user_id]

    def read(name, ds) -> list[dict]:
        out, offset = [], 0
        while True:
            r = http.get(f"/api/v1/datasets/{ds.id}/records",
                         params=[("include", "responses"), ("include", "suggestions"), ("offset", offset),
                                 ("limit", batch_size)])
            r.raise_for_status()
            body = r.json()
            for item in body["items"]:
                judgments = {}
                for resp in item.get("responses") or []:
                    values = {q: (v or {}).get("value") for q, v in (resp.get("values") or {}).items()}
                    user = username(str(resp["user_id"]))
                    judgments[user] = Judgment(user, resp["status"], values)
                suggestions = {s["question_id"]: s["value"] for s in item.get("suggestions") or []}
                out.append({"id": item.get("external_id") or item["id"], "dataset": name,
                            "fields": item.get("fields") or {}, "metadata": item.get("metadata") or {},
                            "judgments": sorted(judgments.values(), key=lambda j: j.user),
                            "suggestions": _by_question_name(ds, suggestions)})
            offset += len(body["items"])
            if not body["items"] or offset >= body.get("total", 0):
                return out

    return [rec for name, ds in found.items() for rec in retry(lambda name=name, ds=ds: read(name, ds),
                                                                 what=f"read records of {name!r}")]


def _by_question_name(ds, by_id: dict) -> dict:
    ids = {str(q.id): q.name for q in ds.settings.questions}
    return {ids.get(str(k), str(k)): v for k, v in by_id.items()}


def pull(dataset: str, to: str, *, store: Store | None = None, workspace: str | None = None,
         thresholds: Thresholds | None = None, statistic: str = "mean", api_url: str | None = None,
         api_key: str | None = None) -> PullResult:
    if statistic not in ("mean", "median"):
        raise SluiceError(f"unknown rating statistic {statistic!r}", hint="use mean or median")
    store = store or Store()
    th = thresholds or Thresholds()
    records = fetch(dataset, workspace=workspace, api_url=api_url, api_key=api_key)
    config = {**th.model_dump(), "statistic": statistic}
    fingerprint = _fingerprint(records, config)
    agreement = _agreement(records)
    per_annotator = Counter(j.user for r in records for j in r["judgments"] if j.status == "submitted")
    previous = _previous(store, to, fingerprint)
    if previous:
        return PullResult(dataset, *previous, len(records), agreement, dict(per_annotator), unchanged=True)
    sources, parents = _sources(store, records)
    out = Outputs()
    for i, rec in enumerate(records):
        _convert(rec, i, sources.get(rec["id"]), th, statistic, out)
    output.table("kto", out.kto), output.table("preference", out.dpo)  # validate both before publishing either
    info = {"argilla_datasets": sorted({r["dataset"] for r in records}), "agreement": agreement,
            "annotators": dict(per_annotator), "counts": dict(out.counts),
            "suggestions_accepted": _accepted(records)}
    kw = {"step": STEP, "parents": parents, "info": info, "config": config, "quarantined": out.quarantined,
          "fingerprint": fingerprint, "meanings": REASONS}
    kv = output.publish(store, f"{to}-kto", "kto", out.kto, out.kto_rej, **kw)
    dv = output.publish(store, f"{to}-dpo", "preference", out.dpo, out.dpo_rej, **kw)
    return PullResult(dataset, kv, dv, len(records), agreement, dict(per_annotator))


@dataclass
class Outputs:
    kto: list = field(default_factory=list)
    dpo: list = field(default_factory=list)
    kto_rej: list = field(default_factory=list)
    dpo_rej: list = field(default_factory=list)
    quarantined: list = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def reject(self, rid: str, reason: str, detail: str | None = None) -> None:
        self.kto_rej.append((rid, reason, detail))
        self.dpo_rej.append((rid, reason, detail))


def _fingerprint(records: list[dict], config: dict) -> str:
    body = [(r["dataset"], r["id"], r["metadata"].get("sluice_ref"),
             [(j.user, j.status, sorted(j.values.items(), key=lambda kv: kv[0])) for j in r["judgments"]])
            for r in sorted(records, key=lambda r: (r["dataset"], r["id"]))]
    return hashlib.sha256(json.dumps([body, config], sort_keys=True, default=str).encode()).hexdigest()[:24]


def _previous(store: Store, to: str, fingerprint: str) -> tuple[Version, Version] | None:
    """The last published outputs, when they came from exactly these responses and settings."""
    last = [store.versions(f"{to}-{kind}") for kind in ("kto", "dpo")]
    if all(last) and all(v[-1].manifest.get("fingerprint") == fingerprint for v in last):
        return last[0][-1], last[1][-1]
    return None


def _agreement(records: list[dict]) -> dict[str, float | None]:
    submitted = {(r["dataset"], r["id"]): [j for j in r["judgments"] if j.status == "submitted"] for r in records}
    return {
        "quality_alpha_interval": krippendorff_alpha(
            {k: [j.values.get("quality") for j in js] for k, js in submitted.items()}, "interval"),
        "verdict_alpha_nominal": krippendorff_alpha(
            {k: [j.values.get("verdict") for j in js] for k, js in submitted.items()}, "nominal"),
    }


def _accepted(records: list[dict]) -> dict[str, dict[str, int]]:
    """Per pre-filled question: submitted answers, and how many equal the suggestion."""
    out: dict[str, Counter] = {}
    for r in records:
        for q, value in r["suggestions"].items():
            for j in r["judgments"]:
                if j.status == "submitted" and j.values.get(q) is not None:
                    c = out.setdefault(q, Counter())
                    c["answered"] += 1
                    c["equal_to_suggestion"] += j.values[q] == value
    return {q: dict(c) for q, c in out.items()}


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
        cols += ["prompt", "chosen", "rejected"] if version.kind == "preference" else ["messages", "feedback"]
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
    if src is not None and "prompt" in src:
        return src, split(list(src["prompt"]) + [src["chosen"][-1]]), src["rejected"][-1]
    if src is not None:
        edited = (src.get("feedback") or {}).get("edited")
        return src, split(src["messages"]), answer(edited) if edited else None
    # No local copy: rebuild from what Argilla shows (display form mapped back).
    shown = rec["fields"]
    known = render.shown_placeholders(*(m["content"] for m in shown.get("conversation") or []),
                                      shown.get("answer"), shown.get("alternative"))
    back = lambda t: render.from_display(t or "", known)  # noqa: E731
    prompt = [{"role": m["role"], "content": back(m["content"]), "name": None, "tool_calls": None,
               "tool_call_id": None, "extra": None} for m in shown.get("conversation") or []
              if m["role"] in ("system", "user", "assistant")]
    alt = shown.get("alternative")
    conv = {"id": rec["id"], "source": "argilla", "created_at": None}
    return conv, split(prompt + [answer(back(shown.get("answer")))]), answer(back(alt)) if alt else None


def _majority(values: list) -> Any:
    counts = Counter(v for v in values if v is not None).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def _personal_data(rec: dict, index: int) -> dict | None:
    reported = [j for j in rec["judgments"] if j.status in ("submitted", "discarded")
                and j.values.get("personal_data") == PERSONAL_YES]
    if not reported:
        return None
    return {"source_file": f"argilla:{rec['dataset']}", "line": None, "row": index, "stage": STEP,
            "error_kind": PERSONAL_DATA, "field": None,
            "error": f"{len(reported)} annotator(s) reported personal data in this record", "raw": None,
            "raw_size": None, "id": rec["id"]}


def _convert(rec: dict, index: int, src: dict | None, th: Thresholds, statistic: str, out: Outputs) -> None:
    rid = rec["id"]
    held = _personal_data(rec, index)
    if held is not None:
        out.quarantined.append(held)
        return
    subs = [j for j in rec["judgments"] if j.status == "submitted"]
    if not subs:
        out.reject(rid, "discarded" if any(j.status == "discarded" for j in rec["judgments"]) else "not_annotated")
        return
    conv, sp, alternative = _conversation(rec, src)
    if sp is None:
        out.reject(rid, "no_final_answer")
        return
    ratings = [float(j.values["quality"]) for j in subs if j.values.get("quality") is not None]
    rating = (statistics.mean if statistic == "mean" else statistics.median)(ratings) if ratings else None
    verdict = _majority([j.values.get("verdict") for j in subs])
    meta = {"argilla_dataset": rec["dataset"], "annotators": [j.user for j in subs], "rating": rating,
            "ratings": ratings, "verdict": verdict, "n_submitted": len(subs)}
    if th.label(rating) is not None:
        out.kto.append(kto_row(conv, sp, th.label(rating), "rating", meta))
    elif verdict in ("good", "bad"):
        out.kto.append(kto_row(conv, sp, verdict == "good", "label", meta))
    else:
        out.kto_rej.append((rid, "no_decisive_judgment", f"{statistic} rating {rating}, verdict {verdict}"))
    _pair(rec, subs, conv, sp, alternative, meta, out)


def _pair(rec, subs, conv, sp, alternative, meta, out: Outputs) -> None:
    """At most one DPO row for the record: the main correction, else a ranking majority."""
    known = render.placeholders(*render.message_texts(sp.prompt + [sp.final]),
                                text_of(alternative) if alternative else None)
    corrections: dict[str, list[str]] = {}
    for j in subs:
        text = render.from_display((j.values.get("corrected_answer") or "").strip(), known)
        if text and text != text_of(sp.final).strip():
            corrections.setdefault(text, []).append(j.user)
    votes = [_first_ranked(j.values.get("preference")) for j in subs]
    first = _majority(votes)
    ranked = first in ("answer", "alternative") and alternative is not None and text_of(alternative).strip() \
        and text_of(alternative).strip() != text_of(sp.final).strip()
    if corrections:
        text, users = sorted(corrections.items(), key=lambda kv: (-len(kv[1]), kv[0]))[0]
        out.counts["corrections_not_used"] += len(corrections) - 1
        out.counts["ranking_superseded_by_edit"] += bool(ranked)
        out.dpo.append(dpo_row(conv, sp, answer(text), sp.final, "edit",
                               {**meta, "corrected_by": sorted(users), "other_corrections": len(corrections) - 1}))
    elif ranked:
        chosen, rejected = (sp.final, alternative) if first == "answer" else (alternative, sp.final)
        out.dpo.append(dpo_row(conv, sp, chosen, rejected, "ranking", {**meta, "ranked_first": first}))
    elif TIE in votes and first in (TIE, None):
        out.dpo_rej.append((rec["id"], "ranking_tied", f"first-ranked votes {dict(Counter(v for v in votes if v))}"))
    else:
        out.dpo_rej.append((rec["id"], "no_correction_or_ranking", None))
    out.counts["ranking_tie_votes"] += votes.count(TIE)


def _first_ranked(value) -> str | None:
    """The candidate ranked first, ``tie`` when several share the best rank, or None.

    REST gives [{"value": name, "rank": r}, …]; a list of names is read in order."""
    if not value:
        return None
    items = [v if isinstance(v, dict) else {"value": v, "rank": i + 1} for i, v in enumerate(value)]
    ranks = [v.get("rank") for v in items if v.get("rank") is not None]
    if not ranks:
        return None
    best = [v for v in items if v.get("rank") == min(ranks)]
    return TIE if len(best) > 1 else best[0].get("value")
