"""Every text of a conversation that can hold PII, with a stable key, and the way back.

Keys (and the field group each belongs to, the unit of an explicit opt-out, ``skip_fields``):

=============================  ================  ==============================================
key                            group             what
=============================  ================  ==============================================
``m3.content``                 ``content``       a message's text (system, user, assistant)
``m3.content/<json path>``     ``tool_results``  a tool message's JSON result, leaf by leaf
``m3.name``                    ``name``          the participant's name (not a tool's function)
``m3.tc0.args/<json path>``    ``tool_calls``    tool-call arguments, leaf by leaf
``m3.extra/<json path>``       ``extra``         source keys kept on a message
``tools/<json path>``          ``tools``         tool definitions: free-text descriptions only (tools.py)
``fb.edited``, ``fb.comment``  ``feedback``      the user's edited answer and comment
``meta/<key>/<json path>``     ``metadata``      every string in ``metadata``, recursively (keys kept)
=============================  ================  ==============================================

A metadata key can be skipped alone (``metadata/<key>``). JSON string leaves, and integers of
6+ digits, are analyzed one by one so the JSON stays valid. ``texts()`` and ``rebuild()`` walk
in the same order, so a key found by ``pii_detect`` names the same text in ``redact_pii``.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Literal

import xxhash

from . import tools as tool_structure

GROUPS = ("content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback", "metadata")
Group = Literal["content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback", "metadata"]
TEXT_COLUMNS = ("messages", "tools", "feedback", "metadata")


def _leaves(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}/{i}")
    elif isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) >= 100_000:
        yield path, str(obj)


def _json_texts(raw: str | None, key: str) -> Iterator[tuple[str, str]]:
    if not raw:
        return
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if isinstance(obj, (dict, list)):
        for path, text in _leaves(obj, ""):
            yield f"{key}{path or '/'}", text
    else:
        yield key, raw


def group_of(key: str) -> str:
    if key == "meta" or key.startswith("meta/"):
        return "metadata"
    if key.startswith("fb."):
        return "feedback"
    if key.startswith("tools/") or key == "tools":
        return "tools"
    part = key.split(".", 1)[1]
    if part.startswith("content/"):
        return "tool_results"
    return {"content": "content", "name": "name"}.get(part.split("/")[0].split(".")[0],
                                                      "tool_calls" if part.startswith("tc") else "extra")


def skipped(key: str, skip: tuple[str, ...]) -> bool:
    """True when an opt-out covers this key: its group, or ``metadata/<top-level key>``."""
    if not skip:
        return False
    if group_of(key) in skip:
        return True
    return key.startswith("meta/") and f"metadata/{key[5:].split('/')[0]}" in skip


def texts(row: dict, skip: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(key, role, text) for every non-empty text of the row, minus the opted-out fields."""
    out: list[tuple[str, str, str]] = []
    for i, m in enumerate(row.get("messages") or ()):
        role = m.get("role") or "unknown"
        if m.get("content"):
            if role == "tool":
                out += [(k, role, t) for k, t in _json_texts(m["content"], f"m{i}.content")]
            else:
                out.append((f"m{i}.content", role, m["content"]))
        if m.get("name") and role != "tool":
            out.append((f"m{i}.name", role, m["name"]))
        for j, call in enumerate(m.get("tool_calls") or ()):
            args = ((call or {}).get("function") or {}).get("arguments")
            out += [(k, role, t) for k, t in _json_texts(args, f"m{i}.tc{j}.args")]
        out += [(k, role, t) for k, t in _json_texts(m.get("extra"), f"m{i}.extra")]
    out += [(k, "tools", t) for k, t in _json_texts(row.get("tools"), "tools")]
    fb = row.get("feedback") or {}
    for name in ("edited", "comment"):
        if fb.get(name):
            out.append((f"fb.{name}", "feedback", fb[name]))
    out += [(k, "metadata", t) for k, t in _json_texts(row.get("metadata"), "meta")]
    out = tool_structure.schema_free(row, out)  # tool schemas and schema-constrained arguments are not text
    return [t for t in out if t[2] and not skipped(t[0], skip)]


def is_participant_name(key: str) -> bool:
    return key.endswith(".name")


def digest(row: dict) -> str:
    """Fingerprint of the row's texts, to prove redact_pii sees what pii_detect analyzed."""
    h = xxhash.xxh3_64()
    for m in row.get("messages") or ():
        for part in (m.get("role"), m.get("content"), m.get("name"), m.get("extra"),
                     *[((c or {}).get("function") or {}).get("arguments") for c in m.get("tool_calls") or ()]):
            h.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    fb = row.get("feedback") or {}
    for part in (fb.get("edited"), fb.get("comment"), row.get("metadata"), row.get("tools")):
        h.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()


def _set(obj: Any, parts: list[str], value: str) -> Any:
    if not parts:
        return value if isinstance(obj, str) else (obj if value == str(obj) else value)
    head, rest = parts[0], parts[1:]
    if isinstance(obj, list):
        obj[int(head)] = _set(obj[int(head)], rest, value)
    else:
        obj[head] = _set(obj[head], rest, value)
    return obj


def _rewrite_json(raw: str | None, key: str, new: dict[str, str]) -> str | None:
    mine = {k: v for k, v in new.items() if k == key or k.startswith(key + "/")}
    if not mine or raw is None:
        return raw
    if key in mine:
        return mine[key]
    obj = json.loads(raw)
    for k, v in mine.items():
        path = k[len(key) + 1:]
        obj = _set(obj, [p for p in path.split("/") if p != ""] if path else [], v)
    return json.dumps(obj, ensure_ascii=False)


def rebuild(row: dict, new: dict[str, str]) -> tuple[list, str | None, dict | None, str | None]:
    """(messages, tools, feedback, metadata) of the row with the texts in ``new`` (key → text) replaced."""
    messages = []
    for i, m in enumerate(row.get("messages") or ()):
        m = dict(m)
        if f"m{i}.name" in new:
            m["name"] = new[f"m{i}.name"]
        if m.get("content"):
            m["content"] = _rewrite_json(m["content"], f"m{i}.content", new)
        if m.get("tool_calls"):
            calls = []
            for j, call in enumerate(m["tool_calls"]):
                call = dict(call)
                fn = dict(call.get("function") or {})
                if fn.get("arguments"):
                    fn["arguments"] = _rewrite_json(fn["arguments"], f"m{i}.tc{j}.args", new)
                call["function"] = fn
                calls.append(call)
            m["tool_calls"] = calls
        if m.get("extra"):
            m["extra"] = _rewrite_json(m["extra"], f"m{i}.extra", new)
        messages.append(m)
    fb = row.get("feedback")
    if fb is not None:
        fb = {**fb, **{k[3:]: v for k, v in new.items() if k.startswith("fb.")}}
    return messages, _rewrite_json(row.get("tools"), "tools", new), fb, _rewrite_json(row.get("metadata"), "meta", new)
