"""How representative is a review sample? Language-mix error of each sampling strategy.

Real data (not generated here): LLaMA-Factory's demo sets (alpaca en + zh, glaive tool calls),
from ../shared/data/formats/llamafactory. They are ingested, given ``lang`` (fastText lid.176)
and the offline heuristic ``quality_score``, then each strategy draws N rows for several seeds;
the figure is the largest gap, in percentage points, between a language's share of the sample
and its share of the data (mean and worst over seeds), and the share of zh in the sample.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_label_sampling.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import polars as pl

from sluice.curate.ingest import ingest
from sluice.labeling.sampling import sample
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.store import Store
from paths import SHARED

FILES = ("alpaca_en_demo.json", "alpaca_zh_demo.json", "glaive_toolcall_en_demo.json")
STRATEGIES = ("random", "lowest-score", "uncertain", "stratified", "stratified-lowest-score", "stratified-uncertain")


def scored(shared: Path, root: Path) -> pl.DataFrame:
    store = Store(root)
    ingest([str(shared / "formats" / "llamafactory" / f) for f in FILES], to="raw", store=store, workers=1)
    stages = Recipe(stages=[{"stage": "language"}, {"stage": "quality_score"}]).build()
    version = run(Recipe(), stages, store=store, input_ref="raw", output="scored").version
    return pl.from_arrow(version.read(columns=["id", "source", "lang", "score_total"]))


def gap(data: dict, got: dict) -> float:
    return 100 * max(abs(data.get(k, 0) - got.get(k, 0)) for k in set(data) | set(got))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    shared = Path(args.shared)
    with tempfile.TemporaryDirectory() as tmp:
        frame = scored(shared, Path(tmp))
    mix = dict(frame["lang"].fill_null("unknown").value_counts(sort=True).iter_rows())
    print(f"{frame.height} rows; languages {mix}; sources {dict(frame['source'].value_counts().iter_rows())}")
    print("| strategy | N | mean gap (pts) | worst gap (pts) | zh share of sample (data "
          f"{100 * mix.get('zh', 0) / frame.height:.1f}%) |")
    print("|---|---|---|---|---|")
    for n in (30, 100, 200):
        for strategy in STRATEGIES:
            gaps, zh = [], []
            for seed in range(args.seeds):
                s = sample(frame, n, strategy, seed=seed, score_column="score_total")
                m = s.how["language_mix"]
                gaps.append(gap(m["data"], m["sample"]))
                zh.append(100 * m["sample"].get("zh", 0))
            print(f"| {strategy} | {n} | {statistics.mean(gaps):.1f} | {max(gaps):.1f} | "
                  f"{statistics.mean(zh):.1f}% |")


if __name__ == "__main__":
    main()
