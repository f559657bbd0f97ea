"""What annotators see: render-safe placeholders and a chat that shows tool calls as such.

Redaction writes placeholders in angle brackets (``<PERSON_1>``, ``<EMAIL_ADDRESS:3fa2…>``).
A browser that renders markdown or HTML swallows them as tags, so the annotator reads broken
text and a correction loses them. On the way out every placeholder becomes ``[PERSON_1]``
(``to_display``) — plain text in markdown and HTML alike, and easy to type in a correction — and
on the way back the bracket form of a placeholder the record holds becomes the stored form again
(``from_display``). Text that merely looks like a bracketed name is left alone unless the record
holds that very placeholder.

Tool calls and tool results keep their own roles (``tool call``, ``tool result``) in the chat
field, with the call as ``name(arguments)``, so they do not read as the assistant talking.
Fields are shown with markdown off (``form``), so text is plain: no code fences are added.
"""

from __future__ import annotations

import re

# <ENTITY_1> (placeholder), <ENTITY:hexdigest> (hash), <ENTITY_123456> (surrogate id)
STORED = re.compile(r"<([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*?(?:_\d+|:[0-9a-f]{4,}))>")
SHOWN = re.compile(r"\[([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*?(?:_\d+|:[0-9a-f]{4,}))\]")
EMPTY = " "  # Argilla refuses empty chat messages and text fields


def to_display(text: str | None) -> str:
    """``<PERSON_1>`` → ``[PERSON_1]``; every other character unchanged."""
    return STORED.sub(r"[\1]", text or "")


def placeholders(*texts: str | None) -> set[str]:
    """The placeholders (inner names, e.g. ``PERSON_1``) the stored texts hold."""
    return {m.group(1) for t in texts if t for m in STORED.finditer(t)}


def shown_placeholders(*texts: str | None) -> set[str]:
    """The placeholders the displayed texts show (inner names of ``[PERSON_1]`` …)."""
    return {m.group(1) for t in texts if t for m in SHOWN.finditer(t)}


def from_display(text: str, known: set[str]) -> str:
    """``[PERSON_1]`` → ``<PERSON_1>`` for the placeholders in ``known``; the rest as typed."""
    return SHOWN.sub(lambda m: f"<{m.group(1)}>" if m.group(1) in known else m.group(0), text)


def message_texts(messages: list[dict] | None) -> list[str]:
    """Every stored text of the messages (content and tool-call arguments)."""
    out = []
    for m in messages or []:
        out.append(m.get("content") or "")
        out += [c["function"]["arguments"] or "" for c in m.get("tool_calls") or []]
    return out


def _calls(message: dict) -> str:
    return "\n".join(f"{c['function']['name']}({c['function']['arguments'] or ''})"
                     for c in message.get("tool_calls") or [])


def chat(messages: list[dict] | None) -> list[dict]:
    """The prompt as Argilla chat messages: user/system/assistant as they are, tools as tools."""
    out = []
    for m in messages or []:
        content = to_display(m.get("content"))
        if m["role"] == "tool":
            out.append({"role": "tool result", "content": to_display(m.get("content")) or EMPTY})
            continue
        if content.strip():
            out.append({"role": m["role"], "content": content})
        if m.get("tool_calls"):
            out.append({"role": "tool call", "content": to_display(_calls(m))})
    return out or [{"role": "user", "content": EMPTY}]


def answer_text(message: dict) -> str:
    """The final answer as shown: its text, then its tool calls (as calls), if any."""
    parts = [to_display(message.get("content"))] if (message.get("content") or "").strip() else []
    if message.get("tool_calls"):
        parts.append("Tool calls:\n" + to_display(_calls(message)))
    return "\n\n".join(parts) or EMPTY
