"""Writing redacted texts back into a JSON document by position (the way back of ``fields``).

A text's key is ``<field>/<position>/…`` (positions, not names, so a redacted key still finds its
place); a key's own text ends in ``KEY``. ``rewrite_json`` puts every new text of one field back,
keeps every other value as it was (a number stays a number, or its key goes), and renames keys
last, deepest first, so positions hold while it works. ``fields`` and ``tools`` both use it.
"""

from __future__ import annotations

import json
from typing import Any

KEY = "~k"  # suffix of a key's own text


_DROP = object()


def _key_at(obj: dict, segment: str) -> str:
    return list(obj)[int(segment[1:])]


def _set(obj: Any, parts: list[str], value: str, number) -> Any:
    if not parts:
        if isinstance(obj, str):
            return value
        if value == str(obj):
            return obj
        typed = number(obj) if number else None  # a number stays a number, or the key goes
        return _DROP if typed is None else typed
    head, rest = parts[0], parts[1:]
    if isinstance(obj, list):
        got = _set(obj[int(head)], rest, value, number)
        obj[int(head)] = None if got is _DROP else got
    else:
        name = _key_at(obj, head)
        got = _set(obj[name], rest, value, number)
        if got is _DROP:
            obj[name] = _DROP  # removed after every edit, so positions hold meanwhile
        else:
            obj[name] = got
    return obj


def _rename(obj: Any, parts: list[str], new_key: str) -> None:
    for p in parts[:-1]:
        obj = obj[int(p)] if isinstance(obj, list) else obj[_key_at(obj, p)]
    old = _key_at(obj, parts[-1])
    if new_key == old:
        return
    if new_key in obj:
        raise ValueError("a redacted key collides with another key")  # fail closed: the row is quarantined
    items = [(new_key if k == old else k, v) for k, v in obj.items()]
    obj.clear()
    obj.update(items)


def _purge(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _purge(v) for k, v in obj.items() if v is not _DROP}
    if isinstance(obj, list):
        return [_purge(v) for v in obj]
    return obj


def rewrite_json(raw: str | None, key: str, new: dict[str, str], number=None) -> str | None:
    mine = {k: v for k, v in new.items() if k == key or k.startswith(key + "/")}
    if not mine or raw is None:
        return raw
    if key in mine:
        return mine[key]
    obj = json.loads(raw)
    keys = []
    for k, v in mine.items():
        path = k[len(key) + 1:]
        if path.endswith(KEY):
            keys.append(([p for p in path[:-len(KEY)].split("/") if p != ""], v))
        else:
            obj = _set(obj, [p for p in path.split("/") if p != ""] if path else [], v, number)
    for parts, v in sorted(keys, key=lambda kv: -len(kv[0])):  # positions hold: renames keep the order
        _rename(obj, parts, v)
    return json.dumps(_purge(obj), ensure_ascii=False)
