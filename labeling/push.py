"""``sluice label push``: a sample of a redacted dataset → Argilla datasets for review.

In order, all before anything is sent:

1. the lineage must show PII redaction (``sluice.privacy.require_redacted``; ``allow_unredacted``
   overrides), and rows the redaction did not cover — their language or a field they show — are
   refused (``guard.coverage_refusals``; ``allow_uncovered`` overrides);
2. the sample is drawn from the rows that remain (``sampling``; stratified strategies keep the
   data's language × source mix);
3. each record is rendered (``render``: placeholders as ``[PERSON_1]``, tool calls as tool
   calls), given honest suggestions (``suggest``), and its exact payload is scanned for PII
   again (``guard.PayloadScan``): a record with a finding is refused (``payload_pii``);
4. the push is recorded as a dataset version ``NAME-pushed`` (the pushed rows as they are in the
   store; refused and unsampled rows in ``rejected/`` with their reason, so rows in = pushed +
   refused + not sampled), whose manifest holds how the sample was drawn, the refusals, the
   overrides, the suggestion agents and the payload scan. Records carry it as ``sluice_ref``, so
   ``label pull`` finds the pushed rows and their lineage. An identical push reuses it.

Records go to ``NAME`` (no alternative) or ``NAME-compare`` (with an alternative and the ranking
question), see ``form``. Record ids are sluice ids: re-pushing updates the same records.

    sluice label push curated@latest --dataset review-1 --sample 200 --strategy stratified-lowest-score
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import InputError
from sluice.privacy import require_redacted
from sluice.schemas import REJECTED
from sluice.store import Store, check_name

from . import guard, render
from .client import connect, retry
from .convert import split
from .form import COMPARE, SINGLE, build_settings, check_settings, check_suggestions, dataset_names
from .sampling import mix, sample, score_columns
from .suggest import Suggester

STEP = "label_push"
FORM_VERSION = 2  # bump when the fields, questions or rendering change
NOT_SAMPLED = "not_sampled"
NO_FINAL_ANSWER = "no_final_answer"
TOO_LONG = "too_long_to_show"
MAX_CHAT_MESSAGE = 20_000  # argilla-server's default ARGILLA_MAX_MESSAGE_LENGTH: one longer fails the whole batch
REASONS = {
    TOO_LONG: f"a chat message is longer than Argilla shows ({MAX_CHAT_MESSAGE:,} characters)",
    guard.LANGUAGE_NOT_COVERED: "its language is not one the redaction covers",
    guard.LANGUAGE_UNKNOWN: "it has no language, so redaction coverage cannot be shown",
    guard.FIELD_NOT_COVERED: "it shows a field the redaction did not cover",
    guard.COVERAGE_UNKNOWN: "the redaction record does not say what it covered",
    guard.PAYLOAD_PII: "the scan of the exact payload found personal data",
    NO_FINAL_ANSWER: "no assistant answer to review",
    NOT_SAMPLED: "not drawn into the review sample",
}


@dataclass
class PushResult:
    dataset: str
    workspace: str | None
    source: str
    pushed: int
    strategy: str
    created: list[str]
    redacted_by: str | None
    record: str  # the NAME-pushed version that records this push
    datasets: dict[str, int] = field(default_factory=dict)  # Argilla dataset → records
    refused: dict[str, dict[str, int]] = field(default_factory=dict)  # reason → {detail: rows}
    overridden: dict[str, dict[str, int]] = field(default_factory=dict)
    how: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return self.__dict__.copy()


@dataclass
class Payload:
    id: str
    form: str
    fields: dict
    metadata: dict
    suggestions: dict  # question → (value, Agent)
    vectors: dict

    def texts(self) -> list[str]:
        """Every text about to be sent that holds record content: the fields as rendered. The
        metadata are sluice's own values (source name, language code, dataset ref, reason code,
        thumb, scores), no user text — and a NER reads a file name such as ``sample_logs.jsonl``
        as an organisation."""
        out = [m["content"] for m in self.fields["conversation"]]
        return out + [v for k, v in self.fields.items() if k != "conversation"]


def push(ref: str, dataset: str, *, store: Store | None = None, workspace: str | None = None,
         n: int | None = None, strategy: str = "random", score_column: str | None = None, seed: int = 0,
         min_submitted: int = 2, api_url: str | None = None, api_key: str | None = None,
         allow_unredacted: bool = False, allow_uncovered: bool = False, stratify_by: tuple[str, ...] = ("lang", "source"),
         batch_size: int = 500) -> PushResult:
    import argilla as rg

    store = store or Store()
    record_name = check_name(f"{dataset}-pushed")
    version = store.resolve(ref)
    redaction = require_redacted(version, store, action=f"push {version.ref} to Argilla", override=allow_unredacted)
    part = "rejected" if strategy == "rejected" and version.num_rows("rejected") else "data"
    table = version.read(part)
    frame = pl.from_arrow(table)
    if "messages" not in frame.columns and "prompt" not in frame.columns:
        raise InputError(f"{version.ref} has no messages column", hint="push a conversation or preference dataset")

    uncovered = guard.coverage_refusals(frame, version.kind, redaction)
    refused = {} if allow_uncovered else dict(uncovered)
    eligible = frame.filter(~pl.col("id").is_in(list(refused)))
    # rejected/ rows are the population itself when reviewing what the curation dropped
    picked = sample(eligible, n, "random" if part == "rejected" else strategy, score_column=score_column, seed=seed,
                    stratify_by=stratify_by)
    if part == "rejected":
        picked.strategy = picked.how["strategy"] = "rejected"
    picked.how["language_mix"]["dataset"] = mix(frame)  # "data" is what the sample was drawn from
    notes = [picked.note] if picked.note else []
    if redaction.by is None:
        notes.append("pushed WITHOUT PII redaction in the lineage (explicit override, recorded)")
    elif not getattr(redaction, "strong", False):
        notes.append(f"the redaction by {redaction.by} is weaker than the standard (explicit override, recorded): "
                     + "; ".join(redaction.shortfalls))
    if uncovered and allow_uncovered:
        notes.append(f"{len(uncovered)} row(s) the redaction did not cover may be pushed (--allow-uncovered, recorded)")

    scores = score_columns(picked.frame)
    dims = _vector_dims(picked.frame)
    suggester = Suggester.for_version(version, store)
    scan = guard.PayloadScan.for_redaction(redaction, store)
    payloads, scan_hits = _payloads(picked.frame, version.kind, suggester, scan, scores, dims, refused)
    if not payloads:
        raise InputError(f"nothing to push from {version.ref}: every candidate row was refused",
                         problems=_reasons(refused), hint=_override_hint(refused))

    pushed_ids = {p.id for p in payloads}
    sampled = set(picked.frame["id"].to_list())
    not_sampled = [i for i in eligible["id"].to_list() if i not in sampled]
    config = {"strategy": strategy, "n": n, "seed": seed, "score_column": score_column,
              "stratify_by": list(stratify_by), "min_submitted": min_submitted, "form_version": FORM_VERSION,
              "argilla_datasets": dataset_names(dataset)}
    strong = redaction.redacted and getattr(redaction, "strong", False)
    overrides = {"allow_unredacted": bool(allow_unredacted and not strong),  # none, or pattern-only (weak)
                 "allow_uncovered": bool(allow_uncovered and uncovered)}
    info = {"source": version.ref, "part": part, "sample": picked.how, "refused": guard.summarize(refused),
            "overridden": guard.summarize(uncovered) if allow_uncovered else {}, "overrides": overrides,
            "redaction": _redaction_info(redaction), "payload_scan": {**scan.describe(), "hits": dict(scan_hits)},
            "suggestions": {"agents": {q: a.__dict__ for p in payloads for q, (_, a) in p.suggestions.items()},
                            "counts": dict(suggester.counts)}}
    client = connect(api_url, api_key)
    ws = _workspace(client, rg, workspace)
    names = dataset_names(dataset)
    forms = [f for f in (SINGLE, COMPARE) if any(p.form == f for p in payloads)]
    targets = {f: _dataset(client, rg, ws, names[f], f, scores, dims, min_submitted) for f in forms}  # checked first
    rec = _record(store, record_name, version, table, pushed_ids, refused, not_sampled, config, info, overrides)
    for p in payloads:
        p.metadata["sluice_ref"] = rec.ref
    created, counts = [names[f] for f in forms if targets[f][1]], {}
    for form, (ds, _) in targets.items():
        have = {m.name for m in ds.settings.metadata}
        with_vectors = any(v.name == "embedding" for v in ds.settings.vectors)
        records = [_argilla_record(rg, p, have, with_vectors) for p in payloads if p.form == form]
        for start in range(0, len(records), batch_size):
            chunk = records[start:start + batch_size]
            retry(lambda chunk=chunk: ds.records.log(chunk, batch_size=batch_size),
                  what=f"log records to {names[form]!r}")
        counts[names[form]] = len(records)
    return PushResult(dataset, ws.name if ws else None, version.ref, len(payloads), picked.strategy, created,
                      redaction.by, rec.ref, counts, guard.summarize(refused),
                      info["overridden"], picked.how, notes)


def _payloads(rows: pl.DataFrame, kind: str, suggester: Suggester, scan: guard.PayloadScan, scores: list[str],
              dims: int | None, refused: dict) -> tuple[list[Payload], Counter]:
    """Render each sampled row; refuse (into ``refused``) what cannot or must not be shown."""
    payloads, hits = [], Counter()
    for row in rows.iter_rows(named=True):
        p = _payload(row, kind, suggester, scores, dims)
        if p is None:
            refused[row["id"]] = (NO_FINAL_ANSWER, "no assistant answer to review")
        elif any(len(m["content"]) > MAX_CHAT_MESSAGE for m in p.fields["conversation"]):
            refused[row["id"]] = (TOO_LONG, f"a chat message over {MAX_CHAT_MESSAGE:,} characters")
        elif found := scan.findings(p.texts()):
            hits.update(found)
            refused[row["id"]] = (guard.PAYLOAD_PII, ",".join(sorted(found)))
        else:
            payloads.append(p)
    return payloads, hits


def _reasons(refused: dict) -> list[str]:
    return [f"{reason}: {sum(d.values()):,} ({', '.join(f'{k} {v:,}' for k, v in d.items())})"
            for reason, d in guard.summarize(refused).items()]


def _override_hint(refused: dict) -> str:
    reasons = {r for r, _ in refused.values()}
    if reasons & {guard.LANGUAGE_NOT_COVERED, guard.LANGUAGE_UNKNOWN, guard.FIELD_NOT_COVERED,
                  guard.COVERAGE_UNKNOWN}:
        return ("redact those languages/fields (examples/pii.yaml), or pass --allow-uncovered if they hold no "
                "personal data (the override is recorded in the push manifest)")
    return "run `sluice pii scan REF` and redact again; rows with residual PII are never pushed"


def _redaction_info(redaction) -> dict:
    return {**redaction.as_dict(), "strong": redaction.strong}


def _record(store, name, version, table, pushed_ids, refused, not_sampled, config, info, overrides):
    """Publish (or reuse, when identical) the NAME-pushed version that records this push."""
    order = sorted(pushed_ids)
    fingerprint = hashlib.sha256(json.dumps([version.ref, order, config, overrides, info["refused"]],
                                            sort_keys=True, default=str).encode()).hexdigest()[:24]
    existing = store.versions(name)
    if existing and existing[-1].manifest.get("fingerprint") == fingerprint:
        return existing[-1]
    data = table.filter(pc.is_in(table.column("id"), pa.array(order)))
    data = data.drop_columns([c for c in ("stage", "reason", "detail", "duplicate_of") if c in data.column_names])
    rejected = [{"id": i, "stage": STEP, "reason": r, "detail": d, "duplicate_of": None} for i, (r, d) in refused.items()]
    rejected += [{"id": i, "stage": STEP, "reason": NOT_SAMPLED, "detail": None, "duplicate_of": None}
                 for i in not_sampled]
    reasons = dict(Counter(r["reason"] for r in rejected))
    accounting = {"rows_in": data.num_rows + len(rejected), "kept": data.num_rows, "rejected_total": len(rejected),
                  "rejected": {STEP: reasons} if rejected else {}, "quarantined_total": 0, "quarantined": {}}
    stage = {"name": STEP, "index": 0, "fingerprint": fingerprint, "rows_in": accounting["rows_in"],
             "kept": data.num_rows, "rejected": reasons, "quarantined": {}, "config": config, "info": info}
    with store.create(name, version.kind) as w:
        w.write(data)
        if rejected:
            w.write_rejected(pa.Table.from_pylist(rejected, schema=REJECTED.schema))
        return w.publish(accounting, parents=[version.ref], stages=[stage], fingerprint=fingerprint,
                         overrides=overrides, reasons={STEP: {r: REASONS[r] for r in reasons}})


def _dataset(client, rg, ws, name, form, scores, dims, min_submitted):
    ds = retry(lambda: client.datasets(name=name, workspace=ws), what=f"look up dataset {name!r}")
    if ds is not None:
        check_settings(ds, form)
        return ds, False
    settings = build_settings(rg, form, vector_dims=dims, float_metadata=scores, min_submitted=min_submitted)
    ds = rg.Dataset(name=name, workspace=ws, settings=settings, client=client)
    retry(ds.create, what=f"create Argilla dataset {name!r}")
    return ds, True


def _workspace(client, rg, name: str | None):
    if name:
        ws = retry(lambda: client.workspaces(name), what=f"look up workspace {name!r}")
        if ws is None:
            ws = retry(lambda: rg.Workspace(name=name, client=client).create(), what=f"create workspace {name!r}")
        return ws
    found = retry(lambda: list(client.workspaces), what="list workspaces")
    if not found:
        return retry(lambda: rg.Workspace(name="sluice", client=client).create(), what="create workspace 'sluice'")
    return found[0]


def _vector_dims(rows: pl.DataFrame) -> int | None:
    if "embedding" not in rows.columns or not isinstance(rows.schema["embedding"], (pl.List, pl.Array)):
        return None
    first = rows["embedding"].drop_nulls().head(1).to_list()
    return len(first[0]) if first and first[0] else None


def _payload(row: dict, kind: str, suggester: Suggester, scores: list[str], dims: int | None) -> Payload | None:
    if kind == "preference":
        prompt, final, alt = row["prompt"], row["chosen"][-1], row["rejected"][-1]
    else:
        sp = split(row.get("messages"))
        if sp is None:
            return None
        prompt, final = sp.prompt, sp.final
        edited = (row.get("feedback") or {}).get("edited")
        alt = {"content": edited} if edited and edited.strip() else None
    fields = {"conversation": render.chat(prompt), "answer": render.answer_text(final)}
    if alt is not None and render.answer_text(alt).strip():
        fields["alternative"] = render.answer_text(alt)
    thumb = (row.get("feedback") or {}).get("thumb") if kind == "conversation" else None
    metadata = {"source": row.get("source"), "lang": row.get("lang"), "reason": row.get("reason"),
                "user_thumb": {1: "up", -1: "down"}.get(thumb)}
    for s in scores:
        v = row.get(s)
        metadata[s] = float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else None
    metadata = {k: v for k, v in metadata.items() if v is not None}
    suggestions = suggester.row(row)
    check_suggestions(list(suggestions))
    vectors = {"embedding": [float(x) for x in row["embedding"]]} if dims and row.get("embedding") is not None else {}
    return Payload(row["id"], COMPARE if "alternative" in fields else SINGLE, fields, metadata, suggestions, vectors)


def _argilla_record(rg, p: Payload, metadata_names: set[str], with_vectors: bool):
    suggestions = [rg.Suggestion(q, value=v, agent=a.label(), type=a.type) for q, (v, a) in p.suggestions.items()]
    metadata = {k: v for k, v in p.metadata.items() if k in metadata_names}
    return rg.Record(id=p.id, fields=p.fields, metadata=metadata, suggestions=suggestions,
                     vectors=p.vectors if with_vectors else {})
