"""Language ID accuracy by text length, per detector, on real English and Chinese text.

Texts: prompts and answers of Alpaca random_9k and LLaMA-Factory's alpaca_en_demo (English),
alpaca_zh_demo and dpo_zh_demo (Chinese), with translation requests left out (their answers are
in other languages). Each text is cut to its first k words (Chinese: k characters) for several
k, cleaned as the stage cleans, and identified by fastText lid.176 and by lingua. Prints, per
detector and length: accuracy, and for each confidence threshold the share labelled und and the
error rate among all texts (a wrong, determined label is what drops a row). Last, the stage as
configured (short → lingua, und below the calibrated thresholds) on the whole texts.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_language.py --shared ../shared/data --per-source 600

Then the stage with and without fastText's candidates for lingua (``fasttext_candidates`` 5 vs 0)
on three sets: these texts, spaCy's example sentences (real sentences written by spaCy's
contributors for 60+ languages, ``spacy.lang.*.examples``; only languages lid.176 knows) and
Faker's lorem sentences in 24 locales (word salad in the language, a second check).
``--speed`` times the stage with and without those candidates instead (interleaved rounds).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = (1, 2, 3, 5, 8, 13, 21, 10_000)
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def texts(shared: Path, per_source: int, seed: int) -> list[tuple[str, str, str]]:
    """(label, source, text) of real texts whose language is known from their source."""
    from sluice.curate.quality.language import _SWITCH

    rng = random.Random(seed)
    lf = shared / "formats/llamafactory"
    out = []

    def add(label, source, rows):
        rows = [r for r in rows if r and r.strip()]
        for t in rng.sample(rows, min(per_source, len(rows))):
            cjk = len(_CJK.findall(t)) / max(1, len(re.findall(r"\w", t)))
            if (label == "zh") == (cjk > 0.3):  # drop Chinese rows that are mostly Latin and the reverse
                out.append((label, source, t))

    for name, path in (("alpaca_9k", shared / "instructions/alpaca_random_9k/random_9k.json"),
                       ("alpaca_en_demo", lf / "alpaca_en_demo.json")):
        rows = [r for r in json.loads(path.read_text()) if not re.search(_SWITCH, r["instruction"] + r["input"])]
        add("en", f"{name}/prompt", [r["instruction"] + " " + r["input"] for r in rows])
        add("en", f"{name}/answer", [r["output"] for r in rows])
    zh = json.loads((lf / "alpaca_zh_demo.json").read_text())
    add("zh", "alpaca_zh_demo/prompt", [r["instruction"] + r["input"] for r in zh])
    add("zh", "alpaca_zh_demo/answer", [r["output"] for r in zh])
    dpo = json.loads((lf / "dpo_zh_demo.json").read_text())
    add("zh", "dpo_zh_demo/prompt", [r["conversations"][0]["value"] for r in dpo])
    add("zh", "dpo_zh_demo/chosen", [r["chosen"]["value"] for r in dpo])
    return out


NORWEGIAN = {"nb": "nb", "nn": "nb", "no": "nb"}  # one written language for scoring (lid.176 says no)
FAKER_LOCALES = ("ar_AA", "az_AZ", "bn_BD", "cs_CZ", "da_DK", "de_DE", "el_GR", "en_US", "es_ES", "fa_IR", "fr_FR",
                 "he_IL", "hy_AM", "it_IT", "ja_JP", "mk_MK", "nl_NL", "pl_PL", "ru_RU", "th_TH", "tl_PH", "uk_UA",
                 "vi_VN", "zh_CN")


def spacy_examples(known: set[str]) -> list[tuple[str, str]]:
    """(language, sentence) from spaCy's per-language example sentences, for languages in ``known``."""
    import importlib
    import pkgutil

    import spacy.lang

    out = []
    for mod in pkgutil.iter_modules(spacy.lang.__path__):
        lang = NORWEGIAN.get(mod.name, mod.name)
        if not mod.ispkg or lang not in known:
            continue
        try:
            examples = importlib.import_module(f"spacy.lang.{mod.name}.examples")
        except ImportError:
            continue
        out += [(lang, t) for t in getattr(examples, "sentences", [])]
    return out


def faker_lorem(per_length: int = 10) -> list[tuple[str, str]]:
    from faker import Faker

    out = []
    for loc in FAKER_LOCALES:
        fake = Faker(loc)
        fake.seed_instance(1)
        out += [(loc[:2], fake.sentence(nb_words=n)) for n in (3, 6, 12) for _ in range(per_length)]
    return out


def stage_comparison(sets: dict[str, list[tuple[str, str]]]) -> None:
    from sluice.curate.quality.language import UND, Language

    print("\nthe stage on three sets: correct / und / wrong (fasttext_candidates 0 = lingua over the 29 only)")
    for k in (0, 5):
        stage = Language(fasttext_candidates=k)
        stage.setup()
        cells = []
        for name, rows in sets.items():
            langs, _c, _w = stage.identify([t for _, t in rows])
            got = [NORWEGIAN.get(x, x) for x in langs]
            ok = sum(g == x for (g, _), x in zip(rows, got)) / len(rows)
            und = got.count(UND) / len(rows)
            cells.append(f"{name} (n={len(rows)}) {ok:.3f} / {und:.3f} / {1 - ok - und:.3f}")
        print(f"  fasttext_candidates={k}: " + "  |  ".join(cells))


def prefix(text: str, k: int) -> str:
    from sluice.curate.quality.language import _WORDS

    units = list(_WORDS.finditer(text))
    return text if len(units) <= k else text[: units[k - 1].end()]


def speed(shared: Path, rows: int = 3000, rounds: int = 3) -> None:
    """The stage's sides/s with and without fastText's candidates, interleaved on Alpaca 9k sides."""
    import time

    from sluice.curate.quality.language import Language

    alpaca = json.loads((shared / "instructions/alpaca_random_9k/random_9k.json").read_text())[:rows]
    sides = [r["instruction"] + " " + r["input"] for r in alpaca] + [r["output"] for r in alpaca]
    stages = {k: Language(fasttext_candidates=k) for k in (0, 5)}
    for stage in stages.values():
        stage.setup()
        stage.identify(sides[:200])  # models loaded before timing
    took = dict.fromkeys(stages, 0.0)
    for n in range(rounds):
        for k in (0, 5) if n % 2 == 0 else (5, 0):
            start = time.perf_counter()
            stages[k].identify(sides)
            took[k] += time.perf_counter() - start
    print(f"\nspeed on {len(sides)} Alpaca sides, {rounds} interleaved rounds: "
          + ", ".join(f"fasttext_candidates={k} {rounds * len(sides) / t:.0f} sides/s" for k, t in took.items())
          + f"; time ratio 5/0 = {took[5] / took[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--per-source", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", action="store_true", help="only time the stage with and without fastText's candidates")
    args = ap.parse_args()
    if args.speed:
        return speed(args.shared)
    from sluice.curate.quality.language import (SHORT_LANGUAGES, Language, _fasttext, _lingua, clean, load_model,
                                                load_short_detector, word_count)

    data = texts(args.shared, args.per_source, args.seed)
    print(f"{len(data)} texts: " + ", ".join(f"{lab} {sum(1 for d in data if d[0] == lab)}" for lab in ("en", "zh")))
    ft, lg = load_model(), load_short_detector(SHORT_LANGUAGES)
    detectors = {"fasttext": lambda t: _fasttext(ft, t), "lingua": lambda t: _lingua(lg, t)}
    results: dict[tuple[str, int], list[tuple[bool, float]]] = defaultdict(list)
    for label, _src, text in data:
        cleaned = clean(text[:2000])
        for k in LENGTHS:
            piece = prefix(cleaned, k)
            if not piece or (k < 10_000 and len(prefix(cleaned, k + 1)) == len(piece) and k > 1):
                continue  # the text is shorter than k words: counted at its own length only
            for name, detect in detectors.items():
                lang, conf = detect(piece)
                results[(name, k)].append((lang == label, conf))
    print("\naccuracy (top label) and, per und threshold t: und share / error rate among all texts")
    print("detector  words     n   acc  " + "  ".join(f"t={t:<4}" for t in THRESHOLDS))
    for name in detectors:
        for k in LENGTHS:
            rows = results[(name, k)]
            if not rows:
                continue
            acc = sum(ok for ok, _ in rows) / len(rows)
            cells = []
            for t in THRESHOLDS:
                und = sum(conf < t for _, conf in rows) / len(rows)
                err = sum((not ok) and conf >= t for ok, conf in rows) / len(rows)
                cells.append(f"{und:.2f}/{err:.3f}")
            print(f"{name:9s} {('all' if k == 10_000 else k):>5} {len(rows):5d} {acc:.3f}  " + "  ".join(cells))
    stage = Language()
    stage.setup()
    langs, _confs, _prose = stage.identify([t for _, _, t in data])
    words = [word_count(clean(t[:2000])) for _, _, t in data]
    by_len: dict[str, list[str]] = defaultdict(list)
    for (label, _src, _t), lang, n in zip(data, langs, words):
        bucket = "1" if n <= 1 else "2-3" if n <= 3 else "4-7" if n <= 7 else "8-20" if n <= 20 else ">20"
        by_len[bucket].append("ok" if lang == label else "und" if lang == "und" else "wrong")
    print(f"\nthe stage as configured ({stage.config.short_words=}, {stage.config.und_below=}) on whole texts:")
    for bucket in ("1", "2-3", "4-7", "8-20", ">20"):
        v = by_len.get(bucket, [])
        if v:
            print(f"  words {bucket:>5}: n={len(v):5d} correct {v.count('ok') / len(v):.3f}  und {v.count('und') / len(v):.3f}"
                  f"  wrong {v.count('wrong') / len(v):.3f}")
    chars = [c for lab, _s, t in data if lab == "zh" for c in _CJK.findall(t)[:1]]
    single, _c, _w = stage.identify(chars)
    print(f"  single Chinese characters (first of each zh text): n={len(chars)} zh {single.count('zh') / len(chars):.3f} "
          f"und {single.count('und') / len(chars):.3f} (und is kept)")
    allv = [x for v in by_len.values() for x in v]
    print(f"  all: n={len(allv)} correct {allv.count('ok') / len(allv):.3f} und {allv.count('und') / len(allv):.3f} "
          f"wrong {allv.count('wrong') / len(allv):.4f}")
    known = {NORWEGIAN.get(lab.removeprefix("__label__"), lab.removeprefix("__label__"))
             for lab in ft.predict("hello world", k=176)[0]}
    stage_comparison({"en/zh": [(lab, t) for lab, _s, t in data], "spaCy examples": spacy_examples(known),
                      "Faker lorem": faker_lorem()})


if __name__ == "__main__":
    main()
