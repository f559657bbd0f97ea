"""Is the offline heuristic score biased against Chinese text? Before/after the CJK word count.

LLaMA-Factory's alpaca_en_demo and alpaca_zh_demo hold the same kind of rows (Alpaca
instructions with GPT-4 answers, in English and in Chinese). Mixed, the two languages should
share the lowest-scored rows about equally. Measured: the median heuristic ``score_total`` per
language and the Chinese share of the lowest 10% and of the lowest 30 rows — with the old word
rule (``\\w+``: a run of Chinese characters is one "word") and the current one (one word per
character), in the same run.

    python benchmarks/bench_quality_cjk.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from sluice.curate.quality import deita
from paths import SHARED


def score(rec: dict) -> float:
    q = rec["instruction"] + ("\n\n" + rec["input"] if rec.get("input") else "")
    return deita.heuristic_complexity(q) * deita.heuristic_quality(q, rec["output"])


def measure(en: list[dict], zh: list[dict]) -> dict:
    s_en, s_zh = np.array([score(r) for r in en]), np.array([score(r) for r in zh])
    both = np.concatenate([s_en, s_zh])
    is_zh = np.concatenate([np.zeros(len(en), bool), np.ones(len(zh), bool)])
    order = np.argsort(both, kind="stable")
    low10 = order[: len(order) // 10]
    return {"median_en": float(np.median(s_en)), "median_zh": float(np.median(s_zh)),
            "zh_share_lowest_10pct": float(is_zh[low10].mean()), "zh_in_lowest_30": int(is_zh[order[:30]].sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=SHARED)
    a = ap.parse_args()
    base = a.data / "formats" / "llamafactory"
    en = json.loads((base / "alpaca_en_demo.json").read_text())
    zh = json.loads((base / "alpaca_zh_demo.json").read_text())
    current = deita._WORD
    try:
        deita._WORD = re.compile(r"\w+")  # the old rule, for the side-by-side figure only
        before = measure(en, zh)
    finally:
        deita._WORD = current
    after = measure(en, zh)
    print(f"{len(en)} English + {len(zh)} Chinese rows (share of Chinese rows in the mix: {len(zh) / (len(en) + len(zh)):.2f})")
    print("| word rule | median score en | median score zh | zh share of lowest 10% | zh in lowest 30 |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("before: `\\w+`", before), ("after: CJK character = word", after)):
        print(f"| {name} | {r['median_en']:.2f} | {r['median_zh']:.2f} | {r['zh_share_lowest_10pct']:.2f} | "
              f"{r['zh_in_lowest_30']} |")


if __name__ == "__main__":
    main()
