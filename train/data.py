"""Versioned datasets → TRL dataset formats, validation splits, lineage and golden-set overlap.

- conversation → ``{"messages": [...]}`` (SFT, conversational language modeling)
- preference   → ``{"prompt", "chosen", "rejected"}`` message lists (DPO, conversational)
- kto          → ``{"prompt", "completion", "label"}`` (KTO, conversational)
- conversation → ``{"prompt", "reference", "tools"}`` for GRPO: the turns before the last assistant
  turn, that turn's content (the reward's reference) and the row's tool definitions (JSON or None);
  rows without an assistant turn have nothing to reward and are counted out (``no_reference_rows``)

Validation rows come from ``eval_data`` when given, else from a ``split`` column (``validation``/
``val``/``dev``/``eval``; ``test`` rows are held out of training altogether), else from a
deterministic ``eval_fraction`` of rows chosen by a hash of the row id.

Messages keep ``role`` and ``content``. An assistant tool call is kept as its JSON in the
content (``<tool_call>{...}</tool_call>``), so no row is dropped and nothing is lost silently; the
number of such messages is reported in the lineage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import DataError, SluiceError

METHOD_KIND = {"sft": "conversation", "dpo": "preference", "kto": "kto", "orpo": "preference",
               "simpo": "preference", "grpo": "conversation"}
EVAL_SPLITS = {"validation", "valid", "val", "dev", "eval"}


@dataclass
class Split:
    train: list[dict]
    eval: list[dict]
    lineage: list[dict] = field(default_factory=list)  # [{ref, kind, rows, content_sha256, role}]


def content_hash(version) -> str:
    """The dataset version's content hash: sha256 over its data shards' sha256s (from the manifest)."""
    shards = version.manifest["parts"]["data"]["shards"]
    h = hashlib.sha256()
    for s in sorted(shards, key=lambda s: s["path"]):
        h.update(s["sha256"].encode())
    return h.hexdigest()


def _messages(msgs, counter: dict) -> list[dict[str, str]]:
    out = []
    for m in msgs or []:
        content = m.get("content") or ""
        calls = m.get("tool_calls") or []
        if calls:
            counter["tool_call_messages"] = counter.get("tool_call_messages", 0) + 1
            content += "".join(
                "<tool_call>" + json.dumps({"name": c["function"]["name"], "arguments": c["function"]["arguments"]})
                + "</tool_call>" for c in calls)
        out.append({"role": m["role"], "content": content})
    return out


def to_records(version, method: str, counter: dict | None = None) -> tuple[list[dict], list[str | None]]:
    """Rows of one version in the method's TRL format, with each row's split value (or None)."""
    kind = version.kind
    want = METHOD_KIND[method]
    if kind != want:
        raise SluiceError(f"{version.ref} holds {kind} rows, but `train {method}` needs {want} rows",
                          hint={"conversation": "train sft or grpo on it", "preference": "train dpo, orpo or simpo on it",
                                "kto": "train kto on it"}[kind])
    counter = {} if counter is None else counter
    rows = version.read().to_pylist()
    splits = [r.get("split") for r in rows]
    if method == "sft":
        recs = [{"messages": _messages(r["messages"], counter), "id": r["id"]} for r in rows]
    elif method == "grpo":
        recs, kept = [], []
        for r, s in zip(rows, splits):
            msgs = _messages(r["messages"], counter)
            last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
            if last is None:
                counter["no_reference_rows"] = counter.get("no_reference_rows", 0) + 1
                continue
            recs.append({"prompt": msgs[:last], "reference": msgs[last]["content"], "tools": r.get("tools"),
                         "id": r["id"]})
            kept.append(s)
        splits = kept
    elif kind == "preference":
        recs = [{"prompt": _messages(r["prompt"], counter), "chosen": _messages(r["chosen"], counter),
                 "rejected": _messages(r["rejected"], counter), "id": r["id"]} for r in rows]
    else:
        recs = [{"prompt": _messages(r["prompt"], counter), "completion": _messages(r["completion"], counter),
                 "label": bool(r["label"]), "id": r["id"]} for r in rows]
    return recs, splits


def _held_out(row_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def load_split(store, method: str, data: str, eval_data: str | None = None, eval_fraction: float = 0.1,
               seed: int = 42) -> Split:
    """Read the training (and validation) datasets for ``method``; see the module docstring for the rules."""
    version = store.resolve(data)
    counter: dict = {}
    recs, splits = to_records(version, method, counter)
    if not recs:
        raise DataError(f"{version.ref} has no rows to train on", hint="check the dataset with `sluice datasets show`")
    lineage = [{"ref": version.ref, "kind": version.kind, "rows": len(recs), "role": "train",
                "content_sha256": content_hash(version)}]
    if eval_data:
        ev_version = store.resolve(eval_data)
        ev, _ = to_records(ev_version, method, counter)
        lineage.append({"ref": ev_version.ref, "kind": ev_version.kind, "rows": len(ev), "role": "eval",
                        "content_sha256": content_hash(ev_version)})
        train = [r for r, s in zip(recs, splits) if s != "test"]
    elif any(s is not None for s in splits):
        train = [r for r, s in zip(recs, splits) if s not in EVAL_SPLITS and s != "test"]
        ev = [r for r, s in zip(recs, splits) if s in EVAL_SPLITS]
        lineage[0]["split"] = "split column"
    else:
        train = [r for r in recs if not _held_out(r["id"], eval_fraction, seed)]
        ev = [r for r in recs if _held_out(r["id"], eval_fraction, seed)]
        if eval_fraction > 0 and not ev and len(train) > 1:  # tiny sets: keep at least one row to validate on
            ev = [train.pop()]
        lineage[0]["split"] = f"held-out fraction {eval_fraction}"
    if not train:
        raise DataError(f"{version.ref}: no training rows left after taking validation rows out",
                        hint="lower eval_fraction or pass --eval REF")
    lineage[0]["train_rows"], lineage[0]["eval_rows"] = len(train), len(ev)
    if counter:
        lineage[0]["tool_call_messages_as_text"] = counter.get("tool_call_messages", 0)
    if counter.get("no_reference_rows"):
        lineage[0]["no_reference_rows"] = counter["no_reference_rows"]
    return Split(train, ev, lineage)


# -- golden set --------------------------------------------------------------------------------

@dataclass
class GoldenItem:
    id: str
    prompt: list[dict[str, str]]
    reference: str
    category: str


def load_golden(store, ref: str) -> tuple[list[GoldenItem], dict]:
    """Golden items (prompt = turns before the last assistant turn, reference = that turn) and lineage."""
    version = store.resolve(ref)
    if version.kind != "conversation":
        raise SluiceError(f"golden set {version.ref} holds {version.kind} rows; it must be a conversation dataset")
    items = []
    for r in version.read().to_pylist():
        msgs = _messages(r["messages"], {})
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
        if last is None:
            continue
        category = r.get("category")
        if category is None and r.get("metadata"):
            try:
                category = json.loads(r["metadata"]).get("category")
            except (ValueError, AttributeError):
                category = None
        items.append(GoldenItem(r["id"], msgs[:last], msgs[last]["content"], str(category or "all")))
    if not items:
        raise DataError(f"golden set {version.ref} has no conversation with an assistant answer")
    h = hashlib.sha256()
    for it in sorted(items, key=lambda it: it.id):
        h.update(json.dumps([it.id, it.prompt, it.reference, it.category], sort_keys=True).encode())
    return items, {"ref": version.ref, "rows": len(items), "content_sha256": h.hexdigest()}


def freeze_golden(store, ref: str) -> tuple[dict, bool]:
    """Register ``NAME@vN`` as a golden set: its content hashes go to the store's registry, append-only.

    Returns (entry, created). Freezing the same version again is a no-op; a frozen version whose
    content no longer matches its hash is refused wherever it is used (``golden_entries``).
    """
    import time

    from sluice.curate.dedup.evalsets import GOLDEN_REGISTRY

    if "@v" not in ref:
        raise SluiceError(f"freeze an exact version, e.g. {ref.split('@')[0]}@v1 (not {ref!r})",
                          hint="`sluice datasets list` shows the versions")
    version = store.resolve(ref)
    items, golden = load_golden(store, version.ref)
    entry = {"ref": version.ref, "rows": golden["rows"], "content_sha256": golden["content_sha256"],
             "data_sha256": _bytes_hash(version), "frozen_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for e in golden_entries(store):
        if e["ref"] == version.ref:
            return e, False
    path = store.root / GOLDEN_REGISTRY
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry, True


def _bytes_hash(version) -> str:
    """sha256 over the version's data files as they are on disk now (not the manifest's record of them)."""
    h = hashlib.sha256()
    for f in sorted(version.files()):
        h.update(hashlib.sha256(f.read_bytes()).hexdigest().encode())
    return h.hexdigest()


def golden_entries(store) -> list[dict]:
    """The frozen golden sets, each checked against its frozen hash (a changed one is an error)."""
    from sluice.curate.dedup.evalsets import registered_golden

    out = []
    for e in registered_golden(store.root):
        version = store.resolve(e["ref"])
        if _bytes_hash(version) != e["data_sha256"]:
            raise DataError(f"golden set {e['ref']} changed since it was frozen at {e['frozen_at']} "
                            f"(sha256 {e['data_sha256'][:16]}…)", hint="a frozen golden set is immutable: restore "
                                                                       "it, or freeze a new version")
        out.append(e)
    return out


def _as_conversations(rows: list[dict]) -> list[list[dict]]:
    """Each training row as one message list: prompt and every answer it carries (chosen, rejected,
    completion), so a golden answer anywhere in the row is found."""
    out = []
    for r in rows:
        if "messages" in r:
            msgs = r["messages"]
        else:
            msgs = list(r["prompt"])
            for k in ("chosen", "rejected", "completion"):
                msgs += r.get(k) or []
        out.append([{"role": m["role"], "content": m.get("content") or ""} for m in msgs])
    return out


def overlapping(rows: list[dict], golden_refs: list[str], store) -> list[tuple[int, str]]:
    """(row index, golden ref/item/field) for rows that hold a golden item by the decontamination rule
    (``curate/dedup/decontaminate.py``: normalized words, verbatim or lightly edited or embedded,
    placeholders of redacted PII as wildcards; prompts and answers both) — not an exact hash."""
    import polars as pl

    from sluice.curate.dedup.decontaminate import Contamination, Decontaminate, EvalSet

    if not rows or not golden_refs:
        return []
    stage = Contamination(evalsets=[EvalSet(ref=r, root=str(store.root), name=r) for r in golden_refs],
                          key="prompts_and_answers")
    stage.setup()
    batch = pl.DataFrame({"messages": _as_conversations(rows)},
                         schema={"messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String}))})
    scored = pl.concat([batch, stage.score(batch)], how="horizontal")
    decided = Decontaminate().decide(scored)
    return [(i, f"{s} item {it} ({f})") for i, (reason, s, it, f) in
            enumerate(zip(decided["reason"], scored["contam_set"], scored["contam_item"], scored["contam_field"]))
            if reason is not None]


def check_no_overlap(split: Split, golden_ref: str | None, store) -> None:
    """Refuse training/validation rows that hold an item of ``golden_ref`` or of any golden set frozen
    in the store, by the decontamination rule (row contents are never quoted)."""
    refs = sorted({*([golden_ref] if golden_ref else []),
                   *(e["ref"] for e in golden_entries(store))})
    if not refs:
        return
    hits = []
    for role, rows in (("train", split.train), ("eval", split.eval)):
        hits += [f"{role} row id {rows[i]['id']}: {where}" for i, where in overlapping(rows, refs, store)]
    if hits:
        raise DataError(f"{len(hits)} training/validation rows hold an item of a golden set ({', '.join(refs)})",
                        problems=hits[:10] + ([f"... and {len(hits) - 10} more"] if len(hits) > 10 else []),
                        hint="remove them (a decontaminate stage with `golden: true` before training) and publish "
                             "a new version; a golden set must stay unseen to mean anything")


def to_dataset(rows: list[dict]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([{k: v for k, v in r.items() if k != "id"} for r in rows])
