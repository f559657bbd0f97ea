"""``sluice label push``: a sample of a redacted dataset → an Argilla dataset for review.

The Argilla dataset (created once, reused after) has:

- fields: ``conversation`` (chat: the prompt), ``answer`` (the final answer under review),
  ``alternative`` (optional second candidate: the rejected side of a preference row, or the
  end user's edit);
- questions: ``quality`` rating 1–5, ``verdict`` label good/bad, ``corrected_answer`` text
  (optional), ``preference`` ranking of answer vs alternative (optional);
- suggestions: ``quality`` from a sluice score column (percentile within the pushed sample
  → 1–5), ``verdict`` from the end user's thumb, when present;
- metadata: ``source``, ``lang``, ``sluice_ref``, ``reason`` (rejected rows) as terms, score
  columns as floats — for filtering in the UI;
- the ``embedding`` column (list of floats), when present, as vector ``embedding``;
- guidelines, and a distribution of ``min_submitted`` responses per record.

Record ids are sluice ids, so re-pushing the same rows updates them (no duplicates). Only data
whose lineage shows PII redaction is pushed (``sluice.privacy.require_redacted``) unless
``allow_unredacted`` is set, which is recorded in the result.

    sluice label push curated@latest --dataset review-1 --sample 200 --strategy lowest-score
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import polars as pl

from sluice.errors import InputError
from sluice.privacy import require_redacted
from sluice.store import Store

from .client import ArgillaError, connect, retry
from .sampling import sample, score_columns

FIELDS = ("conversation", "answer", "alternative")
QUESTIONS = ("quality", "verdict", "corrected_answer", "preference")
TERMS_METADATA = ("source", "lang", "sluice_ref", "reason")
GUIDELINES = """\
Review the assistant's **final answer** to the conversation.

- **quality**: 1 = wrong, harmful or useless … 5 = correct, complete and well written.
- **verdict**: would you want the model to answer like this? good / bad.
- **corrected_answer**: if the answer can be fixed, write the answer it should have given.
- **preference**: when an alternative is shown, rank the two candidates (best first).

Discard a record you cannot judge (unreadable, not a real request). Personal data was redacted
before this dataset was pushed; report any you still see.
"""


@dataclass
class PushResult:
    dataset: str
    workspace: str | None
    source: str
    pushed: int
    strategy: str
    created: bool
    redacted_by: str | None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return self.__dict__.copy()


def build_settings(rg, *, vector_dims: int | None, float_metadata: list[str], min_submitted: int,
                   guidelines: str = GUIDELINES):
    meta = [rg.TermsMetadataProperty(name) for name in TERMS_METADATA]
    meta += [rg.FloatMetadataProperty(name) for name in float_metadata]
    vectors = [rg.VectorField(name="embedding", dimensions=vector_dims)] if vector_dims else []
    return rg.Settings(
        guidelines=guidelines,
        fields=[rg.ChatField(name="conversation", title="Conversation (prompt)", required=True),
                rg.TextField(name="answer", title="Final answer under review", required=True, use_markdown=True),
                rg.TextField(name="alternative", title="Alternative answer", required=False, use_markdown=True)],
        questions=[rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5], required=True),
                   rg.LabelQuestion(name="verdict", labels=["good", "bad"], required=True),
                   rg.TextQuestion(name="corrected_answer", title="Corrected final answer", required=False,
                                   use_markdown=True),
                   rg.RankingQuestion(name="preference", values=["answer", "alternative"], required=False)],
        metadata=meta, vectors=vectors,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


def check_settings(dataset) -> None:
    """Raise ArgillaError naming every field/question sluice needs that the dataset lacks."""
    have_f = {f.name for f in dataset.settings.fields}
    have_q = {q.name for q in dataset.settings.questions}
    problems = [f"field {n!r} is missing" for n in FIELDS if n not in have_f]
    problems += [f"question {n!r} is missing" for n in QUESTIONS if n not in have_q]
    if problems:
        raise ArgillaError(f"Argilla dataset {dataset.name!r} does not have the settings sluice expects",
                           problems=problems + [f"it has fields {sorted(have_f)} and questions {sorted(have_q)}"],
                           hint="push into a new dataset name (sluice label push REF --dataset NEW), or restore "
                                "the renamed fields/questions")


def push(ref: str, dataset: str, *, store: Store | None = None, workspace: str | None = None,
         n: int | None = None, strategy: str = "random", score_column: str | None = None, seed: int = 0,
         min_submitted: int = 2, api_url: str | None = None, api_key: str | None = None,
         allow_unredacted: bool = False, batch_size: int = 500) -> PushResult:
    import argilla as rg

    store = store or Store()
    version = store.resolve(ref)
    redaction = require_redacted(version, store, action=f"push {version.ref} to Argilla", override=allow_unredacted)
    frame = pl.from_arrow(version.read())
    rejected = pl.from_arrow(version.read("rejected")) if strategy == "rejected" else None
    if version.kind == "conversation" and "messages" not in frame.columns:
        raise InputError(f"{version.ref} has no messages column", hint="push a conversation or preference dataset")
    picked = sample(frame, n, strategy, rejected=rejected, score_column=score_column, seed=seed)
    rows = picked.frame
    notes = [picked.note] if picked.note else []
    if redaction.by is None:
        notes.append("pushed WITHOUT PII redaction in the lineage (explicit override)")
    scores = [c for c in score_columns(rows)]
    dims = _vector_dims(rows)
    if "embedding" in rows.columns and not dims:
        notes.append("column 'embedding' is not a list of floats: no vector pushed")

    client = connect(api_url, api_key)
    ws = _workspace(client, rg, workspace)
    ds = retry(lambda: client.datasets(name=dataset, workspace=ws), what=f"look up dataset {dataset!r}")
    created = ds is None
    if created:
        settings = build_settings(rg, vector_dims=dims, float_metadata=scores, min_submitted=min_submitted)
        ds = rg.Dataset(name=dataset, workspace=ws, settings=settings, client=client)
        retry(ds.create, what=f"create Argilla dataset {dataset!r}")
    else:
        check_settings(ds)
        have = {m.name for m in ds.settings.metadata}
        scores = [s for s in scores if s in have]
        if dims and not any(v.name == "embedding" for v in ds.settings.vectors):
            dims = None
    records = [_record(rg, row, version.ref, version.kind, scores, dims, rows_rank=_ranks(rows, scores))
               for row in _iter_rows(rows)]
    records = [r for r in records if r is not None]
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        retry(lambda chunk=chunk: ds.records.log(chunk, batch_size=batch_size), what=f"log records to {dataset!r}")
    skipped = rows.height - len(records)
    if skipped:
        notes.append(f"{skipped} row(s) without a final assistant answer were not pushed")
    return PushResult(dataset, ws.name if ws else None, version.ref, len(records), picked.strategy, created,
                      redaction.by, notes)


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


def _ranks(rows: pl.DataFrame, scores: list[str]) -> dict[str, list[float]]:
    """Percentile (0..1) of the first score column within the pushed sample, per row."""
    if not scores:
        return {}
    col = scores[0]
    pct = rows[col].rank("average") / max(rows[col].count(), 1)
    return {col: pct.to_list()}


def _iter_rows(rows: pl.DataFrame):
    for i, row in enumerate(rows.iter_rows(named=True)):
        row["_i"] = i
        yield row


def _chat(messages: list[dict]) -> list[dict]:
    out = []
    for m in messages or []:
        content = m.get("content") or ""
        if m.get("tool_calls"):
            calls = "; ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in m["tool_calls"])
            content = f"{content}\n[tool calls] {calls}".strip()
        role = m["role"] if m["role"] in ("user", "assistant", "system") else "assistant"
        if m["role"] == "tool":
            content = f"[tool result] {content}"
        out.append({"role": role, "content": content or " "})
    return out or [{"role": "user", "content": " "}]


def _record(rg, row: dict, ref: str, kind: str, scores: list[str], dims: int | None, rows_rank: dict):
    from .convert import split

    if kind == "preference":
        prompt, answer, alternative = row["prompt"], row["chosen"][-1], row["rejected"][-1]
        alt_text = alternative.get("content") or ""
    else:
        sp = split(row.get("messages"))
        if sp is None:
            return None
        prompt, answer = sp.prompt, sp.final
        fb = row.get("feedback") or {}
        alt_text = fb.get("edited") or ""
    metadata = {"source": row.get("source"), "lang": row.get("lang"), "sluice_ref": ref,
                "reason": row.get("reason")}
    for s in scores:
        v = row.get(s)
        metadata[s] = float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else None
    metadata = {k: v for k, v in metadata.items() if v is not None}
    suggestions = []
    if scores and rows_rank.get(scores[0]) and row.get(scores[0]) is not None:
        pct = rows_rank[scores[0]][row["_i"]]
        suggestions.append(rg.Suggestion("quality", value=min(5, max(1, math.ceil(pct * 5))), agent=f"sluice:{scores[0]}"))
    thumb = (row.get("feedback") or {}).get("thumb") if kind == "conversation" else None
    if thumb in (1, -1):
        suggestions.append(rg.Suggestion("verdict", value="good" if thumb == 1 else "bad", agent="end-user-thumb"))
    fields = {"conversation": _chat(prompt) if prompt else [{"role": "user", "content": " "}],
              "answer": _answer_text(answer)}
    if alt_text:
        fields["alternative"] = alt_text
    vectors = {"embedding": [float(x) for x in row["embedding"]]} if dims and row.get("embedding") is not None else {}
    return rg.Record(id=row["id"], fields=fields, metadata=metadata, suggestions=suggestions, vectors=vectors)


def _answer_text(message: dict) -> str:
    text = message.get("content") or ""
    if message.get("tool_calls"):
        text += "\n" + json.dumps([c["function"] for c in message["tool_calls"]])
    return text or " "
