"""One- and two-word messages, with and without the conversation as context (``language`` stage).

Real short texts labelled by their source's language: single words and two-word phrases (two
consecutive words of one sentence) cut at random from pii_dev's real text — English tweets
(WNUT-17), German and French newspapers (Europeana), Spanish clinical notes (MEDDOCAN) — and, for
a second script, one or two characters from LLaMA-Factory's Chinese Alpaca answers. Words inside
labelled entities (names, places: in no language of their own) and words without letters are not
drawn. Each short text is the user turn of a conversation whose assistant turn is the first 30
words of another text of the same source (``same``) or of another language (``cross``: the
context misleads). Reported per condition, before (``context_words: 0``) and after (default):
correct / und / wrong on the short side, and the share of rows the quickstart's language filter
drops (all of these languages are kept, so every drop is a loss). ``--alpaca`` also reports the
drop rate on Alpaca rows (English prompts and answers; one-word answers such as "Positive").

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_language_context.py --shared ../shared/data \\
        --per-language 300 --alpaca
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

import polars as pl

WORD = re.compile(r"[^\W\d_]{2,}")
SOURCES = {"en": "wnut17_en.jsonl", "de": "europeana_de_lft.jsonl", "fr": "europeana_fr_bnf.jsonl",
           "es": "meddocan_es.jsonl"}
KEEP = ["en", "de", "fr", "es", "zh", "ja", "ru"]  # the quickstart's keep list


def words_outside_entities(rec: dict) -> list[list[tuple[int, int, str]]]:
    """Runs of consecutive words (start, end, word) between punctuation, entities left out."""
    text, spans = rec["text"], rec.get("spans") or []
    runs, run, last = [], [], None
    for m in WORD.finditer(text):
        inside = any(s["start"] < m.end() and m.start() < s["end"] for s in spans)
        gap = text[last:m.start()] if last is not None else ""
        if inside or (run and gap.strip()):  # punctuation or an entity breaks the run
            runs.append(run)
            run = []
        if not inside:
            run.append((m.start(), m.end(), m.group()))
        last = m.end()
    runs.append(run)
    return [r for r in runs if r]


def short_items(shared: Path, per_language: int, rng: random.Random) -> list[dict]:
    items = []
    for lang, name in SOURCES.items():
        recs = [json.loads(line) for line in (shared / "pii_dev" / name).read_text(encoding="utf-8").split("\n")
                if line.strip()]
        rng.shuffle(recs)
        contexts = [" ".join(r["text"].split()[:30]) for r in recs[per_language:] if len(r["text"].split()) >= 10]
        for rec in recs[:per_language]:
            runs = words_outside_entities(rec)
            flat = [w for r in runs for w in r]
            pairs = [(a, b) for r in runs for a, b in zip(r, r[1:])]
            if flat:
                items.append({"lang": lang, "k": 1, "text": rng.choice(flat)[2], "context": rng.choice(contexts)})
            if pairs:
                a, b = rng.choice(pairs)
                items.append({"lang": lang, "k": 2, "text": f"{a[2]} {b[2]}", "context": rng.choice(contexts)})
    zh = json.loads((shared / "formats/llamafactory/alpaca_zh_demo.json").read_text(encoding="utf-8"))
    zh_texts = [r["output"] for r in zh if len(re.findall(r"[\u4e00-\u9fff]", r["output"])) >= 30]
    rng.shuffle(zh_texts)
    contexts = ["".join(re.findall(r"[\u4e00-\u9fff，。]", t))[:60] for t in zh_texts[per_language:]]
    for t in zh_texts[:per_language]:
        han = re.findall(r"[\u4e00-\u9fff]+", t)
        runs = [h for h in han if len(h) >= 2]
        if runs:
            h = rng.choice(runs)
            i = rng.randrange(len(h) - 1)
            items.append({"lang": "zh", "k": 1, "text": h[i], "context": rng.choice(contexts)})
            items.append({"lang": "zh", "k": 2, "text": h[i:i + 2], "context": rng.choice(contexts)})
    # the cross condition: the same short texts, the context of another language
    by_lang = {}
    for it in items:
        by_lang.setdefault(it["lang"], []).append(it["context"])
    for it in items:
        other = rng.choice([lang for lang in by_lang if lang != it["lang"]])
        it["cross"] = rng.choice(by_lang[other])
        it["cross_lang"] = other
    return items


def conversations(items: list[dict], key: str) -> pl.DataFrame:
    return pl.DataFrame({"messages": [[{"role": "user", "content": it["text"]},
                                       {"role": "assistant", "content": it[key]}] for it in items]})


def evaluate(items: list[dict], key: str, **cfg) -> dict:
    from sluice.curate.quality.language import Language, LanguageFilter

    df = conversations(items, key)
    scored = df.hstack(Language(**cfg).score(df))
    reasons = LanguageFilter(keep=KEEP, drop_mismatch=True).decide(scored)["reason"].to_list()
    out: dict = {}
    for k in (1, 2):
        c = Counter()
        for it, lang, r in zip(items, scored["lang_user"].to_list(), reasons):
            if it["k"] != k:
                continue
            c["n"] += 1
            c["correct" if lang == it["lang"] else "und" if lang == "und" else "wrong"] += 1
            c["to_context"] += key == "cross" and lang == it.get("cross_lang")
            c["dropped"] += r is not None
        out[k] = c
    return out


def alpaca_drop(shared: Path, **cfg) -> tuple[int, int, Counter]:
    from sluice.curate.quality.language import Language, LanguageFilter

    rows = json.loads((shared / "instructions/alpaca_random_9k/random_9k.json").read_text())
    df = pl.DataFrame({"messages": [[{"role": "user", "content": (r["instruction"] + "\n\n" + r["input"]).strip()},
                                     {"role": "assistant", "content": r["output"]}] for r in rows]})
    scored = df.hstack(Language(**cfg).score(df))
    reasons = LanguageFilter(keep=KEEP, drop_mismatch=True).decide(scored)["reason"].to_list()
    answers = Counter(scored["lang_assistant"].to_list())
    return sum(r is not None for r in reasons), len(rows), answers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--per-language", type=int, default=300)
    ap.add_argument("--seed", type=int, default=32)
    ap.add_argument("--alpaca", action="store_true")
    ap.add_argument("--floors", type=float, nargs="*", default=[], help="context_floor values to sweep")
    args = ap.parse_args()
    items = short_items(args.shared, args.per_language, random.Random(args.seed))
    print(f"{len(items)} short texts:", dict(Counter((it["lang"], it["k"]) for it in items)))
    for key in ("same", "cross"):
        if key == "same":
            for it in items:
                it["same"] = it["context"]
        for name, cfg in (("before (context_words: 0)", {"context_words": 0}), ("after (default)", {})):
            res = evaluate(items, key, **cfg)
            for k, c in res.items():
                n = c["n"]
                extra = f" wrong=context's language {c['to_context'] / n:.3f}" if key == "cross" else ""
                print(f"{key:5s} {name:26s} {k} word(s) n={n:4d} correct={c['correct'] / n:.3f} und={c['und'] / n:.3f}"
                      f" wrong={c['wrong'] / n:.3f} dropped={c['dropped'] / n:.3f}{extra}")
    for floor in args.floors:
        same, cross = evaluate(items, "same", context_floor=floor), evaluate(items, "cross", context_floor=floor)
        print(f"context_floor={floor:.2f}: same 1w correct={same[1]['correct'] / same[1]['n']:.3f} "
              f"2w correct={same[2]['correct'] / same[2]['n']:.3f} dropped={same[1]['dropped'] / same[1]['n']:.3f} | "
              f"cross 1w to context={cross[1]['to_context'] / cross[1]['n']:.3f} "
              f"2w to context={cross[2]['to_context'] / cross[2]['n']:.3f}")
    if args.alpaca:
        for name, cfg in (("before", {"context_words": 0}), ("after", {})):
            dropped, n, answers = alpaca_drop(args.shared, **cfg)
            print(f"alpaca random_9k {name}: {dropped}/{n} rows dropped by the language filter; "
                  f"answers labelled und={answers.get('und', 0)}, not en/und={n - answers.get('en', 0) - answers.get('und', 0)}")


if __name__ == "__main__":
    main()
