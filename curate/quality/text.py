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
    message (several assistant messages, e.g. around tool calls, are joined); a user turn with no
    answer gets an empty response. System and tool messages are not part of either side.
    """
    out: list[tuple[str, list[str]]] = []
    for m in messages or ():
        role, content = m.get("role"), m.get("content") or ""
        if role == "user":
            out.append((content, []))
        elif role == "assistant" and out and content:
            out[-1][1].append(content)
    return [(q, "\n".join(a)) for q, a in out]


def conversation_text(messages: list[dict] | None, roles: tuple[str, ...] = ("user", "assistant")) -> str:
    """The conversation as plain text (the chosen roles' contents, one per line)."""
    return "\n".join(m.get("content") or "" for m in messages or () if m.get("role") in roles and m.get("content"))
