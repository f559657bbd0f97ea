"""The curve behind ``names.INFORMAL_LEVEL``: for each level of the informal-English name rule,
WNUT-17 tune (every row) person / all surviving and precision against Alpaca rows altered
(BENCHMARKS.md, "PII round four (#27)"). Levels: 0 off; 1 capitalised census first names that are
no English word; 2 and unknown capitalised words next to a person cue; 3 and any unknown
capitalised word not opening a sentence; 4 and lower-case census first names that are no English
word. Round five (BENCHMARKS.md, "PII round five: English informal names (#27)"): 5 an unknown
lower-case word next to a person cue; 6 a capitalised first name that is also an English word,
before a verb or inside a sentence; 7 a surname before a verb; 8 an unknown capitalised word
opening a sentence; 9 any unknown lower-case word (``names.INFORMAL_LEVEL`` has the details).

    HF_HUB_OFFLINE=1 python benchmarks/pii_informal_curve.py 0 1 2 3
    HF_HUB_OFFLINE=1 python benchmarks/pii_informal_curve.py 4 5 6 7 8 9
"""
import sys
from pathlib import Path

from sluice.curate.pii import evaluate as ev
from sluice.curate.pii import names
from sluice.recipe import load_recipe

sys.path.insert(0, "benchmarks")
from eval_pii_overredaction import alpaca  # noqa: E402

_, stages = load_recipe("examples/quickstart.yaml")
wnut = ev.load_labels("/work/shared/data/pii_dev/wnut17_en.jsonl", "tune")
texts = alpaca(Path("/work/shared/data/instructions/alpaca_random_9k/random_9k.json"), 300)
al = [ev.Labelled(t, [], id=f"a{i}") for i, t in enumerate(texts)]
print("| INFORMAL_LEVEL | WNUT-17 tune PERSON surviving | WNUT all surviving | WNUT precision | Alpaca rows altered |")
print("|---:|---:|---:|---:|---:|")
for level in [int(x) for x in sys.argv[1:]]:
    names.INFORMAL_LEVEL = level
    detect, redact = ev.privacy_stages(load_recipe("examples/quickstart.yaml")[1])  # fresh: no cached findings
    f, r = ev.run(wnut, detect, redact)
    s = ev.score(wnut, f, r)
    f2, r2 = ev.run(al, detect, redact)
    altered = sum(t != x for t, x in zip(texts, r2))
    print(f"| {level} | {s['by_gold_type']['PERSON']['surviving']:.3f} | {s['overall']['surviving']:.3f} | "
          f"{s['precision']:.3f} | {altered}/{len(texts)} ({altered / len(texts):.1%}) |", flush=True)
