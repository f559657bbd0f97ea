"""Verifiable rewards for GRPO, computed from the data, and an optional LLM-judge reward.

Each reward has TRL's reward-function signature: ``f(completions, reference, tools, **_) -> list``
with one value per completion, or None where the reward does not apply to that row (TRL leaves
None out of the sum, so a text row is not punished by the tool-call reward and vice versa).

- ``exact_match``: 1.0 when the answer equals the reference after whitespace and case
  normalisation (the eval gate's ``exact_match``); text rows only.
- ``tool_call``: rows whose reference is a tool call (``<tool_call>{json}</tool_call>``, the form
  ``sluice.train.data`` writes). 0.5 for a valid call — it parses, names a tool the row offers,
  and its arguments validate against that tool's JSON schema; 1.0 when it is also the reference
  call (same name and arguments); 0 otherwise.
- ``format``: 1.0 for a well-formed answer of the reference's kind: non-empty, no chat-template
  control tokens, every ``<tool_call>`` closed around a JSON object with ``name`` and
  ``arguments``, and a tool call exactly where the reference has one.
- ``judge``: PrometheusEval against the reference through the guarded LLM clients of
  ``sluice.synth.grader`` (privacy guard, egress guard, key handling); 0-1, and None for a
  failed or unparseable judgment — never 0.
"""

from __future__ import annotations

import json
import re
from typing import Any

CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
CONTROL = re.compile(r"<\|[a-z_]+\|>|<start_of_turn>|<end_of_turn>|\[/?INST\]")


def text(completion) -> str:
    """A completion's text: TRL passes strings (standard) or message lists (conversational)."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role", "assistant") == "assistant")


def parse_calls(content: str) -> list[dict] | None:
    """The tool calls in ``content`` as dicts, [] when it has none, None when one is malformed."""
    if content.count("<tool_call>") != content.count("</tool_call>"):
        return None
    calls = []
    for raw in CALL.findall(content):
        try:
            call = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return None
        args = call.get("arguments", {})
        if isinstance(args, str):  # OpenAI logs carry arguments as a JSON string
            try:
                args = json.loads(args)
            except ValueError:
                return None
        if not isinstance(args, dict):
            return None
        calls.append({"name": call["name"], "arguments": args})
    return calls


def _schemas(tools: str | None) -> dict[str, dict]:
    """Tool name → JSON schema of its parameters, from the row's ``tools`` JSON (OpenAI format)."""
    if not tools:
        return {}
    try:
        listed = json.loads(tools)
    except ValueError:
        return {}
    out = {}
    for t in listed if isinstance(listed, list) else []:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out[fn["name"]] = fn.get("parameters") or {"type": "object"}
    return out


def _valid(call: dict, schemas: dict[str, dict]) -> bool:
    import jsonschema

    if call["name"] not in schemas:
        return False
    try:
        jsonschema.validate(call["arguments"], schemas[call["name"]])
    except (jsonschema.ValidationError, jsonschema.SchemaError):
        return False
    return True


def exact_match(completions, reference, **_) -> list[float | None]:
    from .gate import exact_match as same

    return [None if parse_calls(ref) else float(same(text(c), ref)) for c, ref in zip(completions, reference)]


def tool_call(completions, reference, tools=None, **_) -> list[float | None]:
    tools = tools or [None] * len(completions)
    out: list[float | None] = []
    for c, ref, spec in zip(completions, reference, tools):
        wanted = parse_calls(ref)
        if not wanted:
            out.append(None)
            continue
        got = parse_calls(text(c))
        schemas = _schemas(spec) or {w["name"]: {"type": "object"} for w in wanted}
        if not got or not all(_valid(g, schemas) for g in got):
            out.append(0.0)
        else:
            out.append(1.0 if got == wanted else 0.5)
    return out


def format_reward(completions, reference, **_) -> list[float]:
    out = []
    for c, ref in zip(completions, reference):
        t = text(c)
        calls = parse_calls(t)
        ok = bool(t.strip()) and not CONTROL.search(t) and calls is not None and bool(calls) == bool(parse_calls(ref))
        out.append(float(ok))
    return out


format_reward.__name__ = "format"


def judge_reward(spec, rubric: str, backend=None):
    """A reward that asks the LLM judge; the caller has run ``sluice.synth.grader.guard`` first."""
    from sluice.synth.grader import judge

    def judge_(prompts, completions, reference, **_) -> list[float | None]:
        questions = ["\n".join(f"{m['role']}: {m['content']}" for m in p) if not isinstance(p, str) else p
                     for p in prompts]
        judged = judge([{"instruction": q, "generation": text(c), "reference": r}
                        for q, c, r in zip(questions, completions, reference)], spec, rubric=rubric, backend=backend)
        return judged.scores

    judge_.__name__ = "judge"
    return judge_


def build(names: list[str], *, judge_spec=None, rubric: str = "helpfulness", backend=None) -> list[Any]:
    table = {"exact_match": exact_match, "tool_call": tool_call, "format": format_reward}
    return [judge_reward(judge_spec, rubric, backend) if n == "judge" else table[n] for n in names]
