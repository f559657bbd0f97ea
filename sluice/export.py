"""`sluice datasets export`: a version → JSONL in sluice's own, OpenAI, ShareGPT or TRL layout.

* ``jsonl`` — every column, any record kind; round-trips exactly.
* ``openai`` — OpenAI chat fine-tuning lines, valid for function calling: tools wrapped as
  ``{"type": "function", "function": …}``, every tool call with an id (generated, stable, when
  the source had none), every tool message with the ``tool_call_id`` of the call it answers,
  ``parallel_tool_calls`` at the top level. Messages hold only the keys OpenAI accepts; what
  else a row had (message extras, lineage, what was generated) travels in one top-level
  ``sluice`` object so `sluice ingest` restores the exact row.
* ``sharegpt`` — LLaMA-Factory / FastChat ``conversations``; round-trips exactly.
* ``trl`` — TRL's conversational formats: ``messages`` (+ ``tools``) for conversations,
  ``prompt``/``chosen``/``rejected`` for preference, ``prompt``/``completion``/``label`` for kto.
  Plain by design (TRL keeps extra columns as data).

``plain=True`` leaves the ``sluice`` object and message extras out, for consumers that reject
unknown keys.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sluice.curate.ingest.messages import dumps_bytes, loads
from sluice.errors import SluiceError
from sluice.store import Version

FORMATS = ("jsonl", "openai", "sharegpt")  # every one round-trips through `sluice ingest`
PLAIN_FORMATS = ("trl",)
ALL_FORMATS = FORMATS + PLAIN_FORMATS
_MESSAGE_COLUMNS = ("messages", "prompt", "chosen", "rejected", "completion")


_OPENAI_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")
_SHAREGPT_KEYS = ("from", "value", "name", "tool_calls", "tool_call_id")


def _extra(m: dict) -> dict:
    return loads(m["extra"]) if m.get("extra") else {}


def _with_extra(out: dict, extra: str | None, plain: bool, reserved: tuple[str, ...]) -> dict:
    """Add a message's extra keys; a source key sharing a field's name never overwrites the field."""
    if extra and not plain:
        for key, value in loads(extra).items():
            if key not in reserved and key not in out:
                out[key] = value
    return out


def _message(m: dict, plain: bool) -> dict:
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    for key in ("name", "tool_calls", "tool_call_id"):
        if m.get(key) is not None:
            out[key] = m[key]
    return _with_extra(out, m.get("extra"), plain, _OPENAI_KEYS)


def _json(text: str | None) -> Any:
    return None if text is None else loads(text)


def _lineage(row: dict) -> dict:
    return {"id": row["id"], "source": row["source"], "source_id": row["source_id"],
            "created_at": _iso(row.get("created_at")), "feedback": row.get("feedback"),
            "metadata": _json(row.get("metadata"))}


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def native(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if key in _MESSAGE_COLUMNS:
            value = [_message(m, False) for m in value]
        elif key in ("metadata", "tools"):
            value = _json(value)
        elif key == "created_at":
            value = _iso(value)
        out[key] = value
    return out


# -- OpenAI ------------------------------------------------------------------------------

def openai_tools(tools: list) -> list:
    """Tool definitions in OpenAI's shape: a bare function definition gets its wrapper."""
    out = []
    for tool in tools:
        if isinstance(tool, dict) and "type" not in tool and "name" in tool:
            tool = {"type": "function", "function": tool}
        out.append(tool)
    return out


def call_id(row_id: str, message: int, call: int) -> str:
    """A generated tool-call id: stable for the row, unique within it."""
    digest = hashlib.blake2b(f"{row_id}:{message}:{call}".encode(), digest_size=12).hexdigest()
    return f"call_{digest}"


def link_tool_calls(messages: list[dict], row_id: str) -> dict[str, list]:
    """Give every tool call an id and every tool message the id of the call it answers.

    Tool messages answer the calls of the assistant turn before them, in order (the layout of
    ShareGPT/glaive ``function_call`` + ``observation`` turns, which carry no ids). Returns
    the positions filled in, so an import can undo exactly what the export generated.
    """
    made: dict[str, list] = {"call_ids": [], "tool_call_ids": []}
    pending: deque[str] = deque()
    for i, m in enumerate(messages):
        calls = m.get("tool_calls")
        if m["role"] == "assistant" and calls:
            fixed = []
            for j, call in enumerate(calls):
                if call.get("id") is None:
                    call = {**call, "id": call_id(row_id, i, j)}
                    made["call_ids"].append([i, j])
                fixed.append(call)
            m["tool_calls"] = fixed
            pending = deque(c["id"] for c in fixed)
        elif m["role"] == "tool":
            if m.get("tool_call_id") is None and pending:
                m["tool_call_id"] = pending.popleft()
                made["tool_call_ids"].append(i)
            elif m.get("tool_call_id") in pending:
                pending.remove(m["tool_call_id"])
    return {k: v for k, v in made.items() if v}


def _openai_message(m: dict) -> dict:
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    for key in ("name", "tool_calls", "tool_call_id"):
        if m.get(key) is not None:
            out[key] = m[key]
    return out


def openai(row: dict, plain: bool = False) -> dict:
    messages = [_openai_message(m) for m in row["messages"]]
    made = link_tool_calls(messages, row["id"])
    out: dict[str, Any] = {"messages": messages}
    tools = _json(row.get("tools"))
    if tools is not None:
        out["tools"] = openai_tools(tools)
        if out["tools"] != tools:
            made["tools"] = row["tools"]  # the exact original text
    metadata = _json(row.get("metadata")) or {}
    if isinstance(metadata.get("parallel_tool_calls"), bool):
        out["parallel_tool_calls"] = metadata["parallel_tool_calls"]
    if not plain:
        lineage = _lineage(row)
        extras = {str(i): _extra(m) for i, m in enumerate(row["messages"]) if m.get("extra")}
        if extras:
            lineage["message_extra"] = extras
        if made:
            lineage["generated"] = made
        out["sluice"] = lineage
    return out


# -- ShareGPT ----------------------------------------------------------------------------

def _sharegpt_turns(m: dict, plain: bool) -> dict:
    extra = {} if plain else _extra(m)
    role, calls = m["role"], m.get("tool_calls")
    # A function_call turn's "id" is its call's id, so a message that has an id of its own
    # (in extra) takes the general form below instead.
    if (role == "assistant" and calls and m["content"] is None and len(calls) == 1
            and calls[0].get("type") in (None, "function") and "id" not in extra):
        # LLaMA-Factory's function_call turn: one call, arguments kept as the exact JSON text.
        call = calls[0]
        turn = {"from": "function_call", "value": orjson.dumps(
            {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}).decode()}
        if call.get("id") is not None:
            turn["id"] = call["id"]
        for key in ("name", "tool_call_id"):
            if m.get(key) is not None:
                turn[key] = m[key]
        return _with_extra(turn, m.get("extra"), plain, _SHAREGPT_KEYS)
    speaker = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}[role]
    turn = {"from": speaker, "value": m["content"]}
    if calls is not None:
        turn["tool_calls"] = calls
    for key in ("name", "tool_call_id"):
        if m.get(key) is not None:
            turn[key] = m[key]
    return _with_extra(turn, m.get("extra"), plain, _SHAREGPT_KEYS)


def sharegpt(row: dict, plain: bool = False) -> dict:
    out: dict[str, Any] = {"conversations": [_sharegpt_turns(m, plain) for m in row["messages"]]}
    if row.get("tools"):
        out["tools"] = row["tools"]  # LLaMA-Factory keeps tools as a JSON string
    if not plain:
        out["sluice"] = _lineage(row)
    return out


# -- TRL ---------------------------------------------------------------------------------

def _trl_messages(messages: list[dict], row_id: str) -> list[dict]:
    out = [_openai_message(m) for m in messages]
    link_tool_calls(out, row_id)
    return out


def trl(row: dict, kind: str) -> dict:
    """TRL's conversational layouts (language modeling, preference, unpaired preference)."""
    if kind == "conversation":
        out: dict[str, Any] = {"messages": _trl_messages(row["messages"], row["id"])}
        if row.get("tools"):
            out["tools"] = openai_tools(_json(row["tools"]))
        return out
    if kind == "preference":
        return {"prompt": _trl_messages(row["prompt"], row["id"]),
                "chosen": _trl_messages(row["chosen"], row["id"]),
                "rejected": _trl_messages(row["rejected"], row["id"])}
    return {"prompt": _trl_messages(row["prompt"], row["id"]),
            "completion": _trl_messages(row["completion"], row["id"]), "label": row["label"]}


SPLITS = ("train", "validation", "test")


def _check_splits(version: Version, part: str, splits) -> tuple[str, ...] | None:
    """The splits to keep (None: every row), refused when the version has none to choose from."""
    if not splits:
        return None
    bad = sorted(set(splits) - set(SPLITS))
    if bad:
        raise SluiceError(f"unknown split {bad[0]!r}", hint=f"choose from {', '.join(SPLITS)}")
    if part != "data":
        raise SluiceError(f"--split selects training rows; {part} rows have no split", hint="leave out --split")
    files = version.files(part)
    if not files or "split" not in pq.read_schema(files[0]).names:
        raise SluiceError(f"{version.ref} has no split column",
                          hint="add the `split` stage to the recipe (sluice stages), or export without --split")
    return tuple(dict.fromkeys(splits))


def rows(version: Version, fmt: str, part: str = "data", plain: bool = False,
         splits: tuple[str, ...] | list[str] | None = None) -> Iterator[bytes]:
    """The version's rows as JSON lines; ``splits`` keeps only rows of those splits.

    Exported whole, a split version keeps each row's split: as the ``split`` column in
    ``jsonl`` and in the ``sluice`` object of ``openai`` / ``sharegpt`` (not ``--plain``/``trl``).
    """
    keep = _check_splits(version, part, splits)
    if fmt not in ALL_FORMATS:
        raise SluiceError(f"unknown export format {fmt!r}", hint=f"choose one of {', '.join(ALL_FORMATS)}")
    kind = version.kind
    if fmt in ("openai", "sharegpt") and (part != "data" or kind != "conversation"):
        raise SluiceError(f"the {fmt} layout holds conversations; {version.ref} {part} is {kind}",
                          hint="use --format jsonl (or trl for preference and kto data) for other rows")
    if fmt == "trl" and part != "data":
        raise SluiceError(f"the trl layout holds training rows, not {part} rows", hint="use --format jsonl")
    convert = {"jsonl": native, "openai": lambda r: openai(r, plain), "sharegpt": lambda r: sharegpt(r, plain),
               "trl": lambda r: trl(r, kind)}[fmt]
    for batch in version.iter_batches(10_000, part):
        if keep is not None:
            batch = batch.filter(pc.is_in(batch.column("split"), pa.array(keep, pa.string())))
        for row in batch.to_pylist():
            if part == "quarantine" and row.get("raw") is not None:
                row["raw"] = row["raw"].decode("utf-8", "backslashreplace")
            record = convert(row) if part != "quarantine" else row
            if "sluice" in record and row.get("split") is not None:
                record["sluice"]["split"] = row["split"]
            yield _dump(record)


def _dump(record: dict) -> bytes:
    try:
        return orjson.dumps(record, default=str)
    except TypeError:  # integers past 64 bits or deep nesting: the exact, slower writer
        return dumps_bytes(record)


def export(version: Version, fmt: str, out: str | Path, part: str = "data", plain: bool = False,
           splits: tuple[str, ...] | list[str] | None = None) -> int:
    """Write the version's rows to ``out`` (.gz / .zst compress); returns the row count."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    n = 0
    try:
        with _open(tmp) as f:
            for line in rows(version, fmt, part, plain, splits):
                f.write(line + b"\n")
                n += 1
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed export (a full disk) leaves nothing behind
        raise
    tmp.replace(out)  # readers never see a half-written export
    return n


def _open(path: Path):
    name = path.name.removesuffix(".partial")
    if name.endswith(".gz"):
        return gzip.open(path, "wb", compresslevel=6)
    if name.endswith((".zst", ".zstd")):
        import zstandard

        return zstandard.ZstdCompressor().stream_writer(open(path, "wb"), closefd=True)
    return open(path, "wb")
