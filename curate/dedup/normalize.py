"""Text keys and normalization shared by every dedup and decontamination stage.

A *key* says which text of a conversation is compared:

* ``conversation`` — every message's content, in order (tool-call arguments excluded);
* ``dialogue`` — the user, assistant and tool turns with each tool call's name and arguments,
  leaving out the system prompt (and the ``tools`` definitions, which are not messages): what
  near-dup compares by default, because agent traffic shares one long system prompt and tool list
  that would otherwise dominate the shingles and merge distinct requests;
* ``first_user`` — the first user turn (the prompt, for single-turn data);
* ``prompts`` — every user turn;
* ``final_answer`` — the last assistant turn;
* ``prompts_and_answers`` — every user and assistant turn (what decontamination checks).

Normalization is a polars expression (vectorized, multi-threaded). After it, text is a
sequence of words separated by single spaces with no leading/trailing space — the form the
shingling in ``minhash.py`` and ``decontaminate.py`` relies on.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from sluice.stage import StageConfig

Key = Literal["conversation", "dialogue", "first_user", "prompts", "final_answer", "prompts_and_answers"]
KEY_ROLES: dict[str, tuple[str, ...]] = {
    "conversation": ("system", "user", "assistant", "tool"),
    "dialogue": ("user", "assistant", "tool"),
    "first_user": ("user",),
    "prompts": ("user",),
    "final_answer": ("assistant",),
    "prompts_and_answers": ("user", "assistant"),
}


class NormalizeOptions(StageConfig):
    """How text is normalized before hashing (each flag is one vectorized step)."""

    unicode: Literal["NFKC", "NFC", "none"] = Field("NFKC", description="Unicode normalization form")
    lowercase: bool = Field(True, description="compare case-insensitively")
    punctuation: bool = Field(True, description="treat punctuation and symbols as spaces")
    whitespace: bool = Field(True, description="collapse every run of whitespace to one space and trim "
                                               "(always on for shingling stages)")


def key_text(key: Key, column: str = "messages") -> pl.Expr:
    """The raw text of ``key`` per row (empty string when the row has no such turn)."""
    e = pl.element()
    roles = KEY_ROLES[key]
    text = e.struct.field("content")
    if key == "dialogue":  # a tool call is the turn's content as much as its text
        fn = pl.element().struct.field("function")
        calls = e.struct.field("tool_calls").list.eval(
            pl.concat_str([fn.struct.field("name"), fn.struct.field("arguments")], separator=" ", ignore_nulls=True))
        text = pl.concat_str([text, calls.list.join(" ")], separator=" ", ignore_nulls=True)
    picked = pl.col(column).list.eval(text.filter(e.struct.field("role").is_in(list(roles))))
    if key == "first_user":
        text = picked.list.first()
    elif key == "final_answer":
        text = picked.list.last()
    else:
        text = picked.list.eval(pl.element().fill_null("")).list.join("\n")
    return text.fill_null("")


def normalize(text: pl.Expr, opts: NormalizeOptions, *, force_whitespace: bool = False) -> pl.Expr:
    """Apply ``opts`` to a string expression."""
    if opts.unicode != "none":
        text = text.str.normalize(opts.unicode)
    if opts.lowercase:
        text = text.str.to_lowercase()
    if opts.punctuation:
        text = text.str.replace_all(r"[\p{P}\p{S}]", " ")
    if opts.whitespace or force_whitespace:
        text = text.str.replace_all(r"\s+", " ").str.strip_chars(" ")
    return text


def normalized_key(batch: pl.DataFrame, key: Key, opts: NormalizeOptions, *, words: bool = True) -> pl.Series:
    """Normalized key text of every row of ``batch`` (single-spaced when ``words``)."""
    return batch.select(normalize(key_text(key), opts, force_whitespace=words).alias("text")).to_series()


def normalize_strings(texts: pl.Series, opts: NormalizeOptions) -> pl.Series:
    """Normalize plain strings (eval-set fields) exactly like conversation keys."""
    return pl.DataFrame({"t": texts.cast(pl.String).fill_null("")}).select(
        normalize(pl.col("t"), opts, force_whitespace=True)).to_series()
