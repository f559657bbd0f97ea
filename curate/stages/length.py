"""length / length_filter — message lengths per role, then bounds on them.

``length`` (score) reads ``messages`` and adds:
  ``len_user_chars``, ``len_assistant_chars`` (characters summed over that role's turns;
  a turn's characters are its content plus its tool-call arguments),
  ``len_final_chars`` (the last assistant turn), ``n_turns`` (messages in the conversation).

``length_filter`` (decide) reads those columns and drops rows with these reasons:
  ``too_short_user``, ``too_long_user``, ``too_short_assistant``, ``too_long_assistant``,
  ``empty_final_answer``, ``too_many_turns``.

    - stage: length
    - stage: length_filter
      min_chars: {user: 1, assistant: 1}
      max_chars: {user: 20000, assistant: 50000}
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from sluice.stage import Filter, Scorer, StageConfig

ROLES = ("user", "assistant")


class Length(Scorer):
    name = "length"
    reads = ("messages",)
    adds = ("len_user_chars", "len_assistant_chars", "len_final_chars", "n_turns")

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        msgs = pl.col("messages")
        e = pl.element()
        call_chars = e.struct.field("tool_calls").list.eval(
            pl.element().struct.field("function").struct.field("arguments").str.len_chars()).list.sum()
        chars = e.struct.field("content").str.len_chars().fill_null(0) + call_chars.fill_null(0)

        def total(role: str) -> pl.Expr:
            return msgs.list.eval(chars.filter(pl.element().struct.field("role") == role)).list.sum()

        final = msgs.list.eval(chars.filter(pl.element().struct.field("role") == "assistant")).list.last()
        return batch.select(
            total("user").cast(pl.Int64).alias("len_user_chars"),
            total("assistant").cast(pl.Int64).alias("len_assistant_chars"),
            final.fill_null(0).cast(pl.Int64).alias("len_final_chars"),
            msgs.list.len().cast(pl.Int64).alias("n_turns"),
        )


class LengthFilterConfig(StageConfig):
    min_chars: dict[str, int] = Field(default_factory=lambda: {"user": 1, "assistant": 1},
                                      description="minimum characters per role (summed over its turns)")
    max_chars: dict[str, int] = Field(default_factory=lambda: {"user": 50_000, "assistant": 100_000},
                                      description="maximum characters per role (summed over its turns)")
    drop_empty_final_answer: bool = Field(True, description="drop rows whose last assistant turn is empty")
    max_turns: int | None = Field(None, gt=0, description="maximum messages per conversation (None: no bound)")


class LengthFilter(Filter):
    name = "length_filter"
    Config = LengthFilterConfig
    reads = ("len_user_chars", "len_assistant_chars", "len_final_chars", "n_turns")
    reasons = {
        "too_short_user": "user turns shorter than min_chars.user",
        "too_long_user": "user turns longer than max_chars.user",
        "too_short_assistant": "assistant turns shorter than min_chars.assistant",
        "too_long_assistant": "assistant turns longer than max_chars.assistant",
        "empty_final_answer": "the last assistant turn is empty",
        "too_many_turns": "more messages than max_turns",
    }

    def decide(self, batch: pl.DataFrame) -> pl.Series:
        c = self.config
        rules: list[tuple[pl.Expr, str]] = []
        if c.drop_empty_final_answer:
            rules.append((pl.col("len_final_chars") == 0, "empty_final_answer"))
        for role in ROLES:
            col = pl.col(f"len_{role}_chars")
            if role in c.min_chars:
                rules.append((col < c.min_chars[role], f"too_short_{role}"))
            if role in c.max_chars:
                rules.append((col > c.max_chars[role], f"too_long_{role}"))
        if c.max_turns:
            rules.append((pl.col("n_turns") > c.max_turns, "too_many_turns"))
        reason = pl.lit(None, dtype=pl.String)
        for condition, code in reversed(rules):  # the first matching rule names the reason
            reason = pl.when(condition).then(pl.lit(code)).otherwise(reason)
        return batch.select(reason.alias("reason")).to_series()
