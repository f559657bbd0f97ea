"""`sluice datasets export`: a version → JSONL in sluice's own, OpenAI, ShareGPT or TRL layout.

* ``jsonl`` — every column, any record kind; round-trips exactly.
* ``openai`` — OpenAI chat fine-tuning lines, valid for function calling: tools wrapped as
  ``{"type": "function", "function": …}``, every tool call with an id (generated, stable, when
  the source had none), every tool message with the ``tool_call_id`` of the call it answers,
  ``parallel_tool_calls`` at the top level. Messages hold only the keys OpenAI accepts; what
  else a row had (message extras, lineage, what was generated) travels in one top-level
  ``sluice`` object so `sluice ingest` restores the exact row.
* ``sharegpt`` — LLaMA-Factory / FastChat ``conversations``; round-trips exactly.
* ``responses`` — OpenAI Responses API items: ``input`` (the history) and ``output`` (the trailing
  assistant turn: ``reasoning``, ``message``, ``function_call`` items), ``tools`` in the flat
  Responses shape; tool results are ``function_call_output`` items. Reasoning travels as
  ``reasoning`` items; round-trips exactly (``sluice`` object: message extras, names, which item
  came from which message, generated ids).
* Reasoning (the message's ``reasoning``; ``extra.reasoning`` in versions ingested before it had
  a field): ``jsonl`` keeps it as ``reasoning``; ``responses`` as ``reasoning`` items; ``trl``
  as ``reasoning_content`` (what reasoning chat templates read). ``openai`` messages have no field
  for it, so it travels only in the ``sluice`` object, and ``sharegpt`` carries it as a turn's
  ``reasoning`` key that LLaMA-Factory does not read — both dropped by ``--plain``;
  ``uncarried_reasoning`` counts those turns, and the CLI says so.
* ``trl`` — TRL's conversational formats: ``messages`` (+ ``tools``) for conversations,
  ``prompt``/``chosen``/``rejected`` for preference, ``prompt``/``completion``/``label`` for kto.
  Plain by design (TRL keeps extra columns as data).

``plain=True`` leaves the ``sluice`` object and message extras out, for consumers that reject
unknown keys.

An export leaves the machine: ``sluice datasets export`` first asks ``certify_export`` (the privacy
certificate, ``sluice.privacy.require_certified``) and refuses a version whose lineage is not
``strong``ly redacted unless ``--allow-unredacted`` is passed; the record is printed with the result.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sluice import fs
from sluice.exact_json import dumps_bytes, loads
from sluice.errors import SluiceError
from sluice.store import Version

FORMATS = ("jsonl", "openai", "sharegpt", "responses")  # every one round-trips through `sluice ingest`
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


def _reasoning(m: dict) -> str | None:
    """A message's reasoning: its field, or ``extra.reasoning`` of a version ingested before the field."""
    if m.get("reasoning") is not None:
        return m["reasoning"]
    old = _extra(m).get("reasoning") if m.get("extra") else None
    return old if isinstance(old, str) else None


def _message(m: dict, plain: bool) -> dict:
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    for key in ("name", "tool_calls", "tool_call_id", "reasoning"):
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
    """Tool definitions in OpenAI's shape: a bare function definition (glaive), an Anthropic tool
    (``input_schema`` → ``parameters``) or a Responses tool (flat ``type: function``) gets the wrapper."""
    out = []
    for tool in tools:
        flat = isinstance(tool, dict) and "name" in tool and "function" not in tool
        if flat and tool.get("type", "function") == "function":  # bare (glaive), Anthropic or Responses shape
            fn = {k: v for k, v in tool.items() if k not in ("type", "input_schema")}
            if "input_schema" in tool and "parameters" not in tool:
                fn["parameters"] = tool["input_schema"]
            tool = {"type": "function", "function": fn}
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
        reasoning = {str(i): m["reasoning"] for i, m in enumerate(row["messages"]) if m.get("reasoning") is not None}
        if reasoning:
            lineage["reasoning"] = reasoning
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
        for key in ("name", "tool_call_id") + (() if plain else ("reasoning",)):
            if m.get(key) is not None:
                turn[key] = m[key]
        return _with_extra(turn, m.get("extra"), plain, _SHAREGPT_KEYS)
    speaker = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}[role]
    turn = {"from": speaker, "value": m["content"]}
    if calls is not None:
        turn["tool_calls"] = calls
    for key in ("name", "tool_call_id") + (() if plain else ("reasoning",)):
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


# -- Responses ---------------------------------------------------------------------------

def responses_tools(tools: list) -> list:
    """Tool definitions in the Responses API's flat shape: ``{"type": "function", "name", …}``."""
    out = []
    for tool in tools:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            tool = {"type": "function", **tool["function"]}
        elif isinstance(tool, dict) and "type" not in tool and "name" in tool:
            fn = {k: v for k, v in tool.items() if k != "input_schema"}
            if "input_schema" in tool:
                fn["parameters"] = tool["input_schema"]
            tool = {"type": "function", **fn}
        out.append(tool)
    return out


def _responses_items(m: dict, extra: dict, reasoning: str | None = None) -> list[dict]:
    role = m["role"]
    if role == "tool":
        return [{"type": "function_call_output", "call_id": m.get("tool_call_id"), "output": m["content"] or ""}]
    if role != "assistant":
        return [{"role": role, "content": m["content"] if m["content"] is not None else ""}]
    items: list[dict] = []
    if extra.get("responses_reasoning"):
        items += extra["responses_reasoning"]
    elif reasoning is not None:  # reasoning of another source, as a summary
        items.append({"type": "reasoning", "summary": [{"type": "summary_text", "text": reasoning}]})
    if m["content"] is not None and (m["content"] or not m.get("tool_calls")):
        items.append({"type": "message", "role": "assistant",
                      "content": [{"type": "output_text", "text": m["content"]}]})
    for call in m.get("tool_calls") or ():
        items.append({"type": "function_call", "call_id": call.get("id"), "name": call["function"]["name"],
                      "arguments": call["function"]["arguments"] or "{}"})
    return items


def responses(row: dict, plain: bool = False) -> dict:
    """A logged Responses API call: ``input`` items (the history), ``output`` items (the trailing
    assistant turns: reasoning, message, function calls). Reasoning travels as ``reasoning`` items
    (the source's own when it came from the Responses API, else a summary item holding the text)."""
    messages = [_openai_message(m) for m in row["messages"]]
    made = link_tool_calls(messages, row["id"])
    tail = len(messages)
    while tail > 0 and messages[tail - 1]["role"] == "assistant":
        tail -= 1
    if tail == 0:
        tail = len(messages) - 1
    items, owner = [], []
    for i, (m, src) in enumerate(zip(messages, row["messages"])):
        for item in _responses_items(m, _extra(src), _reasoning(src)):
            items.append(item)
            owner.append(i)
    split = next((k for k, i in enumerate(owner) if i >= tail), len(items))
    out: dict[str, Any] = {"input": items[:split], "output": items[split:]}
    tools = _json(row.get("tools"))
    if tools is not None:
        out["tools"] = responses_tools(tools)
    metadata = _json(row.get("metadata")) or {}
    if isinstance(metadata.get("parallel_tool_calls"), bool):
        out["parallel_tool_calls"] = metadata["parallel_tool_calls"]
    if not plain:
        lineage = _lineage(row)
        lineage["message_extra"] = {str(i): _extra(m) for i, m in enumerate(row["messages"]) if m.get("extra")}
        lineage["message_of_item"] = owner
        names = {str(i): m["name"] for i, m in enumerate(row["messages"]) if m.get("name") is not None}
        if names:
            lineage["names"] = names
        odd = {str(i): m["tool_calls"] for i, m in enumerate(row["messages"]) if m.get("tool_calls") is not None
               and (not m["tool_calls"] or any(c["function"]["arguments"] is None or c.get("type") != "function"
                                               for c in m["tool_calls"]))}
        if odd:  # an empty call list, a call without arguments or of another type: items cannot say so
            lineage["tool_calls"] = odd
        if made:
            lineage["generated"] = made
        if tools is not None and out["tools"] != tools:
            lineage["tools"] = row["tools"]
        out["sluice"] = lineage
    return out


# -- TRL ---------------------------------------------------------------------------------

def _trl_messages(messages: list[dict], row_id: str) -> list[dict]:
    out = [_openai_message(m) for m in messages]
    for m, src in zip(out, messages):
        reasoning = _reasoning(src)
        if reasoning is not None:
            m["reasoning_content"] = reasoning
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


def uncarried_reasoning(version: Version, fmt: str, plain: bool = False) -> int:
    """How many messages have reasoning that the ``fmt`` layout has no field for: ``openai`` (only
    the ``sluice`` object holds it) and ``sharegpt`` (a turn's ``reasoning`` key, which
    LLaMA-Factory does not read) — kept for the round trip, left out by ``plain``; 0 for the
    layouts that carry it (``jsonl``, ``responses``, ``trl``)."""
    if fmt not in ("openai", "sharegpt") or version.kind != "conversation":
        return 0
    flat = pc.list_flatten(version.read(columns=["messages"]).column("messages"))
    if len(flat) == 0:
        return 0
    return int(pc.sum(pc.is_valid(pc.struct_field(flat, "reasoning"))).as_py() or 0)


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
    if not files or "split" not in fs.read_schema(files[0]).names:
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
    if fmt in ("openai", "sharegpt", "responses") and (part != "data" or kind != "conversation"):
        raise SluiceError(f"the {fmt} layout holds conversations; {version.ref} {part} is {kind}",
                          hint="use --format jsonl (or trl for preference and kto data) for other rows")
    if fmt == "trl" and part != "data":
        raise SluiceError(f"the trl layout holds training rows, not {part} rows", hint="use --format jsonl")
    convert = {"jsonl": native, "openai": lambda r: openai(r, plain), "sharegpt": lambda r: sharegpt(r, plain),
               "responses": lambda r: responses(r, plain), "trl": lambda r: trl(r, kind)}[fmt]
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


def certify_export(version: Version, store, *, part: str = "data", override: bool = False) -> dict[str, Any]:
    """The privacy gate of an export (module doc): the certificate record, or ``NotRedacted``. The
    quarantine part holds raw input lines: it is never certified."""
    from sluice.privacy import require_certified

    action = f"export {version.ref} ({part})"
    if part == "quarantine":
        return require_certified(None, store, action=action, override=override,
                                 what=f"the quarantine of {version.ref} (raw input lines)")
    return require_certified(version, store, action=action, override=override)


def export(version: Version, fmt: str, out: str | Path, part: str = "data", plain: bool = False,
           force: bool = False, splits: tuple[str, ...] | list[str] | None = None) -> int:
    """Write the version's rows to ``out`` (.gz / .zst compress); returns the row count.

    ``out`` of ``-`` streams to standard output. A regular file is written to a temporary file
    in its folder and renamed into place, so readers never see half an export. An existing
    directory is refused; a symlink, device, FIFO or socket is refused unless ``force``: then a
    symlink is written through (the link stays, its target is replaced) and a special file is
    written into directly.
    """
    if str(out) == "-":
        return _write(sys.stdout.buffer, version, fmt, part, plain, splits)
    target = Path(out)
    if target.is_symlink():
        if not force:
            raise SluiceError(f"{target} is a symbolic link; nothing was written",
                              hint="pass --force to write through it (the link is kept, its target replaced), "
                                   "or choose another --out")
        target = Path(os.path.realpath(target))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:  # a looping symlink, a folder we may not enter
        raise SluiceError(f"cannot write {out}: {e.strerror or e}", hint="choose another --out") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise SluiceError(f"{out} is a directory; nothing was written", hint="name a file inside it with --out")
    if mode is not None and not stat.S_ISREG(mode):
        what = _special(mode)
        if not force:
            raise SluiceError(f"{out} is {what}, not a regular file; nothing was written",
                              hint="pass --force to write into it as it is, or choose another --out")
        try:
            with _open(open(target, "wb"), str(out)) as f:  # written into, never replaced
                return _write(f, version, fmt, part, plain, splits)
        except OSError as e:
            raise SluiceError(f"cannot write {out}: {e.strerror or e}; what was written is incomplete",
                              hint="choose another --out") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    tmp = Path(name)
    try:
        os.chmod(fd, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        with _open(os.fdopen(fd, "wb"), target.name) as f:
            n = _write(f, version, fmt, part, plain, splits)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed export (a full disk) leaves nothing behind
        raise
    tmp.replace(target)  # readers never see a half-written export
    return n


def _write(f, version: Version, fmt: str, part: str, plain: bool, splits=None) -> int:
    n = 0
    for line in rows(version, fmt, part, plain, splits):
        f.write(line + b"\n")
        n += 1
    f.flush()
    return n


def _special(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def _open(raw, name: str):
    """``raw`` (a binary file, closed after) wrapped in the compressor ``name``'s ending asks for."""
    with raw:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, filename="") as f:
                yield f
        elif name.endswith((".zst", ".zstd")):
            import zstandard

            with zstandard.ZstdCompressor().stream_writer(raw, closefd=False) as f:
                yield f
        else:
            yield raw
