"""Where prompts come from: a dataset version (conversation or preference) or a seed file.

A conversation's prompt is its messages up to and including the last user turn; rows whose
prompt holds tool calls or tool results are dropped with ``has_tool_calls`` (chat endpoints
cannot replay them faithfully), rows with no user turn with ``no_prompt``. A seed file is
JSONL (``instruction`` / ``prompt`` / ``text``, plus Alpaca's ``instances[0].input``) or plain
text, one prompt per line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sluice.errors import InputError
from sluice.store import Store, Version

from .recipes import Item


@dataclass
class Source:
    ref: str
    version: Version | None
    items: list[Item]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (source id, reason)
    identity: dict = field(default_factory=dict)  # what the fingerprint hashes


def load_source(ref: str, store: Store, limit: int | None = None) -> Source:
    """The prompts of ``ref`` (the first ``limit`` source rows when set)."""
    path = Path(ref)
    if path.suffix in (".jsonl", ".txt", ".json") and path.is_file():
        return _seed_file(path, limit)
    version = store.resolve(ref)
    shards = [s["sha256"] for s in version.manifest.get("parts", {}).get("data", {}).get("shards", [])]
    src = Source(version.ref, version, [], identity={"ref": version.ref, "shards": shards})
    if version.kind == "preference":
        table = version.read(columns=["id", "prompt"]).slice(0, limit)
        for sid, prompt in zip(table.column("id").to_pylist(), table.column("prompt").to_pylist()):
            _add(src, sid, prompt)
    elif version.kind == "conversation":
        table = version.read(columns=["id", "messages"]).slice(0, limit)
        for sid, msgs in zip(table.column("id").to_pylist(), table.column("messages").to_pylist()):
            last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=None)
            _add(src, sid, msgs[: last_user + 1] if last_user is not None else [])
    else:
        raise InputError(f"{version.ref} holds {version.kind} rows; synth reads conversation or preference datasets")
    return src


def _add(src: Source, sid: str, msgs: list[dict]) -> None:
    if not any(m["role"] == "user" and (m.get("content") or "").strip() for m in msgs):
        src.dropped.append((sid, "no_prompt"))
        return
    if any(m["role"] == "tool" or m.get("tool_calls") for m in msgs):
        src.dropped.append((sid, "has_tool_calls"))
        return
    prompt = tuple({"role": m["role"], "content": m.get("content") or ""} for m in msgs)
    src.items.append(Item(key=sid, prompt=prompt, source_ids=(sid,)))


def _seed_file(path: Path, limit: int | None) -> Source:
    import hashlib

    raw = path.read_bytes()
    src = Source(str(path), None, [], identity={"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()})
    for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if limit is not None and len(src.items) + len(src.dropped) >= limit:
            break
        if not line.strip():
            continue
        sid, text = f"{path.stem}:{n}", line.strip()
        if path.suffix != ".txt":
            try:
                rec = json.loads(line)
            except ValueError:
                raise InputError(f"{path}:{n}: not valid JSON",
                                 hint="a seed file is JSONL with an instruction/prompt/text field, or .txt") from None
            text = rec.get("instruction") or rec.get("prompt") or rec.get("text") or ""
            extra = ((rec.get("instances") or [{}])[0] or {}).get("input") or ""
            text = f"{text}\n\n{extra}".strip() if extra else text
            sid = str(rec.get("id") or sid)
        _add(src, sid, [{"role": "user", "content": text}])
    if not src.items:
        raise InputError(f"{path}: no prompts found", hint="one prompt per line, or JSONL with an instruction field")
    return src
