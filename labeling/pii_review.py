"""A human loop for what redaction missed: an Argilla "PII review" dataset, and the labelled set it
gives back.

``push_review(REF, DATASET)`` sends texts of a redacted version — message content, tool results,
the user's edit and comment (``sluice.curate.pii.fields``; keys and ``source`` are short and not
worth an annotator's time) — one record per text, exactly as stored (placeholders ``<PERSON_1>``
included), so offsets in the answers are offsets in the data. Each record asks:

* ``missed`` — a span question on the text: mark every value that is still personal data, typed
  (``LABELS``);
* ``still_personal`` — "does this text still contain personal data?" (yes/no), for a miss that
  cannot be marked as a span.

The second-opinion scan's findings (``sluice.curate.pii.scan.SecondOpinion``) are pre-filled as
span suggestions, and rows it flags are sampled first (``strategy="scan"``). Pushing leaves the
machine: the version needs a strong privacy certificate (``sluice.privacy.require_certified``) or
the explicit override, recorded in the result. Record metadata holds the row id and the field key
(positional, never text).

``pull_review(DATASET, out)`` reads the submitted answers and writes a labelled set in the
``pii_dev`` JSONL format that ``sluice pii eval`` reads: ``{id, text, spans: [{start, end, label}],
lang, source, row, field}``. Spans of all submitted annotators are united (a miss seen by one
annotator is a miss); a text answered "no" with no span is a negative example; a text flagged
"yes" without a span cannot be a span and is counted, not written. ``deny_list_recipe`` adds the
missed values to a recipe's ``pii_detect`` as deny-list recognizers (a new file; the original is
never rewritten). The labelled file and the deny-list hold the missed values themselves: keep
them on this machine.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from sluice.errors import InputError
from sluice.store import Store

from .client import ArgillaError, api, connect, retry

LABELS = ("PERSON", "LOCATION", "ORGANIZATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "ID_NUMBER",
          "OTHER_PERSONAL")
REVIEW_GROUPS = ("content", "tool_results", "feedback")
YES, NO = "yes", "no"
MAX_TEXT = 20_000  # longer texts are not reviewable as one span task
GUIDELINES = ("The texts below were redacted automatically: values replaced by placeholders like <PERSON_1> "
              "are done. Mark every value that is STILL personal data (a name, a place that locates a person, "
              "an e-mail, a phone number, an address, an account or id number) with the span tool and its "
              "type. Then answer whether the text still contains personal data. Pre-filled spans come from "
              "an automatic second opinion: keep the right ones, remove the wrong ones.")


@dataclass
class ReviewPush:
    dataset: str
    ref: str
    records: int
    rows: int
    created: bool
    suggested: int  # records with pre-filled spans
    privacy: dict = field(default_factory=dict)


@dataclass
class ReviewPull:
    dataset: str
    out: str
    records: int
    written: int
    spans: dict[str, int]
    counts: dict[str, int]


def _settings(rg):
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[rg.TextField(name="text", title="Redacted text", required=True, use_markdown=False)],
        questions=[
            rg.SpanQuestion(name="missed", field="text", labels=list(LABELS), allow_overlapping=False,
                            required=False, title="Mark personal data the redaction missed"),
            rg.LabelQuestion(name="still_personal", labels=[YES, NO], required=True,
                             title="Does this text still contain personal data?"),
        ],
        metadata=[rg.TermsMetadataProperty(name="row"), rg.TermsMetadataProperty(name="field"),
                  rg.TermsMetadataProperty(name="ref")],
        distribution=rg.TaskDistribution(min_submitted=1))


def review_texts(version, *, n: int | None, seed: int, strategy: str) -> list[dict]:
    """The texts to review: {id, row, field, text, suggested spans}, ``n`` rows sampled (rows the
    second opinion flags first with ``strategy="scan"``)."""
    import polars as pl

    from sluice.curate.pii import fields
    from sluice.curate.pii.scan import SecondOpinion

    if strategy not in ("scan", "random"):
        raise InputError(f"strategy {strategy!r} is not scan or random")
    frame = pl.from_arrow(version.read())
    cols = [c for c in ("id", *fields.TEXT_COLUMNS) if c in frame.columns]
    second = SecondOpinion()
    rows = []
    for row in frame.select(cols).iter_rows(named=True):
        items = []
        for key, _, text in fields.texts(row):
            if fields.group_of(key) in REVIEW_GROUPS and text.strip() and len(text) <= MAX_TEXT:
                items.append({"row": row["id"], "field": key, "text": text,
                              "suggested": [{"start": s, "end": e, "label": _label(ent)}
                                            for s, e, ent, _ in second.find(text)]})
        if items:
            rows.append(items)
    rng = random.Random(seed)
    rng.shuffle(rows)
    if strategy == "scan":
        rows.sort(key=lambda items: not any(it["suggested"] for it in items))  # stable: flagged first
    picked = rows if n is None else rows[:n]
    out = [it for items in picked for it in items]
    for it in out:
        it["id"] = xxhash.xxh3_64_hexdigest(f"{version.ref}\x00{it['row']}\x00{it['field']}".encode())
    return out


def _label(entity: str) -> str:
    return entity if entity in LABELS else "OTHER_PERSONAL"


def push_review(ref: str, dataset: str, *, store: Store | None = None, n: int | None = 50, seed: int = 0,
                strategy: str = "scan", workspace: str | None = None, api_url: str | None = None,
                api_key: str | None = None, allow_unredacted: bool = False, batch_size: int = 500) -> ReviewPush:
    from sluice.privacy import require_certified

    store = store or Store()
    version = store.resolve(ref)
    privacy = require_certified(version, store, action=f"push {version.ref} to Argilla for PII review",
                                override=allow_unredacted)
    texts = review_texts(version, n=n, seed=seed, strategy=strategy)
    if not texts:
        raise InputError(f"nothing to review in {version.ref}: no message, tool result or feedback text")
    import argilla as rg

    from .push import _workspace

    client = connect(api_url, api_key)
    ws = _workspace(client, rg, workspace)
    ds = retry(lambda: client.datasets(name=dataset, workspace=ws), what=f"look up dataset {dataset!r}")
    created = ds is None
    if created:
        ds = rg.Dataset(name=dataset, workspace=ws, settings=_settings(rg), client=client)
        retry(ds.create, what=f"create Argilla dataset {dataset!r}")
    elif {q.name for q in ds.settings.questions} != {"missed", "still_personal"}:
        raise ArgillaError(f"Argilla dataset {dataset!r} is not a PII review dataset",
                           hint="choose another --dataset name")
    records = [rg.Record(id=it["id"], fields={"text": it["text"]},
                         metadata={"row": it["row"], "field": it["field"], "ref": version.ref},
                         suggestions=[rg.Suggestion("missed", it["suggested"], agent="sluice-second-opinion")]
                         if it["suggested"] else [])
               for it in texts]
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        retry(lambda chunk=chunk: ds.records.log(chunk, batch_size=batch_size), what=f"log records to {dataset!r}")
    return ReviewPush(dataset, version.ref, len(records), len({it["row"] for it in texts}), created,
                      sum(bool(it["suggested"]) for it in texts), privacy)


def fetch_review(dataset: str, *, workspace: str | None = None, api_url: str | None = None,
                 api_key: str | None = None, batch_size: int = 1000) -> list[dict]:
    """Every record: {id, text, row, field, ref, answers: [{status, missed, still_personal}]}."""
    client = connect(api_url, api_key)
    ds = retry(lambda: client.datasets(name=dataset, workspace=workspace), what=f"look up dataset {dataset!r}")
    if ds is None:
        raise ArgillaError(f"no Argilla dataset named {dataset!r}", hint="push one first: sluice pii review push REF")
    questions = {str(q.id): q.name for q in ds.settings.questions}
    if set(questions.values()) != {"missed", "still_personal"}:
        raise ArgillaError(f"Argilla dataset {dataset!r} is not a PII review dataset")
    http = api(client)
    out, offset = [], 0
    while True:
        r = http.get(f"/api/v1/datasets/{ds.id}/records",
                     params=[("include", "responses"), ("offset", offset), ("limit", batch_size)])
        r.raise_for_status()
        body = r.json()
        for item in body["items"]:
            meta = item.get("metadata") or {}
            answers = [{"status": resp["status"],
                        **{q: ((resp.get("values") or {}).get(q) or {}).get("value") for q in ("missed",
                                                                                               "still_personal")}}
                       for resp in item.get("responses") or []]
            out.append({"id": item.get("external_id") or item["id"], "text": (item.get("fields") or {}).get("text"),
                        "row": meta.get("row"), "field": meta.get("field"), "ref": meta.get("ref"),
                        "answers": answers})
        offset += len(body["items"])
        if not body["items"] or offset >= body.get("total", offset):
            return out


def labelled(records: list[dict], dataset: str) -> tuple[list[dict], Counter]:
    """The pii_dev-format rows of the submitted answers (module doc), and counts per outcome."""
    rows, counts = [], Counter()
    for rec in records:
        submitted = [a for a in rec["answers"] if a["status"] == "submitted"]
        text = rec["text"] or ""
        if not submitted:
            counts["not_answered"] += 1
            continue
        spans: dict[tuple[int, int], str] = {}
        for a in submitted:
            for sp in a.get("missed") or ():
                s, e, lab = sp.get("start"), sp.get("end"), sp.get("label")
                if isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(text) and lab in LABELS:
                    spans.setdefault((s, e), lab)
                else:
                    counts["span_invalid"] += 1
        flagged = any(a.get("still_personal") == YES for a in submitted)
        if not spans and flagged:
            counts["flagged_without_span"] += 1
            continue
        counts["with_spans" if spans else "negative"] += 1
        rows.append({"id": rec["id"], "text": text,
                     "spans": [{"start": s, "end": e, "label": lab} for (s, e), lab in sorted(_disjoint(spans))],
                     "lang": None, "source": f"pii-review:{dataset}", "row": rec["row"], "field": rec["field"]})
    return rows, counts


def _disjoint(spans: dict[tuple[int, int], str]) -> list[tuple[tuple[int, int], str]]:
    """United spans of several annotators: overlapping ones merge (the first label stays)."""
    out: list[list] = []
    for (s, e), lab in sorted(spans.items()):
        if out and s < out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e, lab])
    return [((s, e), lab) for s, e, lab in out]


def pull_review(dataset: str, out: str | Path, *, workspace: str | None = None, api_url: str | None = None,
                api_key: str | None = None) -> ReviewPull:
    records = fetch_review(dataset, workspace=workspace, api_url=api_url, api_key=api_key)
    rows, counts = labelled(records, dataset)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(out)
    spans = Counter(sp["label"] for r in rows for sp in r["spans"])
    return ReviewPull(dataset, str(out), len(records), len(rows), dict(spans.most_common()), dict(counts))


def deny_list_recipe(labels: str | Path, recipe: str | Path, out: str | Path, *, min_chars: int = 3) -> dict[str, Any]:
    """Write ``out``: ``recipe`` with the values marked in ``labels`` added to its ``pii_detect`` stage
    as deny-list recognizers, one per label (``review_<label>``); existing entries are kept."""
    import yaml

    from sluice.yamlfile import read_yaml

    values: dict[str, set[str]] = {}
    for n, line in enumerate(Path(labels).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        for sp in row.get("spans") or ():
            value = row["text"][sp["start"]:sp["end"]].strip()
            if len(value) >= min_chars and sp["label"] != "OTHER_PERSONAL" and not value.startswith("<"):
                values.setdefault(sp["label"], set()).add(value)
    doc = read_yaml(recipe, what="recipe file").data
    stages = (doc or {}).get("stages") or []
    detect = next((s for s in stages if isinstance(s, dict) and s.get("stage") == "pii_detect"), None)
    if detect is None:
        raise InputError(f"{recipe}: no pii_detect stage to add the deny-list to",
                         hint="add `- stage: pii_detect` before redact_pii (examples/pii.yaml)")
    recognizers = list(detect.get("recognizers") or [])
    added = {}
    for label, found in sorted(values.items()):
        name = f"review_{label.lower()}"
        entry = next((r for r in recognizers if r.get("name") == name), None)
        if entry is None:
            entry = {"entity": label, "name": name, "deny_list": []}
            recognizers.append(entry)
        before = set(entry.get("deny_list") or ())
        entry["deny_list"] = sorted(before | found)
        added[label] = len(set(entry["deny_list"]) - before)
    detect["recognizers"] = recognizers
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return {"recipe": str(out), "added": added}
