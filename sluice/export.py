"""`sluice datasets export`: a version → JSONL in sluice's own, OpenAI or ShareGPT layout.

Every layout round-trips through `sluice ingest`: what has no place in the target layout
travels in extra keys (message extras, a ``sluice`` lineage object with id, source,
timestamps, feedback and metadata). ``plain=True`` leaves those out, for consumers that
reject unknown keys.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from sluice.errors import SluiceError
from sluice.store import Version

FORMATS = ("jsonl", "openai", "sharegpt")
_MESSAGE_COLUMNS = ("messages", "prompt", "chosen", "rejected", "completion")


_OPENAI_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")
_SHAREGPT_KEYS = ("from", "value", "name", "tool_calls", "tool_call_id")


def _with_extra(out: dict, extra: str | None, plain: bool, reserved: tuple[str, ...]) -> dict:
    """Add a message's extra keys; a source key sharing a field's name never overwrites the field."""
    if extra and not plain:
        for key, value in orjson.loads(extra).items():
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
    return None if text is None else orjson.loads(text)


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


def openai(row: dict, plain: bool = False) -> dict:
    out: dict[str, Any] = {"messages": [_message(m, plain) for m in row["messages"]]}
    if row.get("tools"):
        out["tools"] = _json(row["tools"])
    if not plain:
        out["sluice"] = _lineage(row)
    return out


def _sharegpt_turns(m: dict, plain: bool) -> dict:
    extra = {} if plain or not m.get("extra") else orjson.loads(m["extra"])
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


def rows(version: Version, fmt: str, part: str = "data", plain: bool = False) -> Iterator[bytes]:
    if fmt not in FORMATS:
        raise SluiceError(f"unknown export format {fmt!r}", hint=f"choose one of {', '.join(FORMATS)}")
    if fmt != "jsonl" and (part != "data" or version.kind != "conversation"):
        raise SluiceError(f"the {fmt} layout holds conversations; {version.ref} {part} is {version.kind}",
                          hint="use --format jsonl for preference, kto, rejected and quarantine rows")
    convert = {"jsonl": native, "openai": lambda r: openai(r, plain), "sharegpt": lambda r: sharegpt(r, plain)}[fmt]
    for batch in version.iter_batches(10_000, part):
        for row in batch.to_pylist():
            if part == "quarantine" and row.get("raw") is not None:
                row["raw"] = row["raw"].decode("utf-8", "backslashreplace")
            yield orjson.dumps(convert(row) if part != "quarantine" else row, default=str)


def export(version: Version, fmt: str, out: str | Path, part: str = "data", plain: bool = False) -> int:
    """Write the version's rows to ``out`` (.gz / .zst compress); returns the row count."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    n = 0
    with _open(tmp) as f:
        for line in rows(version, fmt, part, plain):
            f.write(line + b"\n")
            n += 1
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
