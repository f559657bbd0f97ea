"""Each precision rule of issue #27 round three switched off in turn, on a pii_dev split
(BENCHMARKS.md, "PII round three (issue #27)").

    HF_HUB_OFFLINE=1 python benchmarks/pii_rules_ablation.py tune 2000 wnut17_en
"""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from paths import SHARED  # noqa: E402
from sluice.curate.pii import evaluate as ev, detector as D
from sluice.recipe import load_recipe
_, stages = load_recipe("examples/quickstart.yaml")
detect, redact = ev.privacy_stages(stages)
split = sys.argv[1]; n = int(sys.argv[2])
sets = sys.argv[3:]
orig = {k: getattr(D, k) for k in ("public_place", "common_word", "common_phrase", "line_initial_word", "by_line")}
off = lambda *a, **k: False  # noqa
variants = {"all rules": {}, "countries redacted": {"public_place": off},
            "no English word rules": {"common_word": off, "common_phrase": off, "line_initial_word": off},
            "no line split": {"by_line": lambda t, r: [r]}}
print("| variant | set | PERSON surv. | all surv. | precision |")
print("|---|---|---:|---:|---:|")
for name, patch in variants.items():
    for k, v in orig.items():
        setattr(D, k, patch.get(k, v))
    for s in sets:
        ex = ev.load_labels(str(SHARED / "pii_dev" / f"{s}.jsonl"), split)[:n]
        getattr(detect, "detector", None) and detect.detector.cache.clear()
        f, r = ev.run(ex, detect, redact)
        sc = ev.score(ex, f, r)
        print(f"| {name} | {s} {split} {len(ex)} | {sc['by_gold_type']['PERSON']['surviving']:.3f} | {sc['overall']['surviving']:.3f} | {sc['precision']:.3f} |", flush=True)
