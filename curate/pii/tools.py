"""Structure-aware redaction of tools: schemas are not prose, and a call must stay a valid call.

``fields.texts()`` lists every string leaf of a row; for the tool parts this module decides:

* **Tool definitions** (``tools/<path>``): only the free-text ``description`` keywords (and the
  sample values of ``default`` / ``examples``) are scanned. Names, types, ``required``, ``enum`` /
  ``const`` values, ``format``, ``pattern`` and property keys are schema, never rewritten. A
  property *named* "description" is a schema like any other: only the keyword is prose.
* **Call arguments** (``m<i>.tc<j>.args/<path>``), resolved against the called tool's JSON
  Schema: a leaf whose position is constrained — an ``enum`` or ``const``, a boolean, number or
  integer — is never scanned, so never replaced. A ``format``-typed string (email, date, uri,
  uuid, ipv4, …) or one with a ``pattern`` is scanned, and a value found there gets a surrogate
  that is valid for that format (``conform``): an e-mail field gets an e-mail, not a placeholder.
  Free-text strings (and arguments of an unknown tool) are scanned and redacted as usual.
* **Tool results** (``m<i>.content/<path>`` of tool messages) are free text.

``conform(row, new)`` runs after the replacements are chosen: it swaps placeholders in
format-typed positions for typed surrogates, uses the same surrogate wherever that placeholder
stands in the row (so the call and its result stay consistent), and checks that every call
whose arguments validated before redaction still validates; if one does not, it raises and the
row is quarantined (``pii_redact_failed``) — privacy fails closed, never a broken call.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import date, timedelta
from typing import Any

from sluice.curate.stages.trace_check import check_arguments, tool_schemas

from .jsonrewrite import KEY, rewrite_json

# Keywords whose children are named schemas (property names), not keywords.
_NAMED = frozenset(("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"))
# Schema keywords whose string values are prose or sample values (may hold PII), not structure.
_FREE_TEXT = frozenset(("description", "default", "examples", "example"))
_ARGS = re.compile(r"^m(\d+)\.tc(\d+)\.args(/.*)?$")


def named_parts(obj: Any, path: str | None) -> tuple[list[str] | None, bool]:
    """``fields``' positional JSON path (``/#2/0``: an object's third key, a list's first item;
    ``…~k``: the key's own text) as key names (``/email/0``), and whether it names a key.
    None when the path does not fit the object."""
    if not path:
        return [], False
    is_key = path.endswith(KEY)
    if is_key:
        path = path[:-len(KEY)]
    out: list[str] = []
    node = obj
    for part in (p for p in path.split("/") if p != ""):
        if isinstance(node, dict) and part.startswith("#") and part[1:].isdigit():
            keys = list(node)
            if int(part[1:]) >= len(keys):
                return None, is_key
            out.append(str(keys[int(part[1:])]))
            node = node[keys[int(part[1:])]]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            out.append(part)
            node = node[int(part)]
        else:
            return None, is_key
    return out, is_key
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")


def _string_leaves(obj: Any, path: str, out: set[str]) -> None:
    if isinstance(obj, str):
        out.add(path)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _string_leaves(v, f"{path}/{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _string_leaves(v, f"{path}/{i}", out)


def _description_paths(obj: Any, path: str, named: bool, out: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}/{k}"
            if named:
                _description_paths(v, p, False, out)
            elif k in _FREE_TEXT:
                _string_leaves(v, p, out)
            else:
                _description_paths(v, p, k in _NAMED, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _description_paths(v, f"{path}/{i}", False, out)


def free_text_tool_paths(tools_json: str | None) -> set[str]:
    """The ``tools/<path>`` keys of free-text descriptions (the only tool-definition text scanned)."""
    if not tools_json:
        return set()
    try:
        tools = json.loads(tools_json)
    except ValueError:
        return set()
    out: set[str] = set()
    _description_paths(tools, "tools", False, out)
    return out


def _deref(schema: Any, root: Any) -> Any:
    for _ in range(8):
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
            node = root
            for part in schema["$ref"][2:].split("/"):
                node = node.get(part) if isinstance(node, dict) else None
            schema = node
        else:
            break
    return schema


def subschema(schema: Any, parts: list[str]) -> Any:
    """The schema at a JSON path of the arguments, or None when it cannot be told."""
    root, node = schema, _deref(schema, schema)
    for part in parts:
        if not isinstance(node, dict):
            return None
        for combo in ("allOf", "anyOf", "oneOf"):  # first alternative that knows the key
            if combo in node and not ("properties" in node or "items" in node):
                node = next((_deref(alt, root) for alt in node[combo] if isinstance(alt, dict)
                             and (part in (_deref(alt, root).get("properties") or {}) or "items" in _deref(alt, root))),
                            None)
                if node is None:
                    return None
        if part.isdigit() and ("items" in node or "prefixItems" in node):
            prefix = node.get("prefixItems") or []
            node = prefix[int(part)] if int(part) < len(prefix) else node.get("items")
        elif part in (node.get("properties") or {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
        node = _deref(node, root)
    return node


def _types(s: dict) -> set[str]:
    t = s.get("type")
    return set(t) if isinstance(t, list) else {t} if isinstance(t, str) else set()


def constrained(s: Any) -> bool:
    """A position no placeholder may take: an enum/const, or a non-string scalar type."""
    if not isinstance(s, dict):
        return False
    if "enum" in s or "const" in s:
        return True
    types = _types(s)
    return bool(types) and "string" not in types and types <= {"boolean", "number", "integer", "null"}


def typed(s: Any) -> bool:
    """A string position whose value must keep a shape: ``format`` or ``pattern``."""
    return isinstance(s, dict) and ("format" in s or "pattern" in s)


_KEY_SCHEMA: dict = {}  # schema_at's answer for an argument's key: the tool's schema names it


def _loads(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class _Calls:
    """Per row: each call's tool schema, looked up once."""

    def __init__(self, row: dict):
        self.schemas = tool_schemas(row.get("tools"))
        self.messages = row.get("messages") or ()

    def schema_at(self, key: str) -> tuple[bool, Any]:
        """(known, subschema) for an argument key; known is False for unknown tools / non-JSON args."""
        m = _ARGS.match(key)
        if not m:
            return False, None
        i, j, path = int(m.group(1)), int(m.group(2)), m.group(3)
        try:
            name = self.messages[i]["tool_calls"][j]["function"]["name"]
        except (IndexError, KeyError, TypeError):
            return False, None
        if name not in self.schemas or path is None:
            return False, None
        args = _loads(self.messages[i]["tool_calls"][j]["function"].get("arguments"))
        parts, is_key = named_parts(args, path)
        if parts is None:
            return False, None
        if is_key:
            return True, _KEY_SCHEMA
        return True, subschema(self.schemas[name], parts)


def schema_free(row: dict, items: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``items`` (key, role, text) less what is schema: tool-definition leaves other than
    descriptions, and argument leaves at constrained positions (see module doc)."""
    has_tools = any(k.startswith("tools/") or k == "tools" for k, _, _ in items)
    has_args = any(".tc" in k for k, _, _ in items)
    if not (has_tools or has_args):
        return items
    free = free_text_tool_paths(row.get("tools")) if has_tools else set()
    tools = _loads(row.get("tools")) if has_tools else None
    calls = _Calls(row) if has_args else None
    out = []
    for item in items:
        key = item[0]
        if key.startswith("tools/") or key == "tools":
            parts, is_key = named_parts(tools, key[len("tools"):])
            if parts is not None and not is_key and "/".join(["tools", *parts]) in free:
                out.append(item)  # keys of a tool definition are schema: never text
        elif calls is not None and _ARGS.match(key):
            known, s = calls.schema_at(key)
            if not (known and (s is _KEY_SCHEMA or constrained(s))):
                out.append(item)
        else:
            out.append(item)
    return out


def _h(value: str) -> int:
    return int(hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12], 16)


def _shape(value: str, h: int) -> str:
    """Same length and character classes (digits, letters, case), new characters."""
    out, n = [], h
    for ch in value:
        n = (n * 1103515245 + 12345) & 0x7FFFFFFF
        if ch.isdigit():
            out.append(str(n % 10))
        elif ch.isalpha() and ch.isascii():
            c = chr(ord("a") + n % 26)
            out.append(c.upper() if ch.isupper() else c)
        else:
            out.append(ch)
    return "".join(out)


def typed_surrogate(s: dict, original: str) -> str:
    """A value valid for the position's ``format`` (or ``pattern``), derived from the original
    (the same original always gets the same surrogate within and across rows)."""
    h = _h(original)
    fmt = s.get("format")
    day = date(1970, 1, 1) + timedelta(days=h % 20000)
    value = {
        "email": f"user{h % 10**6:06d}@example.com", "idn-email": f"user{h % 10**6:06d}@example.com",
        "date": day.isoformat(), "date-time": f"{day.isoformat()}T12:00:00Z", "time": "12:00:00Z",
        "uri": f"https://example.com/{h % 10**8:08d}", "url": f"https://example.com/{h % 10**8:08d}",
        "iri": f"https://example.com/{h % 10**8:08d}", "uri-reference": f"/{h % 10**8:08d}",
        "hostname": f"host{h % 10**6:06d}.example.com", "idn-hostname": f"host{h % 10**6:06d}.example.com",
        "ipv4": f"192.0.2.{h % 254 + 1}", "ipv6": f"2001:db8::{h % 0xFFFF:x}",
        "uuid": str(uuid.UUID(int=h << 64 | h)), "phone": f"+1-555-01{h % 100:02d}",
    }.get(fmt) if isinstance(fmt, str) else None
    if value is None:
        value = _shape(original, h)
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        try:
            if not re.search(pattern, value):
                value = _shape(original, h)
        except re.error:
            pass
    return value


def conform(row: dict, new: dict[str, str], texts: dict[str, str]) -> None:
    """Typed surrogates at format-typed argument positions, the same surrogate wherever its
    placeholder stands in the row, and every call that validated before still valid (else raise).
    ``texts``: key → original text; ``new``: key → redacted text (updated in place)."""
    arg_keys = [k for k in new if _ARGS.match(k)]
    if not arg_keys:
        return
    calls = _Calls(row)
    swaps: dict[str, str] = {}
    for key in arg_keys:
        known, s = calls.schema_at(key)
        if known and s is not _KEY_SCHEMA and typed(s) and new[key] != texts[key]:
            surrogate = typed_surrogate(s, texts[key])
            for placeholder in _PLACEHOLDER.findall(new[key]):
                swaps.setdefault(placeholder, surrogate)
            new[key] = surrogate
    if swaps:
        rx = re.compile("|".join(re.escape(p) for p in swaps))
        for key, text in list(new.items()):
            new[key] = rx.sub(lambda m: swaps[m.group()], text)
    _still_valid(row, new)


def _still_valid(row: dict, new: dict[str, str]) -> None:

    schemas = tool_schemas(row.get("tools"))
    for i, m in enumerate(row.get("messages") or ()):
        for j, call in enumerate(m.get("tool_calls") or ()):
            fn = (call or {}).get("function") or {}
            name, args = fn.get("name"), fn.get("arguments")
            key = f"m{i}.tc{j}.args"
            if name not in schemas or not any(k == key or k.startswith(key + "/") for k in new):
                continue
            if check_arguments(schemas[name], args) is None:
                after = rewrite_json(args, key, new)
                if check_arguments(schemas[name], after) is not None:
                    raise ValueError("redaction would make a valid tool call invalid")
