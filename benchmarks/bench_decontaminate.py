"""Decontamination recall by edit kind and item length, and false positives on clean prompts.

Plants eval items from the shared eval sets (GSM8K, HumanEval, BBH and CommonsenseQA samples)
and the short TruthfulQA / IFEval / MT-bench / Arena-style items of
benchmarks/devsets/decontamination/ into 5,000 clean Alpaca prompts, each item under two of these
edits: verbatim; light edits (case, punctuation, whitespace, one word swapped, one word dropped,
a ``Question:`` prefix); embedded in a longer prompt. Scores once with the ``contamination``
stage (key: prompts, as the quickstart), then sweeps ``decontaminate``'s settings and prints the
curve, recall by edit kind and by item length, and the false-positive rate on the clean prompts.
The references are read the ways users give them: JSONL, JSONL.gz, CSV, nested JSON and a
``datasets`` save_to_disk folder.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_decontaminate.py --shared ../shared/data
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "benchmarks" / "devsets" / "decontamination"
LIGHT = ("case", "punctuation", "whitespace", "word_swap", "word_drop", "question_prefix")
KINDS = ("verbatim", *LIGHT, "embedded")


def edit(text: str, kind: str, rng: random.Random, filler: list[str]) -> str:
    words = text.split(" ")
    if kind == "verbatim":
        return text
    if kind == "case":
        return rng.choice([text.lower(), text.upper(), text.title()])
    if kind == "punctuation":
        return rng.choice([re.sub(r"[^\w\s]", "", text), re.sub(r"([.?!,])", r" \1 ", text), text.rstrip(".?!") + "!!"])
    if kind == "whitespace":
        return re.sub(r" ", lambda _m: rng.choice([" ", "  ", "\n", "\t"]), text)
    if kind in ("word_swap", "word_drop"):
        i = rng.randrange(len(words))
        words = words[:i] + ([rng.choice(filler)] if kind == "word_swap" else []) + words[i + 1:]
        return " ".join(words)
    if kind == "question_prefix":
        return rng.choice(["Question: ", "Q: ", "Question:\n"]) + text + rng.choice(["", "\nAnswer:"])
    if kind == "embedded":
        before, after = rng.choice(filler_prompts), rng.choice(filler_prompts)
        return rng.choice([f"{before}\n\nAlso, {text}\n\nThanks!", f"I need help with this one. {text} {after}",
                           f"{before} By the way: {text}"])
    raise ValueError(kind)


filler_prompts: list[str] = []


def load_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def build(shared: Path, tmp: Path, clean_n: int, seed: int):
    rng = random.Random(seed)
    alpaca = json.loads((shared / "instructions/alpaca_random_9k/random_9k.json").read_text())
    rng.shuffle(alpaca)
    clean = [(r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")) for r in alpaca[:clean_n]]
    filler_prompts[:] = [r["instruction"] for r in alpaca[clean_n:clean_n + 2000]]
    filler = sorted({w for t in filler_prompts for w in re.findall(r"[a-z]{4,}", t)})
    ev = shared / "evalsets"
    gsm = load_jsonl(ev / "gsm8k/test.jsonl")
    he = load_jsonl(ev / "humaneval/HumanEval.jsonl.gz")
    bbh = load_jsonl(ev / "bbh_sample/collated_bbh_200_samples.jsonl")
    csqa = load_jsonl(ev / "commonsenseqa_sample/commonsenseqa_200_samples.jsonl")
    short = load_jsonl(DEV / "short_items.jsonl")
    # references as users give them: CSV, nested JSONL, a save_to_disk folder
    pl.DataFrame(short).write_csv(tmp / "short_items.csv")
    import datasets

    datasets.Dataset.from_list([{k: r[k] for k in ("input", "target", "category")} for r in bbh]).save_to_disk(
        str(tmp / "bbh_disk"))
    refs = [
        {"name": "gsm8k", "path": str(ev / "gsm8k/test.jsonl"), "fields": ["question", "answer"]},
        {"name": "humaneval", "path": str(ev / "humaneval/HumanEval.jsonl.gz"), "fields": ["prompt", "canonical_solution"]},
        {"name": "bbh", "path": str(tmp / "bbh_disk")},
        {"name": "csqa", "path": str(ev / "commonsenseqa_sample/commonsenseqa_200_samples.jsonl")},
        {"name": "short", "path": str(tmp / "short_items.csv"), "fields": ["prompt"], "id_field": "id"},
    ]
    items = []  # (set, text to plant)
    items += [("gsm8k", r["question"]) for r in rng.sample(gsm, 150)]
    items += [("humaneval", r["prompt"].strip()) for r in rng.sample(he, 60)]
    for r in rng.sample(bbh, 80):  # with the inline options, or the question alone
        text = r["input"]
        items.append(("bbh", text if rng.random() < 0.5 else text.split("\nOptions:")[0]))
    for r in rng.sample(csqa, 80):
        q = r["question"]
        options = "\n".join(f"{c['label']}. {c['text']}" for c in q["choices"])
        items.append(("csqa", q["stem"] if rng.random() < 0.5 else f"{q['stem']}\n{options}"))
    items += [(r["style"], r["prompt"]) for r in short]
    planted = []  # (prompt, set, kind, words)
    for name, text in items:
        for kind in rng.sample(KINDS, 2):
            planted.append((edit(text, kind, rng, filler), name, kind, len(text.split())))
    return clean, planted, refs


def stress_refs(shared: Path, tmp: Path) -> list[dict]:
    lf = shared / "formats/llamafactory"
    prompts = [r["chosen"].split("\n\nAssistant:")[0].removeprefix("\n\nHuman: ")
               for r in load_jsonl(shared / "preferences/hh_rlhf_harmless/harmless-base_test.jsonl.gz")]
    prompts += [r["conversations"][0]["value"] for r in json.loads((lf / "dpo_en_demo.json").read_text())]
    prompts += [r["messages"][0]["content"] for r in json.loads((lf / "kto_en_demo.json").read_text())]
    prompts += [r["conversations"][0]["value"] for r in json.loads((lf / "glaive_toolcall_en_demo.json").read_text())]
    path = tmp / "stress.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "prompt": p}) + "\n" for i, p in enumerate(prompts)))
    return [{"name": "stress", "path": str(path), "fields": ["prompt"]}]


def bucket(words: int) -> str:
    return "<8" if words < 8 else "8-12" if words < 13 else "13-30" if words <= 30 else ">30"


def evaluate(scored: pl.DataFrame, n_clean: int, planted, cfg: dict) -> dict:
    from sluice.curate.dedup.decontaminate import Decontaminate

    flagged = Decontaminate(**cfg).decide(scored)["reason"].is_not_null().to_list()
    by_kind, by_len = defaultdict(list), defaultdict(list)
    for (_, _name, kind, words), hit in zip(planted, flagged[n_clean:]):
        by_kind[kind].append(hit)
        by_len[bucket(words)].append(hit)
    light = [h for k in LIGHT for h in by_kind[k]]
    rate = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    return {"fp": sum(flagged[:n_clean]), "fp_rate": sum(flagged[:n_clean]) / n_clean,
            "verbatim": rate(by_kind["verbatim"]), "light": rate(light), "embedded": rate(by_kind["embedded"]),
            "by_kind": {k: rate(by_kind[k]) for k in KINDS}, "by_len": {k: (rate(v), len(v)) for k, v in by_len.items()},
            "fp_rows": [i for i in range(n_clean) if flagged[i]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--clean", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-fp", action="store_true", help="print the clean prompts flagged at the default")
    ap.add_argument("--stress", action="store_true",
                    help="add ~3,100 unrelated real prompts as extra references (HH-RLHF first turns, LLaMA-Factory "
                         "dpo/kto/glaive demos): false positives grow with the reference size")
    args = ap.parse_args()
    from sluice.curate.dedup.decontaminate import Contamination, Decontaminate, DecontaminateConfig

    with tempfile.TemporaryDirectory() as tmp:
        clean, planted, refs = build(args.shared, Path(tmp), args.clean, args.seed)
        rows = [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "Sure."}]}
                for p in clean + [p for p, *_ in planted]]
        batch = pl.DataFrame(rows)
        if args.stress:
            refs += stress_refs(args.shared, Path(tmp))
        stage = Contamination(evalsets=refs, key="prompts")
        t0 = time.perf_counter()
        stage.setup()
        t1 = time.perf_counter()
        scored = batch.hstack(stage.score(batch))
        t2 = time.perf_counter()
    print(f"{len(clean)} clean prompts + {len(planted)} planted; reference: {stage.describe()['reference']}")
    print(f"index {t1 - t0:.1f}s, scoring {t2 - t1:.1f}s ({len(rows) / (t2 - t1):,.0f} rows/s)")
    default = DecontaminateConfig().model_dump()
    print("\ncurve (min_words, fuzzy_from, min_coverage, min_run) → verbatim / light / embedded recall, FP on clean")
    grid = itertools.product((3, 4, 5), (6, 8, 10), (0.75, 0.8, 0.85, 0.9), (None, 20))
    for mw, ff, cov, run in grid:
        cfg = {"min_words": mw, "fuzzy_from": ff, "min_coverage": cov, "min_run": run}
        r = evaluate(scored, len(clean), planted, cfg)
        mark = " ← default" if cfg == default else ""
        print(f"  {mw} {ff:2d} {cov:.2f} {str(run):4s}  {r['verbatim']:.3f} {r['light']:.3f} {r['embedded']:.3f}"
              f"  FP {r['fp']} ({r['fp_rate']:.2%}){mark}")
    r = evaluate(scored, len(clean), planted, default)
    print(f"\ndefault {default}")
    print("recall by edit kind:", {k: round(v, 3) for k, v in r["by_kind"].items()})
    print("recall by item length (words):", {k: (round(v, 3), n) for k, (v, n) in sorted(r["by_len"].items())})
    print(f"false positives on clean prompts: {r['fp']} / {len(clean)} ({r['fp_rate']:.2%})")
    if args.show_fp:
        for i in r["fp_rows"]:
            print("  FP:", scored["contam_set"][i], scored["contam_item"][i], scored["contam_field"][i],
                  scored["contam_matched"][i], "/", scored["contam_words"][i], repr(clean[i][:150]))
    missed = [(p, s, k) for (p, s, k, _), f in zip(planted, Decontaminate(**default).decide(scored)["reason"]
                                                   .is_not_null().to_list()[len(clean):]) if not f]
    for p, s, k in missed[:15]:
        print("  missed:", s, k, repr(p[:140]))


if __name__ == "__main__":
    main()
