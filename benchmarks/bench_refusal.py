"""Refusal detection (curate/quality/refusal.py) on hand-labelled real assistant turns.

Positives are ``refusal`` and ``partial_refusal`` (what ``refusal_filter`` drops by default);
``moralizing`` is reported apart. Prints precision/recall per labelling round and per source
family, the curve over ``short_lecture_words`` (the one threshold that moves the binary decision),
the kind agreement over ``partial_words``, the flag rate on clean Alpaca answers (``--alpaca``,
every flag printed for a hand check) and the throughput.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_refusal.py \\
        --alpaca ../shared/data/instructions/alpaca_random_9k/random_9k.json \\
                 ../shared/data/formats/llamafactory/alpaca_en_demo.json

The labelled set and how it was made: benchmarks/devsets/refusal/SOURCE.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from sluice.curate.quality.refusal import classify

DEVSETS = Path(__file__).parent / "devsets" / "refusal"
#: hand-labelled here; XSTest's own human labels on five chat models (sample, and rows read after the freeze)
LABELS = DEVSETS / "labels.jsonl"
XSTEST = (DEVSETS / "xstest_sample.jsonl", DEVSETS / "xstest_fresh.jsonl", DEVSETS / "xstest_fresh2.jsonl")
POSITIVE = ("refusal", "partial_refusal")


def family(source: str) -> str:
    if source.startswith("xstest_"):
        return f"XSTest {source[7:]}"
    if "zh" in source:
        return "zh (LLaMA-Factory zh demos)"
    if source.startswith("hh"):
        return "hh-rlhf (Anthropic 52B)"
    if source.startswith(("dpo", "kto")):
        return "UltraFeedback en (Llama-2-chat, GPT-4, ...)"
    return {"alpaca_gpt4": "Alpaca-GPT4", "alpaca_davinci": "Alpaca davinci-003", "sharegpt": "FastChat dummy"}[source]


def score(rows: list[dict], **kw) -> dict[str, Counter]:
    out: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        kind, _ = classify(r["text"], **kw)
        gold, pred = r["label"] in POSITIVE, kind in POSITIVE
        for key in ("all", f"round {r['round']}", family(r["source"])):
            c = out[key]
            c["n"] += 1
            c["pos"] += gold
            c["tp"] += gold and pred
            c["fp"] += pred and not gold
            c["kind_ok"] += gold and pred and kind == r["label"]
            c["moral_gold"] += r["label"] == "moralizing"
            c["moral_pred"] += kind == "moralizing"
            c["moral_both"] += r["label"] == "moralizing" and kind == "moralizing"
    return out


def pr(c: Counter) -> str:
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
    r = c["tp"] / c["pos"] if c["pos"] else float("nan")
    return f"n={c['n']:4d} pos={c['pos']:3d} tp={c['tp']:3d} fp={c['fp']:2d} P={p:.3f} R={r:.3f}"


def alpaca_answers(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        out += [r["output"] for r in data if r.get("output")]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classifier", default=None, metavar="MODEL",
                    help="also fit a logistic regression on MODEL embeddings (static, all-MiniLM-L6-v2) of each answer's first "
                         "300 characters, with and without the pattern kinds as features: 5-fold CV curve on every round "
                         "but test3 and xstest_fresh, and the fitted model on those two")
    ap.add_argument("--alpaca", nargs="*", default=[], help="Alpaca-format JSON files: flag rate on clean answers")
    args = ap.parse_args()
    rows = [json.loads(line) for f in (LABELS, *XSTEST) for line in f.read_text(encoding="utf-8").split("\n")
            if line.strip()]

    print("## final patterns, defaults (dev/test1/test2/xstest_* in-sample but xstest_fresh2; test3 and xstest_fresh2 held out: SOURCE.md)")
    res = score(rows)
    for key in sorted(res):
        c = res[key]
        print(f"{key:45s} {pr(c)} kind_agree={c['kind_ok']}/{c['tp']} moralizing gold/pred/both="
              f"{c['moral_gold']}/{c['moral_pred']}/{c['moral_both']}")

    # each text once, and none that an earlier round already holds (GPT-4's one-line refusal is in both files)
    seen = {r["text"] for r in rows if r["round"] != "xstest_fresh"}
    distinct = [r for r in rows if r["round"] == "xstest_fresh" and not (r["text"] in seen or seen.add(r["text"]))]
    print(f"{'round xstest_fresh, texts new to every round':45s} {pr(score(distinct)['all'])}")
    print("\n## curve: short_lecture_words (a turn this short that only lectures is a refusal)")
    for w in (0, 10, 15, 25, 40, 60):
        res = score(rows, short_lecture_words=w)
        print(f"short_lecture_words={w:3d}  all {pr(res['all'])} | xstest_fresh2 {pr(res['round xstest_fresh2'])}")

    print("\n## kind agreement (refusal vs partial_refusal) over partial_words")
    for w in (10, 20, 40, 60, 100):
        c = score(rows, partial_words=w)["all"]
        print(f"partial_words={w:3d}  kinds agree on {c['kind_ok']}/{c['tp']} true positives")

    texts = [r["text"] for r in rows]
    if args.alpaca:
        answers = alpaca_answers(args.alpaca)
        flags = Counter()
        print(f"\n## flags on {len(answers)} clean Alpaca answers (read every non-moralizing one)")
        for a in answers:
            kind, cue = classify(a)
            flags[kind] += 1
            if kind in POSITIVE:
                print(f"  {kind:16s} {cue:7s} {a[:110]!r}")
        print({k: v for k, v in flags.items() if k})
        texts += answers
    t = time.perf_counter()
    for x in texts:
        classify(x)
    dt = time.perf_counter() - t
    chars = sum(len(x) for x in texts)
    print(f"\nthroughput: {len(texts) / dt:.0f} answers/s ({chars / len(texts):.0f} chars mean), one core;"
          f" 1M answers ≈ {1e6 / (len(texts) / dt) / 60:.1f} min")
    if args.classifier:
        classifier_curve(rows, args.classifier)


def classifier_curve(rows: list[dict], model: str) -> None:
    """Does an embedding classifier add recall at precision >= 0.95 over the patterns? (BENCHMARKS #32 round three)"""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from sluice.curate.quality.embed import load_model

    held = ("test3", "xstest_fresh", "xstest_fresh2")
    train = [r for r in rows if r["round"] not in held]
    emb = load_model(model)

    def xy(part: list[dict], with_kinds: bool):
        x = emb.encode([r["text"][:300] for r in part])
        if with_kinds:
            kinds = [classify(r["text"])[0] for r in part]
            x = np.hstack([x, np.array([[k == c for c in ("refusal", "partial_refusal", "moralizing")] for k in kinds],
                                       dtype=np.float32)])
        return x, np.array([r["label"] in POSITIVE for r in part])

    print(f"\n## embedding classifier ({model}, first 300 characters): P/R per probability threshold")
    for with_kinds in (False, True):
        x, y = xy(train, with_kinds)
        clf = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
        oof = cross_val_predict(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=32), method="predict_proba")[:, 1]
        clf.fit(x, y)
        parts = [("cv", y, oof)]
        for h in held:
            xh, yh = xy([r for r in rows if r["round"] == h], with_kinds)
            parts.append((h, yh, clf.predict_proba(xh)[:, 1]))
        for t in (0.5, 0.7, 0.8, 0.9, 0.95):
            cells = []
            for tag, yy, p in parts:
                d = p >= t
                tp, fp = int((d & yy).sum()), int((d & ~yy).sum())
                cells.append(f"{tag} P={tp / max(1, tp + fp):.3f} R={tp / max(1, int(yy.sum())):.3f}")
            print(f"{'embedding + pattern kinds' if with_kinds else 'embedding only':26s} t={t:.2f}  " + " | ".join(cells))


if __name__ == "__main__":
    main()
