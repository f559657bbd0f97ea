"""Ingest warnings: what OpenAI's fine-tuning data checker flags, per row and counted.

A row that parses is kept (nothing here quarantines); the checks add a list column
``ingest_flags`` (null when the row is clean) and count each flag for the manifest
(``ingest.warnings``, and the ingest stage's ``counters``):

* ``no_user_turn`` — a conversation (or a preference prompt) without a user message;
* ``no_assistant_turn`` — a preference or kto answer without an assistant message;
* ``consecutive_same_role`` — two user or two assistant messages in a row (tool results between
  an assistant's call and its next turn are the normal agent shape and do not count);
* ``missing_system`` — info only: no system message;
* ``over_token_limit`` — the conversation is longer than ``max_tokens``: counted with the tokenizer
  at ``tokenizer`` (a local path or hub id of a ``transformers`` tokenizer) when given, else
  estimated as characters / ``chars_per_token``;
* ``empty_chosen`` / ``empty_rejected`` / ``empty_completion`` — an answer with no text and no tool call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

FLAGS: dict[str, str] = {
    "no_user_turn": "no user message",
    "no_assistant_turn": "the answer has no assistant message",
    "consecutive_same_role": "two user or two assistant messages in a row",
    "missing_system": "info: no system message",
    "over_token_limit": "longer than max_tokens (tokenizer, or characters / chars_per_token)",
    "empty_chosen": "the chosen answer has no text and no tool call",
    "empty_rejected": "the rejected answer has no text and no tool call",
    "empty_completion": "the completion has no text and no tool call",
}
COLUMN = "ingest_flags"


@dataclass(frozen=True)
class CheckOptions:
    max_tokens: int = 16_385  # the context OpenAI's checker holds fine-tuning examples to
    tokenizer: str | None = None
    chars_per_token: float = 4.0


_TOKENIZERS: dict[str, object] = {}


def _roles(col: str) -> pl.Expr:
    return pl.col(col).list.eval(pl.element().struct.field("role"))


def _has(col: str, role: str) -> pl.Expr:
    return _roles(col).list.contains(role).fill_null(False)


def _chars(col: str) -> pl.Expr:
    e = pl.element()
    args = e.struct.field("tool_calls").list.eval(
        pl.element().struct.field("function").struct.field("arguments").str.len_chars()).list.sum().fill_null(0)
    return pl.col(col).list.eval(e.struct.field("content").str.len_chars().fill_null(0) + args).list.sum().fill_null(0)


def _empty_answer(col: str) -> pl.Expr:
    e = pl.element()
    said = e.struct.field("content").fill_null("").str.strip_chars().str.len_chars() \
        + e.struct.field("tool_calls").list.len().fill_null(0)
    answered = pl.col(col).list.eval(said.filter(e.struct.field("role") == "assistant")).list.sum().fill_null(0)
    return answered == 0


def _repeated(col: str) -> pl.Expr:
    roles = _roles(col).list.eval(pl.element().filter(pl.element() != "system"))
    pair = (pl.element() == pl.element().shift(1)) & pl.element().is_in(["user", "assistant"])
    same = roles.list.eval(pair.fill_null(False)).list.any()
    return same.fill_null(False)


def _token_counts(texts: list[str], opts: CheckOptions) -> list[int]:
    if opts.tokenizer not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _TOKENIZERS[opts.tokenizer] = AutoTokenizer.from_pretrained(opts.tokenizer)
    tok = _TOKENIZERS[opts.tokenizer]
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def _over_limit(df: pl.DataFrame, cols: tuple[str, ...], opts: CheckOptions) -> pl.Series:
    chars = df.select(sum(_chars(c) for c in cols).alias("n"))["n"]
    if opts.tokenizer is None:
        return (chars / opts.chars_per_token) > opts.max_tokens
    # only rows that could be over the limit are tokenized (no tokenizer packs 20+ characters per token)
    maybe = (chars > opts.max_tokens).to_list()
    over = [False] * df.height
    idx = [i for i, m in enumerate(maybe) if m]
    if idx:
        e = pl.element()
        texts = df[idx].select(pl.concat_str([pl.col(c).list.eval(e.struct.field("content").fill_null(""))
                                              .list.join("\n") for c in cols], separator="\n").alias("t"))["t"]
        for i, n in zip(idx, _token_counts(texts.to_list(), opts)):
            over[i] = n > opts.max_tokens
    return pl.Series(over)


def flag(table: pa.Table, kind: str, opts: CheckOptions, counts: Counter) -> pa.Table:
    """``table`` with the ``ingest_flags`` column added; adds each flag's rows to ``counts``."""
    df = pl.from_arrow(table)
    if kind == "conversation":
        cols = ("messages",)
        checks = {"no_user_turn": ~_has("messages", "user"), "consecutive_same_role": _repeated("messages"),
                  "missing_system": ~_has("messages", "system")}
    elif kind == "preference":
        cols = ("prompt", "chosen", "rejected")
        checks = {"no_user_turn": ~_has("prompt", "user"),
                  "no_assistant_turn": ~_has("chosen", "assistant") | ~_has("rejected", "assistant"),
                  "consecutive_same_role": _repeated("prompt"), "missing_system": ~_has("prompt", "system"),
                  "empty_chosen": _empty_answer("chosen"), "empty_rejected": _empty_answer("rejected")}
    else:  # kto
        cols = ("prompt", "completion")
        checks = {"no_user_turn": ~_has("prompt", "user"), "no_assistant_turn": ~_has("completion", "assistant"),
                  "missing_system": ~_has("prompt", "system"), "empty_completion": _empty_answer("completion")}
    found = df.select(**{name: expr.fill_null(False) for name, expr in checks.items()}) if df.height else \
        pl.DataFrame({name: pl.Series([], dtype=pl.Boolean) for name in checks})
    found = found.with_columns(_over_limit(df, cols, opts).alias("over_token_limit")) if df.height else \
        found.with_columns(pl.lit(False).alias("over_token_limit"))
    for name in found.columns:
        counts[name] += int(found[name].sum())
    names = found.columns
    flags = found.select(pl.concat_list([pl.when(pl.col(n)).then(pl.lit(n)) for n in names])
                         .list.drop_nulls().alias(COLUMN))[COLUMN]
    flags = pl.select(pl.when(flags.list.len() > 0).then(flags)).to_series()
    return table.append_column(COLUMN, flags.to_arrow().cast(pa.list_(pa.string())))
