"""normalize — Unicode and whitespace normalization of message text.

Reads ``messages``; rewrites ``messages`` (content only; roles, tool calls and extras are
untouched). Drops nothing.

    - stage: normalize
      form: NFC            # NFC | NFKC | none
      strip: true          # trim leading/trailing whitespace of each message
      collapse_spaces: true  # runs of spaces/tabs → one space (newlines kept)
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from sluice.stage import StageConfig, Transform


class NormalizeConfig(StageConfig):
    form: Literal["NFC", "NFKC", "none"] = Field("NFC", description="Unicode normalization form")
    strip: bool = Field(True, description="trim whitespace at both ends of each message")
    collapse_spaces: bool = Field(True, description="collapse runs of spaces and tabs (newlines are kept)")
    remove_control: bool = Field(True, description="remove control characters other than \\n and \\t")


class Normalize(Transform):
    name = "normalize"
    Config = NormalizeConfig
    reads = ("messages",)
    rewrites = ("messages",)
    kinds = ("conversation",)

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        text = pl.element().struct.field("content")
        if c.form != "none":
            text = text.str.normalize(c.form)
        if c.remove_control:
            text = text.str.replace_all(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "")
        if c.collapse_spaces:
            text = text.str.replace_all(r"[ \t]{2,}", " ")
        if c.strip:
            text = text.str.strip_chars()
        messages = pl.col("messages").list.eval(pl.element().struct.with_fields(text.alias("content")))
        return batch.with_columns(messages)
