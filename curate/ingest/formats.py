"""The ingest formats: name → (record kind, adapter), and detection from a file's records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sluice.errors import InputError

from . import anthropic, langfuse, otel, responses
from . import chat_formats as chat
from . import pair_formats as pairs


@dataclass(frozen=True)
class Format:
    name: str
    kind: str  # conversation | preference | kto
    parse: Callable[[dict], dict]
    description: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("openai", "conversation", chat.openai_chat, "OpenAI chat JSONL: messages (+ tools, tool calls)"),
    Format("openai-log", "conversation", chat.openai_log, "request/response gateway logs: request.messages + response.choices"),
    Format("sharegpt", "conversation", chat.sharegpt, "ShareGPT/FastChat: conversations with from/value"),
    Format("alpaca", "conversation", chat.alpaca, "Alpaca: instruction, input, output"),
    Format("self-instruct-seed", "conversation", chat.self_instruct_seed,
           "Self-Instruct seed tasks: instruction + instances[0] input/output"),
    Format("prompt-completion", "conversation", chat.prompt_completion, "prompt and completion"),
    Format("sluice", "conversation", chat.sluice_conversation, "sluice's own JSONL export"),
    Format("responses", "conversation", responses.responses,
           "OpenAI Responses API: input/output items (function_call, function_call_output, reasoning)"),
    Format("anthropic", "conversation", anthropic.anthropic,
           "Anthropic Messages: content blocks (text, tool_use, tool_result, thinking); request/response logs"),
    Format("otel-genai", "conversation", otel.otel_trace,
           "OpenTelemetry GenAI spans (OTLP JSON file exporter): one row per trace, stitched by trace id"),
    Format("langfuse", "conversation", langfuse.langfuse_trace,
           "Langfuse trace exports (trace + observations, or observations): one row per trace"),
    Format("trl-preference", "preference", pairs.trl_preference, "TRL: prompt/chosen/rejected (or implicit prompt)"),
    Format("llamafactory-preference", "preference", pairs.llamafactory_preference,
           "LLaMA-Factory: conversations + chosen/rejected turns"),
    Format("llamafactory-v1-preference", "preference", pairs.llamafactory_v1_preference,
           "LLaMA-Factory v1: chosen_messages/rejected_messages"),
    Format("hh", "preference", pairs.hh, "Anthropic HH: chosen/rejected Human/Assistant transcripts"),
    Format("pairwise-preference", "preference", pairs.pairwise_preference,
           "AlpacaEval-style: instruction, output_1, output_2, preference 1/2 (0 = tie, dropped)"),
    Format("sluice-preference", "preference", pairs.sluice_pairs("preference"), "sluice's own preference export"),
    Format("trl-kto", "kto", pairs.trl_kto, "TRL: prompt/completion/label"),
    Format("llamafactory-kto", "kto", pairs.llamafactory_kto, "LLaMA-Factory: messages + label"),
    Format("sluice-kto", "kto", pairs.sluice_pairs("kto"), "sluice's own kto export"),
)}


def detect(record: dict) -> str | None:
    """The format whose keys this record has, or None. Order matters: most specific first."""
    keys = record.keys()
    if {"id", "source", "source_id"} <= keys:
        if "messages" in keys:
            return "sluice"
        if "chosen" in keys:
            return "sluice-preference"
        if "completion" in keys and "label" in keys:
            return "sluice-kto"
    if "resourceSpans" in keys or "otel_trace_id" in keys:
        return "otel-genai"
    if "langfuse_trace_id" in keys or langfuse.is_trace(record) or langfuse.is_observation(record):
        return "langfuse"
    if "request" in keys and "response" in keys:
        response = record.get("response")
        if isinstance(response, dict) and response.get("type") == "message" and "content" in response:
            return "anthropic"
        return "openai-log"
    if isinstance(record.get("output"), list) and ("input" in keys or record.get("object") == "response"):
        return "responses"
    if {"output_1", "output_2", "preference"} <= keys:
        return "pairwise-preference"
    if "chosen_messages" in keys and "rejected_messages" in keys:
        return "llamafactory-v1-preference"
    if "chosen" in keys and "rejected" in keys:
        if "conversations" in keys:
            return "llamafactory-preference"
        chosen = record.get("chosen")
        if "prompt" not in keys and isinstance(chosen, str) and "\n\nHuman: " in chosen:
            return "hh"
        return "trl-preference"
    # A KTO label is a boolean; a conversation log may well carry some other "label" field.
    if isinstance(record.get("label"), bool) or isinstance(record.get("kto_tag"), bool):
        if "completion" in keys:
            return "trl-kto"
        if "messages" in keys or "conversations" in keys:
            return "llamafactory-kto"
    if "messages" in keys:
        return "anthropic" if _anthropic_shaped(record) else "openai"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "instruction" in keys and "instances" in keys:
        return "self-instruct-seed"
    if "prompt" in keys and "completion" in keys:
        return "prompt-completion"
    return None


_ANTHROPIC_BLOCKS = frozenset(("tool_use", "tool_result", "thinking", "redacted_thinking"))


def _anthropic_shaped(record: dict) -> bool:
    """Anthropic Messages rather than OpenAI chat: a top-level ``system``, tools with an
    ``input_schema``, or content blocks only Anthropic has."""
    if "system" in record and "max_tokens" in record:
        return True
    tools = record.get("tools")
    if isinstance(tools, list) and any(isinstance(t, dict) and "input_schema" in t for t in tools):
        return True
    messages = record.get("messages")
    for m in messages if isinstance(messages, list) else ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") in _ANTHROPIC_BLOCKS
                                             for b in content):
            return True
    return False


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown format {name!r}", hint=f"choose one of: {', '.join(FORMATS)}") from None
