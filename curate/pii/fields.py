"""Every text of a conversation that can hold PII, with a stable key, and the way back.

Keys: ``m3.content``, ``m3.name`` (the participant's name on a system, user or assistant
message; a tool message's name is its function's), ``m3.extra/<json path>``, ``m3.tc0.args/<json path>`` (tool-call arguments;
JSON string leaves, and integers of 6+ digits, are analyzed one by one so the JSON stays valid),
``fb.edited``, ``fb.comment``, ``meta/<key>/<json path>`` (metadata keys named in config).
``texts()`` and ``rebuild()`` walk in the same order, so a key found by ``pii_detect`` names the
same text in ``redact_pii``.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import xxhash


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


def texts(row: dict, metadata_fields: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(key, role, text) for every non-empty text of the row."""
    out: list[tuple[str, str, str]] = []
    for i, m in enumerate(row.get("messages") or ()):
        role = m.get("role") or "unknown"
        if m.get("content"):
            out.append((f"m{i}.content", role, m["content"]))
        if m.get("name") and role != "tool":
            out.append((f"m{i}.name", role, m["name"]))
        for j, call in enumerate(m.get("tool_calls") or ()):
            args = ((call or {}).get("function") or {}).get("arguments")
            out += [(k, role, t) for k, t in _json_texts(args, f"m{i}.tc{j}.args")]
        out += [(k, role, t) for k, t in _json_texts(m.get("extra"), f"m{i}.extra")]
    fb = row.get("feedback") or {}
    for name in ("edited", "comment"):
        if fb.get(name):
            out.append((f"fb.{name}", "feedback", fb[name]))
    if metadata_fields and row.get("metadata"):
        try:
            meta = json.loads(row["metadata"])
        except ValueError:
            meta = None
        if isinstance(meta, dict):
            for name in metadata_fields:
                if name in meta:
                    out += [(f"meta/{name}{p}", "metadata", t) for p, t in _leaves(meta[name], "")]
    return [t for t in out if t[2]]


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
    for part in (fb.get("edited"), fb.get("comment"), row.get("metadata")):
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


def _rewrite_json(raw: str, key: str, new: dict[str, str]) -> str:
    mine = {k: v for k, v in new.items() if k == key or k.startswith(key + "/")}
    if not mine:
        return raw
    if key in mine:
        return mine[key]
    obj = json.loads(raw)
    for k, v in mine.items():
        path = k[len(key) + 1:]
        obj = _set(obj, [p for p in path.split("/") if p != ""] if path else [], v)
    return json.dumps(obj, ensure_ascii=False)


def rebuild(row: dict, new: dict[str, str]) -> tuple[list, dict | None, str | None]:
    """(messages, feedback, metadata) of the row with the texts in ``new`` (key → text) replaced."""
    messages = []
    for i, m in enumerate(row.get("messages") or ()):
        m = dict(m)
        for part in ("content", "name"):
            if f"m{i}.{part}" in new:
                m[part] = new[f"m{i}.{part}"]
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
    meta = row.get("metadata")
    if meta and any(k.startswith("meta/") for k in new):
        obj = json.loads(meta)
        for k, v in new.items():
            if k.startswith("meta/"):
                obj = _set(obj, [p for p in k[5:].split("/") if p != ""], v)
        meta = json.dumps(obj, ensure_ascii=False)
    return messages, fb, meta
