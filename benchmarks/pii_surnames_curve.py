"""The curve behind ``lexicon.SURNAMES_TOP``: WNUT-17 tune person/all surviving against Alpaca rows altered,
for each number of census surnames kept as names (BENCHMARKS.md, "PII round three (issue #27)").

    HF_HUB_OFFLINE=1 python benchmarks/pii_surnames_curve.py 0 500 2000 10000
"""
import sys
from sluice.curate.pii import evaluate as ev, lexicon
from sluice.recipe import load_recipe
sys.path.insert(0, "benchmarks")
from eval_pii_overredaction import alpaca
from paths import SHARED
_, stages = load_recipe("examples/quickstart.yaml")
detect, redact = ev.privacy_stages(stages)
wnut = ev.load_labels(str(SHARED / "pii_dev" / "wnut17_en.jsonl"), "tune")[:300]
texts = alpaca(SHARED / "instructions" / "alpaca_random_9k" / "random_9k.json", 300)
al = [ev.Labelled(t, [], id=f"a{i}") for i, t in enumerate(texts)]
print("| census surnames kept as names (SURNAMES_TOP) | WNUT-17 tune PERSON surviving | WNUT all surviving | Alpaca rows altered |")
print("|---:|---:|---:|---:|")
for top in [int(x) for x in sys.argv[1:]]:
    lexicon.SURNAMES_TOP = top
    lexicon.surnames.cache_clear(); lexicon.common_words.cache_clear()
    lexicon.surnames.__wrapped__.__defaults__ = (top,)
    getattr(detect, "detector", None) and detect.detector.cache.clear()
    f, r = ev.run(wnut, detect, redact)
    s = ev.score(wnut, f, r)
    f2, r2 = ev.run(al, detect, redact)
    altered = sum(t != x for t, x in zip(texts, r2))
    print(f"| {top} | {s['by_gold_type']['PERSON']['surviving']:.3f} | {s['overall']['surviving']:.3f} | {altered}/{len(texts)} ({altered/len(texts):.1%}) |", flush=True)
