"""Per-conversation features the shift tests compare, computed batch by batch (bounded memory).

Each window is reduced to one small row per conversation — numbers and category labels, never
text — so a day of a million conversations costs a few columns in memory:

- ``chars`` (user + assistant characters), ``turns`` (user turns), ``tool_calls`` (calls made);
- ``tool_call`` (the conversation made a call), ``tool_names`` (names of the tools called; a list);
- ``lang``: the recipe's ``lang`` column when present, else the language stage's identification
  of the user turns (``curate/quality/language.py``) by fastText alone, for speed;
- ``refusal``: the heuristics stage's ``refusal_pattern`` when present, else the same patterns
  (``heuristics.DEFAULT_REFUSALS``) over the assistant turns;
- ``pii_entities``: entity types ``pii_detect`` found in the row (only when ``pii_findings`` exists);
- ``feedback``: up / down / none from ``feedback.thumb``;
- ``meta_<key>``: the policy's metadata keys (``model``, ``route``, ``app``) as categories.
"""

from __future__ import annotations

import polars as pl

from sluice.curate.quality.heuristics import DEFAULT_REFUSALS
from sluice.curate.quality.text import role_text

NUMERIC = ("chars", "turns", "tool_calls")


def _embed_stage():
    """The default embedder (the recipe's ``embed`` stage with its defaults), set up."""
    from sluice.curate.quality.embed import Embed

    stage = Embed(Embed.Config())
    stage.setup()
    return stage


def _language():
    from sluice.curate.quality.language import Language

    # fastText only (short_words 0): lingua's short-text path costs ~4.6 ms a row here (BENCHMARKS.md, #33);
    # both windows go through the same detector, so their mixes compare
    stage = Language(Language.Config(short_words=0))
    stage.setup()
    return stage


REUSABLE = ("lang", "refusal_pattern")


def features(batch: pl.DataFrame, metadata_keys: list[str], language=None,
             reuse: tuple[str, ...] = REUSABLE) -> pl.DataFrame:
    """One row of features per conversation of ``batch`` (a conversation-kind table). ``reuse``: the
    recipe's columns read instead of recomputed (drift names those both windows have: one rule on
    both sides)."""
    msgs = pl.col("messages")
    user, assistant = role_text("user"), role_text("assistant")
    calls = msgs.list.eval(pl.element().struct.field("tool_calls").list.len().fill_null(0)).list.sum()
    names = msgs.list.eval(pl.element().struct.field("tool_calls").list.explode(keep_nulls=False, empty_as_null=False)
                           .struct.field("function").struct.field("name").drop_nulls())
    refusal = pl.lit(False)
    if "refusal_pattern" in reuse and "refusal_pattern" in batch.columns:
        refusal = pl.col("refusal_pattern").is_not_null()
    else:
        refusal = assistant.str.contains("(?i)" + "|".join(f"(?:{p})" for p in DEFAULT_REFUSALS)).fill_null(False)
    thumb = pl.col("feedback").struct.field("thumb")
    out = batch.select(
        pl.col("id"),
        (user.str.len_chars().fill_null(0) + assistant.str.len_chars().fill_null(0)).alias("chars"),
        msgs.list.eval(pl.element().struct.field("role") == "user").list.sum().alias("turns"),
        calls.alias("tool_calls"),
        (calls > 0).alias("tool_call"),
        names.alias("tool_names"),
        refusal.alias("refusal"),
        pl.when(thumb == -1).then(pl.lit("down")).when(thumb == 1).then(pl.lit("up")).otherwise(pl.lit("none"))
        .alias("feedback"),
        *[pl.col("metadata").str.json_path_match(f"$.{k}").alias(f"meta_{k}") for k in metadata_keys],
    )
    if "lang" in reuse and "lang" in batch.columns:
        out = out.with_columns(batch["lang"].fill_null("und").alias("lang"))
    else:
        language = language or _language()
        langs, _, _ = language.identify(batch.select(user.fill_null(""))["messages"].to_list())
        out = out.with_columns(pl.Series("lang", langs, dtype=pl.String).fill_null("und"))
    if "pii_findings" in batch.columns:
        ents = batch.select(pl.col("pii_findings").list.eval(pl.element().struct.field("entity")).list.unique()
                            .alias("pii_entities"))
        out = out.with_columns(ents["pii_entities"])
    return out
