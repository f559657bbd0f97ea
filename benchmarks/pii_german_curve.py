"""The curve behind ``detector.DE_RULES`` and ``detector.DE_ZIPF``: German text read by the declared
fallback (the French model), on the dev (``tune``) half of europeana_de_lft, for each rule set and
frequency threshold: person / all surviving and precision (BENCHMARKS.md, "PII round four (#27)").

    HF_HUB_OFFLINE=1 python benchmarks/pii_german_curve.py [--split tune] [--max-rows 150]
"""
import argparse

import wordfreq  # noqa: F401  (the frequency rows need it: pip install wordfreq==3.1.1; fail here, not silently)

from sluice.curate.pii import detector as det
from sluice.curate.pii import evaluate as ev
from sluice.recipe import load_recipe

ap = argparse.ArgumentParser()
ap.add_argument("--split", default="tune")
ap.add_argument("--max-rows", type=int, default=150)
args = ap.parse_args()
rows = ev.load_labels("/work/shared/data/pii_dev/europeana_de_lft.jsonl", args.split)[:args.max_rows]
VARIANTS = [("none", set(), 0), ("split", {"split"}, 0), ("split+stop", {"split", "stop"}, 0)] + \
    [(f"split+stop+freq>={z}", {"split", "stop", "freq"}, z) for z in (6.0, 5.5, 5.0, 4.5, 4.0, 3.5)]
print("| DE rules | rows | PERSON surviving | LOC surviving | ORG surviving | all surviving | precision | findings |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, rules, zipf in VARIANTS:
    det.DE_RULES, det.DE_ZIPF = frozenset(rules), zipf
    detect, redact = ev.privacy_stages(load_recipe("examples/quickstart.yaml")[1])
    f, r = ev.run(rows, detect, redact)
    s = ev.score(rows, f, r)
    g = s["by_gold_type"]
    print(f"| {name} | {len(rows)} | {g['PERSON']['surviving']:.3f} | {g['LOCATION']['surviving']:.3f} | "
          f"{g['ORGANIZATION']['surviving']:.3f} | {s['overall']['surviving']:.3f} | {s['precision']:.3f} | "
          f"{s['findings']} |", flush=True)
