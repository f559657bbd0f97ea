"""Over-redaction on real LLM conversations without personal data: the share of rows and of words
that redaction alters, per entity type, and the most frequent values replaced (these sets are
public instruction data, so the values may be shown), under a recipe's privacy stages.

    HF_HUB_OFFLINE=1 python benchmarks/eval_pii_overredaction.py [--recipe examples/quickstart.yaml]
        [--limit 3000] [--top 30] [--sample 40]

Sets (read-only, the shared data: benchmarks/paths.py SHARED): Alpaca random 9k (instruction, input, output of one record as
one text; every ``step``-th record up to ``--limit``), LLaMA-Factory's alpaca_en_demo (the same
fields) and FastChat's ShareGPT dummy conversations (every turn a text). Alpaca holds almost no
personal data, but public figures ("Albert Einstein") and places are named: a row altered is not
always a row over-redacted, so ``--sample`` prints altered rows (seeded) to check by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections import Counter
from pathlib import Path

from paths import SHARED

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]


def alpaca(path: Path, limit: int) -> list[str]:
    rows = json.loads(path.read_text())
    step = max(1, len(rows) // limit)
    return ["\n\n".join(x for x in (r.get("instruction"), r.get("input"), r.get("output")) if x)
            for r in rows[::step][:limit]]


def sharegpt(path: Path) -> list[str]:
    return [t["value"] for conv in json.loads(path.read_text()) for t in conv.get("conversations", []) if t.get("value")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=ROOT / "examples" / "quickstart.yaml")
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--sets", nargs="*", default=None, help="only these sets (default: all three)")
    ap.add_argument("--sample", type=int, default=0, help="print this many altered rows (seeded), to check by hand")
    args = ap.parse_args()

    from sluice.curate.pii import evaluate as ev
    from sluice.recipe import load_recipe

    _, stages = load_recipe(args.recipe)
    detect, redact = ev.privacy_stages(stages)
    readers = {"alpaca_random_9k": lambda: alpaca(SHARED / "instructions/alpaca_random_9k/random_9k.json", args.limit),
               "alpaca_en_demo": lambda: alpaca(SHARED / "formats/llamafactory/alpaca_en_demo.json", args.limit),
               "sharegpt_dummy": lambda: sharegpt(SHARED / "formats/sharegpt_fastchat/fastchat_dummy_conversation.json")}
    sets = {k: f() for k, f in readers.items() if args.sets is None or k in args.sets}
    print(f"recipe {args.recipe.name}: engine {detect.describe()['nlp']}\n")
    print("| set | rows | rows altered | words altered | findings | top types |\n|---|---:|---:|---:|---:|---|")
    for name, texts in sets.items():
        examples = [ev.Labelled(t, [], id=f"{name}-{i}") for i, t in enumerate(texts)]
        findings, redacted = ev.run(examples, detect, redact)
        altered = [i for i, (t, r) in enumerate(zip(texts, redacted)) if t != r]
        words = sum(len(t.split()) for t in texts)
        hit_words = sum(len(t[s:e].split()) for t, fs in zip(texts, findings) for s, e, *_ in fs)
        types = Counter(ft for fs in findings for _, _, ft, *_ in fs)
        values = Counter((ft, t[s:e]) for t, fs in zip(texts, findings) for s, e, ft, *_ in fs)
        print(f"| {name} | {len(texts)} | {len(altered)} ({len(altered) / len(texts):.1%}) | "
              f"{hit_words / max(words, 1):.2%} | {sum(types.values())} | "
              f"{', '.join(f'{k} {v}' for k, v in types.most_common(4))} |")
        print(f"<!-- {name} most frequent: " + "; ".join(f"{t}:{v!r} {n}" for (t, v), n in values.most_common(args.top))
              + " -->")
        if args.sample:
            rng = random.Random(0)
            for i in rng.sample(altered, min(args.sample, len(altered))):
                got = [(texts[i][s:e], ft) for s, e, ft, *_ in findings[i]]
                print(f"  [{name}-{i}] {got}  <<{texts[i][:160]!r}>>")


if __name__ == "__main__":
    main()
