"""Text views of a conversation shared by the quality stages (polars expressions and turn pairs)."""

from __future__ import annotations

import polars as pl


def role_text(role: str, sep: str = "\n") -> pl.Expr:
    """All non-empty contents of one role's messages, joined (empty string when there are none)."""
    e = pl.element()
    contents = pl.col("messages").list.eval(
        e.struct.field("content").filter((e.struct.field("role") == role) & e.struct.field("content").is_not_null()))
    return contents.list.join(sep).fill_null("")


def turns(messages: list[dict] | None) -> list[tuple[str, str]]:
    """(instruction, response) per user turn, as DEITA scores multi-turn chats.

    Each user message is paired with the assistant text that follows it before the next user
    message (several assistant messages, e.g. around tool calls, are joined; a tool call counts
    as ``name(arguments)``); a user turn with no answer gets an empty response. System and tool
    messages are not part of either side.
    """
    out: list[tuple[str, list[str]]] = []
    for m in messages or ():
        role, content = m.get("role"), m.get("content") or ""
        if role == "user":
            out.append((content, []))
        elif role == "assistant" and out:
            if content:
                out[-1][1].append(content)
            out[-1][1].extend(call_text(c) for c in m.get("tool_calls") or ())  # a call is an answer too
    return [(q, "\n".join(a)) for q, a in out]


def call_text(call: dict | None) -> str:
    """One tool call as text: ``name(arguments)``."""
    fn = (call or {}).get("function") or {}
    return f"{fn.get('name') or ''}({fn.get('arguments') or ''})"


def call_signature(messages: list[dict] | None) -> str:
    """The calls an agent trace makes, in order (``name(arguments)`` per call, arguments with
    sorted keys); empty for a conversation without tool calls."""
    import json

    out = []
    for m in messages or ():
        for c in (m.get("tool_calls") or ()) if m.get("role") == "assistant" else ():
            fn = (c or {}).get("function") or {}
            args = fn.get("arguments") or ""
            try:
                args = json.dumps(json.loads(args), sort_keys=True, ensure_ascii=False)
            except ValueError:
                pass
            out.append(f"{fn.get('name') or ''}({args})")
    return "\n".join(out)


def agent_signature(messages: list[dict] | None, tools: str | None) -> str:
    """An agent trace's identity beyond its text: the tool names it was offered (sorted) and the
    calls it made (``call_signature``); empty for a row with neither."""
    import json

    calls = call_signature(messages)
    names: list[str] = []
    if tools:
        try:
            for t in json.loads(tools) or ():
                fn = t.get("function") if isinstance(t, dict) and isinstance(t.get("function"), dict) else t
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    names.append(fn["name"])
        except (ValueError, AttributeError, TypeError):
            names = [tools]
    if not (calls or names):
        return ""
    return "tools:" + ",".join(sorted(names)) + "\n" + calls


def conversation_text_expr(roles: tuple[str, ...] = ("user", "assistant")) -> pl.Expr:
    """``conversation_text`` of the ``messages`` column as one polars expression (no Python per row)."""
    e = pl.element()
    content = e.struct.field("content")
    kept = content.filter(e.struct.field("role").is_in(list(roles)) & content.is_not_null() & (content != ""))
    return pl.col("messages").list.eval(kept).list.join("\n").fill_null("")


def conversation_text(messages: list[dict] | None, roles: tuple[str, ...] = ("user", "assistant")) -> str:
    """The conversation as plain text (the chosen roles' contents, one per line)."""
    return "\n".join(m.get("content") or "" for m in messages or () if m.get("role") in roles and m.get("content"))


def known_codes(values: list[str], known, what: str) -> list[str]:
    """``values`` when every one is a known reason code (``known``: codes or a code → meaning map), else a
    ValueError naming the unknown ones and listing the known (a stage config's validator)."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {', '.join(known)}")
    return values
