"""heuristics / heuristics_filter — rule-based quality signals, then a decision with reason codes.

Character bounds per role and the empty *final* answer are ``length``/``length_filter``'s job
(curate/stages/length.py); these stages complement them with word bounds and the signals below.

``heuristics`` (score) reads ``messages``, ``metadata`` and ``tools`` and adds:
  ``words_user``, ``words_assistant`` — whitespace-separated words per role (summed over turns),
  ``empty_assistant_turns`` — assistant messages with neither text nor tool calls,
  ``has_final_answer`` — the last message is an assistant turn (text or tool calls: an agent's
  answer may be the call itself),
  ``truncated`` — positive evidence that the final answer was cut off: the source says
  ``finish_reason: length``, a code block is left open, or the last line is prose of 6+ words that
  stops on a comma, hyphen, open bracket, article or conjunction ("… because the"). Missing final
  punctuation alone is not evidence (short answers, code, SQL, tweets end without it),
  ``defect`` — the first documented instruction-data defect (curate/quality/defects.py), or null,
  ``repetition`` — word n-gram repetition ratio (1 − distinct/total n-grams), the highest over the
  assistant turns (an answer repeating itself; answers that reuse a sentence across turns are fine),
  ``refusal_pattern`` — index (in ``refusal_patterns``) of the first boilerplate refusal matched in
  an assistant turn, null when none (or when the row has tools and the answer explains what its
  functions can do: an agent declining out-of-scope work is answering),
  ``non_text_ratio`` — share of characters that are neither letters, marks, digits, whitespace
  nor punctuation (symbols, emoji, control and replacement characters),
  ``json_required`` / ``json_valid`` — the system prompt demands JSON / the final answer parses
  (null when JSON is not required).

``heuristics_filter`` (decide) drops rows with these reasons (first matching rule wins):
  ``no_final_answer``, ``empty_answer``, ``truncated_answer``, the defect codes of
  ``defects.DEFECTS`` (``placeholder_answer``, ``merged_instructions``, ``placeholder_input``,
  ``unavailable_input``, ``image_request_text_answer``), ``boilerplate_refusal``, ``invalid_json``,
  ``repetitive``, ``non_text``, ``too_few_words_<role>``, ``too_many_words_<role>``.
  Measured precision of each reason on real data: BENCHMARKS.md, "Curation filters".

    - stage: heuristics
      ngram: 3
    - stage: heuristics_filter
      max_repetition: 0.75
      max_non_text_ratio: 0.3
      min_words: {assistant: 2}
"""

from __future__ import annotations

import json
import re

import polars as pl
from pydantic import Field, field_validator

from sluice.stage import Filter, Scorer, StageConfig

from .defects import DEFECTS, defect_code
from .text import known_codes, role_text

#: Boilerplate refusals and AI disclaimers (case-insensitive regexes). The defaults cover the
#: common English phrasings and their usual forms in de/fr/es/zh/ja/ru.
DEFAULT_REFUSALS: tuple[str, ...] = (
    r"\bas an ai(?: language)? model\b",
    r"\bi(?:'m| am) (?:sorry|afraid),? but i (?:can(?:no|')t|am not able to|'m not able to|won't)\b",
    r"\bi can(?:no|')t (?:help|assist) (?:you )?with (?:that|this)\b",
    r"\bi(?:'m| am) (?:not able|unable) to (?:help|assist|comply)\b",
    r"\bi apologi[sz]e, but (?:i|this)\b",
    r"\b(?:violates?|against) (?:our|my|the) (?:usage|content) polic(?:y|ies)\b",
    r"\bals ki-sprachmodell\b|\bkann ich ihnen nicht helfen\b",
    r"\ben tant que (?:ia|modèle de langage)\b|\bje ne peux pas vous aider\b",
    r"\bcomo (?:ia|modelo de lenguaje)\b|\bno puedo ayudarte\b",
    r"作为一个?人工智能(?:语言模型)?|我无法帮助",
    r"AI言語モデルとして|お応えできません",
    r"\bкак языковая модель\b|\bне могу помочь\b",
)

_JSON_DEMAND = re.compile(r"(?is)\bjson\b.*\b(only|valid|respond|reply|answer|output|return|format)\b"
                          r"|\b(only|valid|respond|reply|answer|output|return|format)\b.*\bjson\b")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.S)
_WORD = re.compile(r"\w+")
# A prose line (6+ words) ending where no sentence ends: 4/4 Alpaca hits were cut off (BENCHMARKS.md).
_DANGLING = (r"(?i)(?:\S+\s+){5,}\S*(?:[,(\[{–-]|\s(?:and|or|but|nor|the|a|an|of|because|although|whereas"
             r"|their|its|your|my|our))$")


class HeuristicsConfig(StageConfig):
    ngram: int = Field(3, ge=1, le=10, description="word n-gram size for the repetition ratio")
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS),
                                        description="case-insensitive regexes of boilerplate refusals")


def repetition(text: str, n: int) -> float:
    """1 − distinct/total word n-grams (0 when the text has fewer than n words)."""
    words = _WORD.findall(text.lower())
    grams = list(zip(*(words[i:] for i in range(n))))
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def json_ok(text: str | None) -> bool:
    text = (text or "").strip()
    fenced = _FENCE.match(text)
    try:
        json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return False
    return True


class Heuristics(Scorer):
    name = "heuristics"
    Config = HeuristicsConfig
    reads = ("messages", "metadata", "tools")
    adds = ("words_user", "words_assistant", "empty_assistant_turns", "has_final_answer", "truncated", "defect",
            "repetition", "refusal_pattern", "non_text_ratio", "json_required", "json_valid")
    version = 2  # positive-evidence truncation, tool-call answers, defect codes

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        e, msgs = pl.element(), pl.col("messages")
        role, content = e.struct.field("role"), e.struct.field("content")
        calls = e.struct.field("tool_calls").list.len().fill_null(0)
        last = msgs.list.last()
        final = msgs.list.eval(content.filter(role == "assistant")).list.last().fill_null("").str.strip_chars()
        assistant, user = role_text("assistant"), role_text("user")
        last_line = final.str.split("\n").list.last().fill_null("").str.strip_chars()
        open_fence = final.str.count_matches(r"(?m)^\s*```") % 2 == 1
        length_stop = pl.col("metadata").str.json_path_match("$.finish_reason").fill_null("") == "length"
        refusal = pl.lit(None, pl.Int32)
        for i, pattern in reversed(list(enumerate(self.config.refusal_patterns))):
            refusal = pl.when(assistant.str.contains(f"(?i){pattern}")).then(pl.lit(i, pl.Int32)).otherwise(refusal)
        # an agent declining what its tools cannot do ("I can't book flights; my function only …") is
        # the right answer, not boilerplate: 12/12 such glaive tool-call refusals were correct
        scoped = pl.col("tools").is_not_null() & assistant.str.contains(r"(?i)\b(?:functions?|capabilit\w*|tools?|external tasks?)\b")
        refusal = pl.when(scoped).then(None).otherwise(refusal)
        both = pl.concat_str([user, assistant], separator="\n")
        system = role_text("system")
        base = batch.select(
            user.str.count_matches(r"\S+").cast(pl.Int64).alias("words_user"),
            assistant.str.count_matches(r"\S+").cast(pl.Int64).alias("words_assistant"),
            msgs.list.eval(((role == "assistant") & (content.fill_null("").str.strip_chars() == "") & (calls == 0))
                           .cast(pl.Int64)).list.sum().fill_null(0).alias("empty_assistant_turns"),
            (last.struct.field("role") == "assistant").fill_null(False).alias("has_final_answer"),
            (length_stop | open_fence | last_line.str.contains(_DANGLING)).alias("truncated"),
            defect_code(user, final).alias("defect"),
            refusal.alias("refusal_pattern"),
            (both.str.count_matches(r"[^\p{L}\p{M}\p{N}\s\p{P}]") / both.str.len_chars().clip(lower_bound=1))
            .cast(pl.Float64).alias("non_text_ratio"),
            system.str.contains(_JSON_DEMAND.pattern).alias("json_required"),
            msgs.list.eval(content.filter(role == "assistant").fill_null("")).alias("_assistant"),
            final.alias("_final"),
        )
        n = self.config.ngram
        rep = [max((repetition(t, n) for t in turns), default=0.0) for turns in base["_assistant"].to_list()]
        valid = [json_ok(f) if req else None for f, req in zip(base["_final"].to_list(), base["json_required"].to_list())]
        return base.with_columns(pl.Series("repetition", rep, dtype=pl.Float64),
                                 pl.Series("json_valid", valid, dtype=pl.Boolean)).select(self.adds)


class HeuristicsFilterConfig(StageConfig):
    drop_no_final_answer: bool = Field(True, description="drop conversations that do not end with an assistant answer")
    drop_empty_answers: bool = Field(True, description="drop conversations with an empty assistant turn")
    drop_truncated: bool = Field(True, description="drop conversations whose final answer looks cut off")
    drop_defects: list[str] = Field(default_factory=lambda: list(DEFECTS),
                                    description=f"documented defects to drop (any of {', '.join(DEFECTS)})")
    drop_refusals: bool = Field(True, description="drop conversations with a boilerplate refusal")
    drop_invalid_json: bool = Field(True, description="drop answers that are not JSON when the system prompt demands it")
    # 0.5 dropped 4 Alpaca answers, all correct (HTML tables, a song of notes); degenerate loops score > 0.9
    max_repetition: float | None = Field(0.75, ge=0, le=1, description="maximum word n-gram repetition ratio")
    max_non_text_ratio: float | None = Field(0.3, ge=0, le=1, description="maximum share of non-text characters")
    min_words: dict[str, int] = Field(default_factory=dict, description="minimum words per role, e.g. {assistant: 3}")
    max_words: dict[str, int] = Field(default_factory=dict, description="maximum words per role")

    @field_validator("drop_defects")
    @classmethod
    def _known_defects(cls, v: list[str]) -> list[str]:
        return known_codes(v, DEFECTS, "defect codes")


class HeuristicsFilter(Filter):
    name = "heuristics_filter"
    Config = HeuristicsFilterConfig
    reads = Heuristics.adds
    reasons = {
        "no_final_answer": "the conversation does not end with an assistant answer",
        "empty_answer": "an assistant turn has neither text nor tool calls",
        "truncated_answer": "the final answer was cut off (finish_reason length, open code block, dangling last line)",
        **DEFECTS,
        "boilerplate_refusal": "an assistant turn is a boilerplate refusal (detail: pattern index)",
        "invalid_json": "the system prompt demands JSON and the final answer does not parse",
        "repetitive": "word n-gram repetition above max_repetition",
        "non_text": "share of non-text characters above max_non_text_ratio",
        **{f"too_few_words_{r}": f"{r} turns have fewer than min_words.{r} words" for r in ("user", "assistant")},
        **{f"too_many_words_{r}": f"{r} turns have more than max_words.{r} words" for r in ("user", "assistant")},
    }

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        none = pl.lit(None, pl.String)
        rules: list[tuple[pl.Expr, str, pl.Expr]] = []
        if c.drop_no_final_answer:
            rules.append((~pl.col("has_final_answer"), "no_final_answer", none))
        if c.drop_empty_answers:
            rules.append((pl.col("empty_assistant_turns") > 0, "empty_answer",
                          pl.format("empty_turns={}", pl.col("empty_assistant_turns"))))
        if c.drop_truncated:
            rules.append((pl.col("truncated"), "truncated_answer", none))
        if c.drop_defects:
            rules.append((pl.col("defect").is_in(c.drop_defects), "defect", none))
        if c.drop_refusals:
            rules.append((pl.col("refusal_pattern").is_not_null(), "boilerplate_refusal",
                          pl.format("pattern={}", pl.col("refusal_pattern"))))
        if c.drop_invalid_json:
            rules.append((pl.col("json_required") & ~pl.col("json_valid").fill_null(True), "invalid_json", none))
        if c.max_repetition is not None:
            rules.append((pl.col("repetition") > c.max_repetition, "repetitive",
                          pl.format("repetition={}", pl.col("repetition").round(3))))
        if c.max_non_text_ratio is not None:
            rules.append((pl.col("non_text_ratio") > c.max_non_text_ratio, "non_text",
                          pl.format("non_text_ratio={}", pl.col("non_text_ratio").round(3))))
        for r in ("user", "assistant"):
            words = pl.col(f"words_{r}")
            if r in c.min_words:
                rules.append((words < c.min_words[r], f"too_few_words_{r}", pl.format("words={}", words)))
            if r in c.max_words:
                rules.append((words > c.max_words[r], f"too_many_words_{r}", pl.format("words={}", words)))
        reason, detail = none, none
        for cond, code, why in reversed(rules):
            cond = cond.fill_null(False)
            named = pl.col("defect") if code == "defect" else pl.lit(code)
            reason = pl.when(cond).then(named).otherwise(reason)
            detail = pl.when(cond).then(why).otherwise(detail)
        # with_columns broadcasts a literal (no rule enabled) to every row; select would not
        return batch.with_columns(reason.alias("reason"), detail.alias("detail")).select("reason", "detail")
