"""Every text of a conversation that can hold PII, with a stable key, and the way back.

Keys (and the field group each belongs to, the unit of an explicit opt-out, ``skip_fields``):

=============================  ================  ==============================================
key                            group             what
=============================  ================  ==============================================
``m3.content``                 ``content``       a message's text (system, user, assistant)
``m3.reasoning``               ``content``       a message's reasoning (its own field, schema v2)
``m3.content/<json path>``     ``tool_results``  a tool message's JSON result, leaf by leaf
``m3.name``                    ``name``          the participant's name (not a tool's function)
``m3.tc0.args/<json path>``    ``tool_calls``    tool-call arguments, leaf by leaf
``m3.extra/<json path>``       ``extra``         source keys kept on a message
``tools/<json path>``          ``tools``         tool definitions: free-text descriptions only (tools.py)
``fb.edited``, ``fb.comment``  ``feedback``      the user's edited answer and comment
``meta/<json path>``           ``metadata``      every string in ``metadata``, recursively
``src.source``, ``src.id``     ``source``        the input's name (a file name) and the source's own id
=============================  ================  ==============================================

JSON is walked leaf by leaf so it stays valid, and **keys are texts too**. Paths are positional
and never hold key text (a key can be an e-mail address, and a path is written into findings and
reports): ``#2`` is an object's third key, ``3`` a list's fourth item, and ``<path>~k`` is the key
that ends ``<path>`` (``meta/#1/#0~k``). A replaced key is renamed in place; a value never changes
type: strings and integers of 6+ digits are analyzed (keys too, except code identifiers —
lower-case words, ``snake_case``, ``kebab-case``, ``camelCase``), and an integer found to be PII
becomes an integer surrogate of the same length, or its key is dropped (``numbers`` policy of
``redact_pii``). Floats, booleans and nulls carry no text.

Operational fields in ``metadata``, message extras and ``source_id`` are recognised by key *and*
shape and not analyzed (``operational()``): model names (``gpt-4.1-mini``), cloud regions
(``eu-central-1``), timestamps, numbers under counting/latency keys (``created``, ``*_tokens``,
``latency_ms``), and opaque generated ids (``chatcmpl-…``, ``req_…``, UUIDs, hex). The same key
with a value of another shape (an e-mail in ``region``) is analyzed.

Tool-call arguments and tool definitions go through one call point, ``tool_field_texts`` /
``rebuild_tool_fields``, where structure-aware handling of tool schemas plugs in.

A metadata key can be skipped alone (``metadata/<key>``). ``texts()`` and ``rebuild()`` walk in
the same order, so a key found by ``pii_detect`` names the same text in ``redact_pii``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Iterator, Literal

import xxhash

from . import tools as tool_structure
from .jsonrewrite import KEY, rewrite_json

GROUPS = ("content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback", "metadata", "source")
Group = Literal["content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback", "metadata", "source"]
TEXT_COLUMNS = ("messages", "tools", "feedback", "metadata", "source", "source_id")
MIN_DIGITS = 6  # integers this long can be phone, card or account numbers: analyzed

# -- operational fields ---------------------------------------------------------------------------

_NUMBER_KEYS = re.compile(r"^(created|updated|timestamp|time|ts|latency|duration|elapsed|index|n|seed|status|"
                          r"status_code|code|max_tokens|temperature|top_p|top_k|count|size|bytes|attempt|retries|"
                          r"version|.*_(ms|s|sec|seconds|tokens|count|at|ts|time|size|bytes|index)|.*tokens)$")
_STRING_KEYS = re.compile(r"^(model|model_name|engine|region|zone|object|finish_reason|stop_reason|"
                          r"system_fingerprint|service_tier|status|environment|env|stage|app|version|api_version|"
                          r"provider|endpoint_type|type|role|created|created_at|updated_at|timestamp|time|date|"
                          r"language|lang|locale|.*_(model|region|at|time|version|status|type))$")
_ID_KEYS = re.compile(r"^(id|ids|uuid|.*[_-]id|.*[_-]ids|.*Id|.*ID|request|trace|span|fingerprint|hash|etag)$")
_SHAPES = (
    re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}[a-z]?$"),  # cloud regions: eu-central-1, us-gov-west-1
    re.compile(r"^[a-z]+-[a-z]+\d(?:-[a-z])?$"),  # GCP/Azure-style regions: europe-west4, eastus2
    re.compile(r"^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?$"),  # ISO dates
    # identifiers with a digit or separator, or all lower case: gpt-4.1-mini, chat.completion, stop (not "Maria")
    re.compile(r"^(?=.*[\d\-._:/]|[a-z0-9_]+$)[A-Za-z][\w.:/+-]{0,79}$"),
)
# keys written by code, not people: lower-case words, snake_case, kebab-case, camelCase (NER calls
# ``metadata`` a person and ``callback_phone`` an organisation); any other key — an e-mail, a
# capitalised name, a phone number — is analyzed
_CODE_KEY = re.compile(r"^(?:[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*|[a-z]+(?:[A-Z][a-z0-9]+)+|_[a-z0-9_]+)$")
_OPAQUE = re.compile(r"^(?:[A-Za-z]{1,16}[_-]){0,2}(?:(?=[0-9]*[a-fA-F])[0-9a-fA-F]{8,80}|"  # hex: u_859662827e2b
                     r"(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{16,80})$|"  # base62
                     r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")  # UUID


def operational(key: str, value: Any) -> bool:
    """True for a well-known operational field (module doc): its key names it *and* its value has the
    shape of one. ``key`` is the object key the value sits under (a list item: the list's key)."""
    key = (key or "").lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return bool(_NUMBER_KEYS.match(key))
    if not isinstance(value, str) or not value or "@" in value or " " in value:
        return False
    if _ID_KEYS.match(key) or key.endswith("id"):
        return bool(_OPAQUE.match(value))
    if _STRING_KEYS.match(key):
        return any(s.match(value) for s in _SHAPES)
    return False


def opaque_id(value: str) -> bool:
    """A generated id (random letters and digits, a UUID): no personal data in its shape."""
    return bool(_OPAQUE.match(value or ""))


# -- JSON leaves and keys -------------------------------------------------------------------------

def _leaves(obj: Any, path: str, ops: bool, name: str = "", skip_top: frozenset = frozenset()
            ) -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for i, (k, v) in enumerate(obj.items()):
            if not path and k in skip_top:
                continue
            sub = f"{path}/#{i}"
            if k and not _CODE_KEY.match(str(k)):
                yield sub + KEY, str(k)
            if not (ops and operational(str(k), v)):
                yield from _leaves(v, sub, ops, str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if not (ops and operational(name, v)):
                yield from _leaves(v, f"{path}/{i}", ops, name)
    elif isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) >= 10 ** (MIN_DIGITS - 1):
        yield path, str(obj)


def _json_texts(raw: str | None, key: str, ops: bool = False, skip_top: frozenset = frozenset()
                ) -> Iterator[tuple[str, str]]:
    """(key, text) of every string leaf, integer of MIN_DIGITS+ digits and object key; ``ops``
    leaves out operational fields, ``skip_top`` top-level keys (opted out, with their values)."""
    if not raw:
        return
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    if isinstance(obj, (dict, list)):
        for path, text in _leaves(obj, "", ops, skip_top=skip_top):
            yield f"{key}{path or '/'}", text
    else:
        yield key, raw


def group_of(key: str) -> str:
    if key == "meta" or key.startswith("meta/"):
        return "metadata"
    if key.startswith("src."):
        return "source"
    if key.startswith("fb."):
        return "feedback"
    if key.startswith("tools/") or key == "tools":
        return "tools"
    part = key.split(".", 1)[1]
    if part.startswith("content/"):
        return "tool_results"
    return {"content": "content", "reasoning": "content", "name": "name"}.get(part.split("/")[0].split(".")[0],
                                                      "tool_calls" if part.startswith("tc") else "extra")


def skipped(key: str, skip: tuple[str, ...]) -> bool:
    """True when an opt-out covers this key's group (``metadata/<key>`` opt-outs: ``texts``)."""
    return bool(skip) and group_of(key) in skip


def skipped_metadata_keys(skip: tuple[str, ...]) -> frozenset:
    return frozenset(s[len("metadata/"):] for s in skip if s.startswith("metadata/"))


# -- the call point for tool calls and tool definitions -------------------------------------------

def tool_field_texts(row: dict) -> list[tuple[str, str, str]]:
    """(key, role, text) of tool-call arguments and tool definitions: the call point where
    structure-aware handling of tool schemas and arguments plugs in."""
    out: list[tuple[str, str, str]] = []
    for i, m in enumerate(row.get("messages") or ()):
        role = m.get("role") or "unknown"
        for j, call in enumerate(m.get("tool_calls") or ()):
            args = ((call or {}).get("function") or {}).get("arguments")
            out += [(k, role, t) for k, t in _json_texts(args, f"m{i}.tc{j}.args")]
    out += [(k, "tools", t) for k, t in _json_texts(row.get("tools"), "tools")]
    return out


def rebuild_tool_fields(row: dict, new: dict[str, str], number=None) -> tuple[list[list | None], str | None]:
    """(tool_calls per message, tools) of the row with the texts in ``new`` replaced (the inverse of
    ``tool_field_texts``)."""
    calls_out: list[list | None] = []
    for i, m in enumerate(row.get("messages") or ()):
        if not m.get("tool_calls"):
            calls_out.append(m.get("tool_calls"))
            continue
        calls = []
        for j, call in enumerate(m["tool_calls"]):
            call = dict(call)
            fn = dict(call.get("function") or {})
            if fn.get("arguments"):
                fn["arguments"] = rewrite_json(fn["arguments"], f"m{i}.tc{j}.args", new, number)
            call["function"] = fn
            calls.append(call)
        calls_out.append(calls)
    return calls_out, rewrite_json(row.get("tools"), "tools", new, number)


# -- every text of a row --------------------------------------------------------------------------

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
        if m.get("reasoning"):
            out.append((f"m{i}.reasoning", role, m["reasoning"]))
        if m.get("name") and role != "tool":
            out.append((f"m{i}.name", role, m["name"]))
        out += [(k, role, t) for k, t in _json_texts(m.get("extra"), f"m{i}.extra", ops=True)]
    out += tool_field_texts(row)
    fb = row.get("feedback") or {}
    for name in ("edited", "comment"):
        if fb.get(name):
            out.append((f"fb.{name}", "feedback", fb[name]))
    out += [(k, "metadata", t) for k, t in _json_texts(row.get("metadata"), "meta", ops=True,
                                                       skip_top=skipped_metadata_keys(skip))]
    if row.get("source"):
        out.append(("src.source", "source", row["source"]))
    if row.get("source_id") and not opaque_id(row["source_id"]):
        out.append(("src.id", "source", row["source_id"]))
    out = tool_structure.schema_free(row, out)  # tool schemas and schema-constrained arguments are not text
    return [t for t in out if t[2] and not skipped(t[0], skip)]


def is_participant_name(key: str) -> bool:
    return key.endswith(".name")


def digest(row: dict) -> str:
    """Fingerprint of the row's texts, to prove redact_pii sees what pii_detect analyzed."""
    h = xxhash.xxh3_64()
    for m in row.get("messages") or ():
        for part in (m.get("role"), m.get("content"), m.get("name"), m.get("extra"), m.get("reasoning"),
                     *[((c or {}).get("function") or {}).get("arguments") for c in m.get("tool_calls") or ()]):
            h.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    fb = row.get("feedback") or {}
    for part in (fb.get("edited"), fb.get("comment"), row.get("metadata"), row.get("tools"), row.get("source"),
                 row.get("source_id")):
        h.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()


# -- the way back: jsonrewrite.rewrite_json ---------------------------------------------------


def rebuild(row: dict, new: dict[str, str], number: Callable[[int], int | None] | None = None) -> dict[str, Any]:
    """The row's text columns (``TEXT_COLUMNS``) with the texts in ``new`` (key → text) replaced.
    ``number(original)`` gives the integer that replaces an integer found to be PII (None: drop
    its key)."""
    calls, tools = rebuild_tool_fields(row, new, number)
    messages = []
    for i, m in enumerate(row.get("messages") or ()):
        m = dict(m)
        if f"m{i}.name" in new:
            m["name"] = new[f"m{i}.name"]
        if m.get("content"):
            m["content"] = rewrite_json(m["content"], f"m{i}.content", new, number)
        if f"m{i}.reasoning" in new:
            m["reasoning"] = new[f"m{i}.reasoning"]
        if m.get("tool_calls"):
            m["tool_calls"] = calls[i]
        if m.get("extra"):
            m["extra"] = rewrite_json(m["extra"], f"m{i}.extra", new, number)
        messages.append(m)
    fb = row.get("feedback")
    if fb is not None:
        fb = {**fb, **{k[3:]: v for k, v in new.items() if k.startswith("fb.")}}
    return {"messages": messages, "tools": tools, "feedback": fb,
            "metadata": rewrite_json(row.get("metadata"), "meta", new, number),
            "source": new.get("src.source", row.get("source")), "source_id": new.get("src.id", row.get("source_id"))}
