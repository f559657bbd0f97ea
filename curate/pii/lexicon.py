"""Public word lists the detector and the second-opinion scan read (never a test generator's lists):

* ``first_names``: US-census first names (public domain, the ``names`` package);
* ``surnames``: the most frequent US-census surnames (same source), ranked by frequency;
* ``common_words``: English verbs, adjectives and adverbs (WordNet's lemma index as the embedded
  spaCy model ships it). Nouns are left out on purpose: WordNet lists places and people as nouns
  ("boston", "einstein"), but no name is only a verb or an adjective ("iterate", "digital");
* ``public_places``: country, territory and continent names in English, German, French and
  Spanish (Unicode CLDR, through ``babel``): not personal data by themselves (BENCHMARKS.md, "PII
  round three").

Each is empty when its source is not installed: the rules that read them then drop nothing (the
detector fails towards redacting more).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# census surnames kept as names even when they are also English words (Brown, Young); chosen on the
# measured curve (BENCHMARKS.md, "PII round three (issue #27)"): flat, the most recall at 10,000
SURNAMES_TOP = 10000


def _names_folder() -> Path | None:
    try:
        import names
    except ImportError:
        return None
    return Path(names.__file__).parent


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Census first names, lower case (empty without the ``names`` package)."""
    folder = _names_folder()
    out: set[str] = set()
    for file in ("dist.male.first", "dist.female.first"):
        if folder is not None and (folder / file).is_file():
            out |= {line.split()[0].lower() for line in (folder / file).read_text(encoding="ascii").splitlines()
                    if line.strip()}
    return frozenset(out)


@lru_cache(maxsize=1)
def surnames(top: int = SURNAMES_TOP) -> frozenset[str]:
    """The ``top`` most frequent census surnames, lower case."""
    folder = _names_folder()
    if folder is None or not (folder / "dist.all.last").is_file():
        return frozenset()
    lines = [line for line in (folder / "dist.all.last").read_text(encoding="ascii").splitlines() if line.strip()]
    return frozenset(line.split()[0].lower() for line in lines[:top])


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """English verbs, adjectives and adverbs that are neither a census first name nor a frequent surname."""
    try:
        import spacy

        from .nlp import embedded_path

        path = embedded_path()
        if path is None:
            return frozenset()
        lemmatizer = spacy.load(path, exclude=["tok2vec", "tagger", "parser", "ner", "attribute_ruler",
                                               "senter"]).get_pipe("lemmatizer")
        index = lemmatizer.lookups.get_table("lemma_index")
        words = {w.lower() for pos in ("verb", "adj", "adv") for w in index.get(pos, ()) if "_" not in w}
    except (ImportError, OSError, KeyError, ValueError):
        return frozenset()
    return frozenset(words - first_names() - surnames())


@lru_cache(maxsize=1)
def dictionary() -> frozenset[str]:
    """English dictionary words, every part of speech (WordNet's lemma index as the embedded spaCy
    model ships it, and spaCy's stop words), lower case; empty without the model."""
    try:
        import spacy
        from spacy.lang.en.stop_words import STOP_WORDS

        from .nlp import embedded_path

        words = set(STOP_WORDS)
        path = embedded_path()
        if path is not None:
            lemmatizer = spacy.load(path, exclude=["tok2vec", "tagger", "parser", "ner", "attribute_ruler",
                                                   "senter"]).get_pipe("lemmatizer")
            index = lemmatizer.lookups.get_table("lemma_index")
            words |= {w.lower() for v in index.values() for w in v if "_" not in w}
    except (ImportError, OSError, KeyError, ValueError):
        return frozenset()
    return frozenset(words)


@lru_cache(maxsize=1)
def public_places() -> frozenset[str]:
    """Country, territory and continent names (CLDR, en/de/fr/es) and common abbreviations, lower case."""
    try:
        from babel import Locale
    except ImportError:
        return frozenset()
    out = {"u.s.", "u.s.a.", "usa", "us", "uk", "u.k.", "eu", "e.u.", "uae", "ussr", "america"}
    for lang in ("en", "de", "fr", "es"):
        out |= {v.lower() for v in Locale(lang).territories.values()}
    return frozenset(out - {"world", "welt", "monde", "mundo"})  # ordinary words, never a finding to drop by name


def in_dictionary(word: str) -> bool:
    """``word`` or its stem (plural, -'s, -ing, -ed) is an English dictionary word."""
    w = word.lower().replace("’", "'")
    d = dictionary()
    return w in d or any(w.endswith(end) and w[:-len(end)] in d for end in ("s", "es", "'s", "ing", "ed", "d")) \
        or (w.endswith("ies") and w[:-3] + "y" in d)
