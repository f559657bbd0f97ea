"""Eval sets as flat reference items: what decontamination compares the data against.

Reads JSONL / JSONL.gz / JSON / CSV / Parquet files, Hugging Face datasets saved to disk
(``Dataset.save_to_disk``: a folder of Arrow files, a split or a whole ``DatasetDict``) and
conversation dataset versions of the store. Each record gives one item per text field; nested
fields are reached with dots (``question.stem``) and list items one by one (``turns`` gives
``turns[0]``, ``turns[1]``, …; ``turns`` of ``{content}`` objects too). Multiple-choice items are matched with and
without their options: a list of choices (``choices``, ``options``, ``endings``, or a list of
``{label, text}``) gives the question alone and the question followed by its options, and a
prompt that lists its options inline (``…\\nOptions:\\n(A) …``, ``A. …`` lines) also gives the
part before them.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sluice.errors import DataError

ID_FIELDS = ("task_id", "id", "idx", "question_id", "qid", "uid")
CHOICE_FIELDS = ("choices", "options", "endings", "candidates")
# an inline option list: "Options:" / "Choices:" or the first "(A) …" / "A. …" / "A) …" line
_INLINE_OPTIONS = re.compile(r"\n\s*(?:(?:options|choices|answer choices)\s*:|\(?[A-Ea-e][).:]\s)", re.I)


@dataclass(frozen=True)
class Item:
    set: str
    id: str
    field: str
    text: str


def jsonl_lines(text: str) -> list[str]:
    """The non-blank lines of JSONL text, split on ``\\n`` / ``\\r\\n`` only: ``str.splitlines`` also
    breaks on U+0085, U+2028, U+2029, \\x1c-\\x1e, \\v and \\f, which JSON strings may hold raw."""
    return [line for line in text.split("\n") if line.strip()]


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of one eval-set file or saved HF dataset folder (a clear DataError otherwise)."""
    if path.is_dir():
        return _read_hf_disk(path)
    if not path.is_file():
        raise DataError(f"eval set file not found: {path}",
                        hint="fix the path (relative paths start at the working directory)")
    name = path.name.lower().removesuffix(".gz")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
        if name.endswith(".parquet"):
            return pl.read_parquet(io.BytesIO(raw)).to_dicts()
        if name.endswith(".csv") or name.endswith(".tsv"):
            # every column as text: type inference fails on mixed columns and would turn "007" into 7
            return pl.read_csv(io.BytesIO(raw), infer_schema=False, separator="\t" if name.endswith(".tsv") else ",",
                               truncate_ragged_lines=True).to_dicts()
        if name.endswith(".json"):
            data = json.loads(raw)
            if isinstance(data, dict):  # {"data": [...]} / {"test": [...]} or one record
                lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
                data = lists[0] if len(lists) == 1 else [data]
            return [r for r in data if isinstance(r, dict)]
        return [json.loads(line) for line in jsonl_lines(raw.decode("utf-8"))]
    except (pl.exceptions.PolarsError, ValueError, OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read eval set {path}: {type(e).__name__}",
                        hint="eval sets are JSONL (optionally .gz), a JSON list, CSV, Parquet, "
                             "or a folder written by datasets' save_to_disk") from None


def _read_hf_disk(path: Path) -> list[dict[str, Any]]:
    """A folder written by ``Dataset.save_to_disk`` (Arrow stream files), every split of a DatasetDict."""
    import pyarrow as pa

    files = sorted(path.rglob("*.arrow"))
    if not files:
        raise DataError(f"eval set folder {path} holds no Arrow files",
                        hint="give a file, or a folder written by datasets' save_to_disk")
    rows: list[dict[str, Any]] = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(source).read_all()
        rows += table.to_pylist()
    return rows


def _leaves(value: Any, prefix: str = "") -> dict[str, str]:
    """Path → text of every string leaf: ``a.b`` for nested keys, ``turns[1]`` for list items (each
    turn of an MT-bench or Arena-Hard item is an item of its own)."""
    if isinstance(value, str):
        return {prefix: value}
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{prefix}[{i}]"))
    return out


def _under(path: str, field: str) -> bool:
    return path == field or path.startswith(field + ".") or path.startswith(field + "[")


def _choices(record: dict[str, Any]) -> tuple[str, list[str]] | None:
    """(path of the choices, option texts) of a multiple-choice record, searched one level deep."""
    for scope, obj in (("", record), *((f"{k}.", v) for k, v in record.items() if isinstance(v, dict))):
        for key in CHOICE_FIELDS:
            value = obj.get(key)
            if isinstance(value, dict) and isinstance(value.get("text"), list):  # HF {label: [...], text: [...]}
                value = value["text"]
            if isinstance(value, list) and value:
                texts = [v if isinstance(v, str) else v.get("text") if isinstance(v, dict) else None for v in value]
                if all(isinstance(t, str) for t in texts):
                    return scope + key, texts
    return None


def record_items(record: dict[str, Any], set_name: str, item_id: str, fields: list[str] | None) -> list[Item]:
    """The reference items of one record: each text field, and MC questions with and without options."""
    leaves = _leaves(record)
    mc = _choices(record)
    choice_path = mc[0] if mc else None
    wanted = [p for p in leaves if any(_under(p, f) for f in fields)] if fields else \
        [p for p in leaves if p.split(".")[-1] not in ID_FIELDS]
    items = []
    for path in wanted:
        text = leaves[path]
        if not text or (choice_path and _under(path, choice_path)):
            continue
        items.append(Item(set_name, item_id, path, text))
        inline = _INLINE_OPTIONS.search(text)
        if inline and inline.start() > 0:
            items.append(Item(set_name, item_id, f"{path}[no options]", text[:inline.start()]))
    if mc:
        question = next((i for i in items if "[" not in i.field), None)
        if question is not None:
            items.append(Item(set_name, item_id, f"{question.field}+options", question.text + "\n" + "\n".join(mc[1])))
    return items


def missing_fields(records: list[dict[str, Any]], fields: list[str]) -> list[str]:
    leaves = _leaves(records[0]) if records else {}
    return [f for f in fields if not any(_under(p, f) for p in leaves)]


# -- registered golden sets --------------------------------------------------------------------

GOLDEN_REGISTRY = Path(".registry") / "golden.jsonl"  # inside the store; written by `sluice golden freeze`


def registered_golden(root: str | Path) -> list[dict[str, Any]]:
    """Every golden set frozen in the store at ``root`` (``sluice golden freeze``), oldest first."""
    from sluice.fs import as_path

    path = as_path(root) / str(GOLDEN_REGISTRY)  # the store may be an object store (s3://…)
    if not path.is_file():
        return []
    return [json.loads(line) for line in jsonl_lines(path.read_text(encoding="utf-8"))]


MIN_ANSWER_WORDS = 8  # a shorter answer ("Paris.", "the answer is 42") is shared by unrelated conversations


def conversation_items(rows: list[dict[str, Any]], set_name: str) -> list[Item]:
    """Up to two items per golden conversation: its user turns (the prompt) and its last assistant turn
    (the answer, when at least MIN_ANSWER_WORDS words) — a copy of either is contamination, whatever
    the other half of the row says."""
    items = []
    for r in rows:
        msgs = r.get("messages") or []
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        prompt = "\n".join(m.get("content") or "" for m in (msgs[:last] if last is not None else msgs)
                           if m.get("role") == "user")
        items.append(Item(set_name, str(r["id"]), "prompt", prompt))
        answer = (msgs[last].get("content") or "") if last is not None else ""
        if len(answer.split()) >= MIN_ANSWER_WORDS:
            items.append(Item(set_name, str(r["id"]), "answer", answer))
    return items
