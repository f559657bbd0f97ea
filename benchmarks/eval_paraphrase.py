"""Parity of the static embedder with all-MiniLM-L6-v2, on labelled data nobody here generated.

1. Paraphrase pairs (benchmarks/devsets/paraphrase/: MRPC, QQP, STS-B slices and hard pairs whose
   only difference is a number or a name): ranking AUROC of the cosine, per source and pooled;
   precision/recall of semantic dedup (pair flagged when cos ≥ 1 − eps and the facts guard allows
   it) for each eps, for each model and guard; each model's own eps = the largest eps whose
   precision is ≥ TARGET_PRECISION (semantic dedup must not drop distinct data).
2. Quality probe: a logistic-regression probe on embeddings of hh-rlhf (harmless-base test)
   final answers, chosen vs rejected, pair-grouped 5-fold cross-validated AUROC.
3. Selection overlap: DEITA-style greedy diversity selection (select's own greedy_select, τ 0.9,
   the same score order) of Alpaca instructions with each embedder: overlap of the selected sets.

    python benchmarks/eval_paraphrase.py [--probe-pairs 1500] [--select-rows 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from paths import SHARED

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "benchmarks" / "devsets" / "paraphrase"
EPS = [0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3]
TARGET_PRECISION = 0.9
GUARDS = ("none", "numbers", "numbers_and_names")


def load_pairs() -> pl.DataFrame:
    frames = []
    for name in ("mrpc_test_head", "qqp_dev_head", "stsb_dev_head", "hard_pairs"):
        df = pl.read_csv(DEV / f"{name}.tsv", separator="\t", quote_char=None, infer_schema_length=0)
        if "score" in df.columns:  # STS-B: a paraphrase is a 4–5 ("mostly/completely equivalent")
            df = df.with_columns((pl.col("score").cast(pl.Float64) >= 4).cast(pl.Int64).cast(pl.String).alias("label"))
        kind = pl.col("kind") if "kind" in df.columns else pl.lit("public")
        frames.append(df.select(pl.lit(name.split("_")[0]).alias("source"), kind.alias("kind"),
                                pl.col("label").cast(pl.Int64), "text1", "text2"))
    return pl.concat(frames)


def auroc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def models() -> dict:
    from sluice.curate.quality.embed import load_model

    return {"static": load_model("static"), "MiniLM": load_model("all-MiniLM-L6-v2"),
            "MiniLM@32 tokens": load_model("all-MiniLM-L6-v2", max_tokens=32)}


def pair_scores(pairs: pl.DataFrame, ms: dict) -> dict[str, np.ndarray]:
    from sluice.curate.quality.embed import embed_texts

    out = {}
    for name, m in ms.items():
        a = embed_texts(m, pairs["text1"].to_list())
        b = embed_texts(m, pairs["text2"].to_list())
        out[name] = np.einsum("ij,ij->i", a, b)
    # semdedup's default: the static first pass, pairs from VERIFY_FLOOR on re-scored by MiniLM
    from sluice.curate.dedup.semdedup import VERIFY_FLOOR

    out["static + MiniLM verify"] = np.where(out["static"] >= VERIFY_FLOOR, out["MiniLM"], out["static"])
    return out


def guard_ok(pairs: pl.DataFrame, guard: str) -> np.ndarray:
    from sluice.curate.dedup.semdedup import facts_guard

    if guard == "none":
        return np.ones(pairs.height, dtype=bool)
    return np.array([facts_guard([a, b], names=guard == "numbers_and_names")(0, 1)
                     for a, b in zip(pairs["text1"], pairs["text2"])])


def pr_curve(cos: np.ndarray, ok: np.ndarray, y: np.ndarray) -> list[dict]:
    rows = []
    for e in EPS:
        flagged = (cos >= 1 - e) & ok
        tp = int((flagged & (y == 1)).sum())
        rows.append({"eps": e, "flagged": int(flagged.sum()), "precision": tp / flagged.sum() if flagged.sum() else 1.0,
                     "recall": tp / (y == 1).sum()})
    return rows


def own_eps(curve: list[dict]) -> dict:
    ok = [r for r in curve if r["precision"] >= TARGET_PRECISION and r["flagged"]]
    return max(ok, key=lambda r: (r["recall"], r["eps"])) if ok else curve[0]


def paraphrase_report(pairs, cos) -> dict:
    y = pairs["label"].to_numpy()
    res = {"n_pairs": pairs.height, "positives": int(y.sum()), "auroc": {}, "curves": {}, "own_eps": {}}
    for name, c in cos.items():
        res["auroc"][name] = {"all": auroc(y, c), **{s: auroc(y[m], c[m]) for s in pairs["source"].unique().sort()
                                                     if len(set(y[(m := (pairs["source"] == s).to_numpy())])) == 2}}
        for guard in GUARDS:
            ok = guard_ok(pairs, guard)
            curve = pr_curve(c, ok, y)
            res["curves"][f"{name}|{guard}"] = curve
            res["own_eps"][f"{name}|{guard}"] = own_eps(curve)
        ok = guard_ok(pairs, "numbers_and_names")
        res["auroc"][name]["all, guarded"] = auroc(y, np.where(ok, c, c - 2))
        hard = (pairs["source"] == "hard").to_numpy()
        res["auroc"][name]["hard, guarded"] = auroc(y[hard], np.where(ok, c, c - 2)[hard])
    return res


def final_answer(text: str) -> str:
    return text.rsplit("\n\nAssistant:", 1)[-1].strip()


def probe_report(ms: dict, n_pairs: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    from sluice.curate.quality.embed import embed_texts

    path = SHARED / "preferences" / "hh_rlhf_harmless" / "harmless-base_test.jsonl.gz"
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f][:n_pairs]
    texts = [final_answer(r["chosen"]) for r in rows] + [final_answer(r["rejected"]) for r in rows]
    y = np.r_[np.ones(len(rows)), np.zeros(len(rows))]
    groups = np.r_[np.arange(len(rows)), np.arange(len(rows))]
    out = {"pairs": len(rows)}
    for name, m in ms.items():
        t = time.perf_counter()
        x = embed_texts(m, texts)
        scores = np.zeros(len(y))
        for train, test in GroupKFold(5).split(x, y, groups):
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(x[train], y[train])
            scores[test] = clf.decision_function(x[test])
        out[name] = {"auroc": auroc(y, scores), "embed_seconds": time.perf_counter() - t}
    return out


def selection_report(ms: dict, n_rows: int, budget_frac: float = 1 / 3, tau: float = 0.9) -> dict:
    from sluice.curate.quality.embed import embed_texts
    from sluice.curate.quality.select import greedy_select

    items = json.loads((SHARED / "instructions" / "alpaca_random_9k" / "random_9k.json").read_text())[:n_rows]
    texts = [(r["instruction"] + "\n" + r.get("input", "")).strip() for r in items]
    order = np.random.default_rng(0).permutation(len(texts))  # the same score order for both embedders
    budget = int(len(texts) * budget_frac)
    picked = {}
    for name, m in ms.items():
        sel = greedy_select(embed_texts(m, texts), order, tau, budget)
        picked[name] = set(sel.selected.tolist())
    ref = picked["MiniLM"]
    return {"rows": len(texts), "budget": budget, "tau": tau,
            "overlap_with_MiniLM": {k: len(v & ref) / max(len(ref), 1) for k, v in picked.items()},
            "selected": {k: len(v) for k, v in picked.items()}, "random_expectation": budget / len(texts)}


def print_report(r: dict) -> None:
    p = r["paraphrase"]
    print(f"\n## Paraphrase pairs: {p['n_pairs']} ({p['positives']} paraphrases)\n")
    sources = [k for k in next(iter(p["auroc"].values()))]
    print("| model | " + " | ".join(f"AUROC {s}" for s in sources) + " |")
    print("|---|" + "---:|" * len(sources))
    for name, a in p["auroc"].items():
        print(f"| {name} | " + " | ".join(f"{a[s]:.3f}" for s in sources) + " |")
    print("\n| model, guard | own eps (precision ≥ 0.9) | precision | recall |\n|---|---:|---:|---:|")
    for k, e in p["own_eps"].items():
        print(f"| {k} | {e['eps']} | {e['precision']:.3f} | {e['recall']:.3f} |")
    print("\n| eps | " + " | ".join(f"{k} P / R" for k in p["curves"] if k.split('|')[1] == 'numbers_and_names') + " |")
    keys = [k for k in p["curves"] if k.split("|")[1] == "numbers_and_names"]
    print("|---:|" + "---:|" * len(keys))
    for i, e in enumerate(EPS):
        print(f"| {e} | " + " | ".join(f"{p['curves'][k][i]['precision']:.2f} / {p['curves'][k][i]['recall']:.2f}"
                                       for k in keys) + " |")
    if "probe" in r:
        q = r["probe"]
        print(f"\n## Quality probe (hh-rlhf harmless chosen vs rejected, {q['pairs']} pairs, 5-fold grouped CV)\n")
        for name, v in q.items():
            if isinstance(v, dict):
                print(f"- {name}: AUROC {v['auroc']:.3f} (embedding {v['embed_seconds']:.1f} s)")
    if "selection" in r:
        s = r["selection"]
        print(f"\n## Selection overlap (Alpaca, {s['rows']} rows, budget {s['budget']}, τ {s['tau']})\n")
        for name, v in s["overlap_with_MiniLM"].items():
            print(f"- {name}: {v:.3f} of MiniLM's selection (random: {s['random_expectation']:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probe-pairs", type=int, default=1500)
    ap.add_argument("--select-rows", type=int, default=3000)
    ap.add_argument("--skip-probe", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    ms = models()
    pairs = load_pairs()
    report = {"paraphrase": paraphrase_report(pairs, pair_scores(pairs, ms))}
    if not args.skip_probe:
        report["probe"] = probe_report(ms, args.probe_pairs)
        report["selection"] = selection_report(ms, args.select_rows)
    print_report(report)
    default = report["paraphrase"]["curves"]["static + MiniLM verify|numbers_and_names"]
    print("\nstatic + MiniLM verify, guard numbers_and_names (semdedup's DEV_CURVE now comes from "
          "bench_semdedup_polarity.py: the same setup with the polarity check, on more real pairs):")
    print([{"eps": r["eps"], "precision": round(float(r["precision"]), 3), "recall": round(float(r["recall"]), 3)}
           for r in default])
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
