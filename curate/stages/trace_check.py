"""trace_check — agent traces whose tool calls would not be valid training data are dropped.

``trace_check`` (decide) reads ``messages`` and ``tools`` and drops a row with the first of:

  ``undeclared_tool``     a call names a tool the row does not declare (or declares no tools)
  ``bad_arguments``       a call's arguments are not a JSON object or do not validate against
                          the tool's JSON Schema (``jsonschema``, the schema's own draft)
  ``bad_tool_schema``     a declared tool's parameters are not a valid JSON Schema
  ``result_without_call`` a tool message answers no call made before it
  ``dangling_call``       a call never answered, although the conversation goes on after it
                          (a call in the last assistant turn is the answer, and is fine)
  ``bad_ids``             an empty or repeated call id, or a result naming an id already answered

Rows with no tool calls and no tool messages pass untouched. Tool messages without a
``tool_call_id`` answer the oldest open call (the ShareGPT / glaive layout, which has no ids),
as ``sluice datasets export --format openai`` links them. The same check is
``trace_problems(messages, tools)`` for any caller (the export gate, the benchmark).

    - stage: trace_check
      codes: [undeclared_tool, bad_arguments, result_without_call, dangling_call, bad_ids, bad_tool_schema]

``trim_to_answer`` (transform) cuts what follows the last assistant turn (a user's goodbye, an
unanswered tool result), so such a trace keeps its answers instead of being dropped whole.

``render_check`` (decide) renders each trace with ``tokenizer.apply_chat_template(messages,
tools=…)`` of the target model (any HF tokenizer by id or path) and drops, or with ``gate: true``
fails the run on, a trace that does not render whole (reason ``render_failed``): a template
error, or a declared tool, a call or a tool result missing from the rendered text.

    - stage: render_check
      tokenizer: Qwen/Qwen2.5-0.5B-Instruct
      gate: true
"""

from __future__ import annotations

import json
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import polars as pl
from pydantic import Field

from sluice.stage import Filter, Requirement, StageConfig, Transform

REASONS = {
    "undeclared_tool": "a tool call names a tool the row does not declare",
    "bad_arguments": "a tool call's arguments are not a JSON object valid against the tool's JSON Schema",
    "bad_tool_schema": "a declared tool's parameters are not a valid JSON Schema",
    "result_without_call": "a tool message answers no call made before it",
    "dangling_call": "a tool call is never answered although the conversation goes on",
    "bad_ids": "an empty or repeated tool-call id, or a result for an id already answered",
}


def tool_schemas(tools: Any) -> dict[str, Any]:
    """Tool name → its parameters schema (None: declared without one), from the shapes in use:
    OpenAI ``{"type": "function", "function": {...}}``, bare ``{name, parameters}`` (glaive),
    Anthropic ``{name, input_schema}``, Responses ``{"type": "function", name, parameters}``."""
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            return {}
    out: dict[str, Any] = {}
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        name = fn.get("name")
        if isinstance(name, str):
            out[name] = fn.get("parameters", fn.get("input_schema"))
    return out


@lru_cache(maxsize=1024)
def _validator(schema_json: str):
    """A validator for one schema, or None when the schema itself is invalid."""
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return cls(schema)


def check_arguments(schema: Any, arguments: str | None) -> str | None:
    """None when ``arguments`` (JSON text) is an object valid against ``schema``, else the problem
    code (``bad_arguments`` or ``bad_tool_schema``)."""
    try:
        args = json.loads(arguments) if arguments not in (None, "") else {}
    except ValueError:
        return "bad_arguments"
    if not isinstance(args, dict):
        return "bad_arguments"
    if schema is None or schema == {}:
        return None
    if not isinstance(schema, dict):
        return "bad_tool_schema"
    validator = _validator(json.dumps(schema, sort_keys=True))
    if validator is None:
        return "bad_tool_schema"
    return None if validator.is_valid(args) else "bad_arguments"


def trace_problems(messages: list[dict], tools: Any) -> list[tuple[str, str]]:
    """(reason code, where) for every problem of one trace, in message order. ``where`` names
    positions only (message i, call j), never values."""
    declared = tool_schemas(tools)
    found: list[tuple[str, str]] = []
    open_calls: OrderedDict[str, int] = OrderedDict()  # call id (or a positional key) → message index
    answered: set[str] = set()
    seen_ids: set[str] = set()
    last_assistant = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    for i, m in enumerate(messages):
        role = m.get("role")
        calls = m.get("tool_calls") or []
        if role == "assistant" and calls:
            for j, call in enumerate(calls):
                fn = call.get("function") or {}
                where = f"message {i} call {j}"
                name = fn.get("name")
                cid = call.get("id")
                if cid is not None:
                    if cid == "" or cid in seen_ids:
                        found.append(("bad_ids", where))
                    seen_ids.add(cid)
                open_calls[cid if cid else f"#{i}.{j}"] = i
                if name not in declared:
                    found.append(("undeclared_tool", where))
                    continue
                problem = check_arguments(declared[name], fn.get("arguments"))
                if problem:
                    found.append((problem, where))
        elif role == "tool":
            tid = m.get("tool_call_id")
            where = f"message {i}"
            if tid is None:
                if open_calls:
                    answered.add(open_calls.popitem(last=False)[0])
                else:
                    found.append(("result_without_call", where))
            elif tid in open_calls:
                del open_calls[tid]
                answered.add(tid)
            elif tid in answered:
                found.append(("bad_ids", where))
            else:
                found.append(("result_without_call", where))
        elif role in ("user", "assistant") and open_calls:
            # the conversation went on: every call still open is dangling (unless it is the answer)
            for key, at in open_calls.items():
                if at != last_assistant:
                    found.append(("dangling_call", f"message {at}"))
            open_calls.clear()
    return found


class TraceCheckConfig(StageConfig):
    codes: tuple[str, ...] = Field(tuple(REASONS), description=f"problems that drop a row: {', '.join(REASONS)}")


class TraceCheck(Filter):
    name = "trace_check"
    Config = TraceCheckConfig
    reads = ("messages", "tools")
    reasons = REASONS
    requires = (Requirement("jsonschema", "quality"),)

    def decide(self, batch: pl.DataFrame) -> pl.Series:
        unknown = set(self.config.codes) - set(REASONS)
        if unknown:
            from sluice.errors import RecipeError

            raise RecipeError(f"trace_check.codes: unknown code(s) {sorted(unknown)}",
                              hint=f"choose from {', '.join(REASONS)}")
        codes = set(self.config.codes)
        tools = batch["tools"] if "tools" in batch.columns else pl.Series([None] * batch.height)
        out: list[str | None] = []
        where: list[str | None] = []
        for messages, tool_json in zip(batch["messages"].to_list(), tools.to_list()):
            if not any(m.get("tool_calls") or m.get("role") == "tool" for m in messages):
                out.append(None), where.append(None)
                continue
            problems = [(c, w) for c, w in trace_problems(messages, tool_json) if c in codes]
            out.append(problems[0][0] if problems else None)
            where.append(problems[0][1] if problems else None)
            for c in {c for c, _ in problems}:
                self.count(c)
        return pl.DataFrame({"reason": pl.Series(out, dtype=pl.String), "detail": pl.Series(where, dtype=pl.String)})


# -- render check: does each trace render through the target model's chat template? -----------

def hf_messages(messages: list[dict]) -> list[dict]:
    """Messages as transformers chat templates read them: tool-call arguments as objects, ids
    linked, reasoning as ``reasoning_content`` (what reasoning templates such as Qwen3's read)."""
    from sluice.export import link_tool_calls

    out = []
    for m in messages:
        msg: dict[str, Any] = {"role": m["role"], "content": m.get("content")}
        if m.get("tool_calls"):
            msg["tool_calls"] = [{"id": c.get("id"), "type": c.get("type") or "function",
                                  "function": {"name": c["function"]["name"],
                                               "arguments": json.loads(c["function"]["arguments"] or "{}")}}
                                 for c in m["tool_calls"]]
        if m.get("tool_call_id") is not None:
            msg["tool_call_id"] = m["tool_call_id"]
        if m.get("name") is not None:
            msg["name"] = m["name"]
        extra = json.loads(m["extra"]) if m.get("extra") else {}
        reasoning = m.get("reasoning") if m.get("reasoning") is not None else extra.get("reasoning")
        if isinstance(reasoning, str):  # the field; extra.reasoning in versions ingested before it
            msg["reasoning_content"] = reasoning
        out.append(msg)
    link_tool_calls(out, "render")
    return out


def render_problems(messages: list[dict], tools: Any, tokenizer) -> list[str]:
    """What goes wrong rendering one trace with ``tokenizer.apply_chat_template(…, tools=…)``:
    a template error, or a part of the trace the rendered text leaves out (a declared tool's
    name, a call's name, a tool result). Empty when it renders whole. Never quotes row text."""
    from sluice.export import openai_tools

    try:
        msgs = hf_messages(messages)
    except (ValueError, TypeError, KeyError):
        return ["tool-call arguments are not a JSON object"]
    declared = openai_tools(json.loads(tools) if isinstance(tools, str) else tools) if tools else None
    try:
        text = tokenizer.apply_chat_template(msgs, tools=declared, tokenize=False)
    except Exception as e:  # jinja's TemplateError, raise_exception(), a template bug: the trace does not render
        return [f"the chat template failed ({type(e).__name__})"]
    problems = []
    for tool in declared or ():
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        # the definition, not just the name (a call renders the name too): its description, else its name
        marker = (fn.get("description") or "").strip()[:40] or fn.get("name") or ""
        if marker and not _rendered(marker, text):
            problems.append("a declared tool is missing from the rendered text (the template ignores tools=)")
            break
    for i, m in enumerate(msgs):
        for c in m.get("tool_calls") or ():
            if c["function"]["name"] not in text:
                problems.append(f"the call of message {i} is missing from the rendered text")
        if m["role"] == "tool" and (m.get("content") or "").strip() and not _rendered(m["content"].strip()[:40], text):
            problems.append(f"the tool result of message {i} is missing from the rendered text")
    return problems


def _rendered(part: str, text: str) -> bool:
    """``part`` is in ``text`` as written, or as a template's ``tojson`` escapes it."""
    return part in text or json.dumps(part)[1:-1] in text or json.dumps(part, ensure_ascii=False)[1:-1] in text


def load_tokenizer(name: str):
    """Any HF tokenizer by hub id or local path (offline when HF_HUB_OFFLINE=1)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as e:
        from sluice.errors import RecipeError

        raise RecipeError(f"render_check: cannot load the tokenizer {name!r} ({type(e).__name__})",
                          hint="give a local model folder (e.g. `sluice models tiny --out models/tiny`) or a "
                               "cached hub id") from None


class RenderCheckConfig(StageConfig):
    tokenizer: str = Field(..., description="HF tokenizer (hub id or local path) whose chat template must render "
                                            "every trace with its tools")
    gate: bool = Field(False, description="fail the run when any trace does not render (instead of dropping it)")


class RenderCheck(Filter):
    name = "render_check"
    Config = RenderCheckConfig
    reads = ("messages", "tools")
    reasons = {"render_failed": "the trace does not render whole through the target chat template with its tools"}
    requires = (Requirement("transformers", "quality"),)

    def setup(self) -> None:
        self.tok = load_tokenizer(self.config.tokenizer)

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "tok"):
            self.setup()
        tools = batch["tools"] if "tools" in batch.columns else pl.Series([None] * batch.height)
        reasons, details = [], []
        for row_id, messages, tool_json in zip(batch["id"] if "id" in batch.columns else range(batch.height),
                                               batch["messages"].to_list(), tools.to_list()):
            problems = render_problems(messages, tool_json, self.tok)
            if problems and self.config.gate:
                from sluice.errors import DataError

                raise DataError(f"render_check: row {row_id} does not render through {self.config.tokenizer}: "
                                f"{problems[0]}", hint="fix or drop the trace (gate: false drops such rows)")
            reasons.append("render_failed" if problems else None)
            details.append(problems[0] if problems else None)
        return pl.DataFrame({"reason": pl.Series(reasons, dtype=pl.String),
                             "detail": pl.Series(details, dtype=pl.String)})


# -- trim_to_answer: a trace that ends after its answer keeps the answer ----------------------

class TrimToAnswer(Transform):
    """Messages after the last assistant turn (a user's "thanks", a tool result nobody answered)
    are cut, so the trace ends with an answer instead of being dropped as ``no_final_answer``.
    Rows with no assistant turn are left as they are (the heuristics filter drops them). Counts
    ``trimmed_rows`` and ``trimmed_messages`` (manifest counters)."""

    name = "trim_to_answer"
    reads = ("messages",)
    rewrites = ("messages",)

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        out = []
        for messages in batch["messages"].to_list():
            last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
            if last is not None and last < len(messages) - 1:
                self.count("trimmed_rows")
                self.count("trimmed_messages", len(messages) - 1 - last)
                messages = messages[:last + 1]
            out.append(messages)
        return batch.with_columns(pl.Series("messages", out, dtype=batch.schema["messages"]))
