"""PII recall, precision and surviving values on sluice's own labelled dev sets, under a recipe's
privacy settings (default: the quickstart's), with a score-threshold curve.

    HF_HUB_OFFLINE=1 python benchmarks/devsets/pii/build.py      # (re)builds faker.jsonl, hard.jsonl
    HF_HUB_OFFLINE=1 python benchmarks/eval_pii.py [--recipe examples/quickstart.yaml] [--curve]

The same measurement as ``sluice pii eval LABELS --recipe R`` (sluice.curate.pii.evaluate).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]
DEVSETS = ROOT / "benchmarks" / "devsets" / "pii"


def table(name: str, report: dict) -> None:
    fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"\n### {name}: {report['examples']} examples — surviving verbatim: pattern types "
          f"{fmt(report['pattern_types']['surviving'])}, overall {fmt(report['overall']['surviving'])}")
    print("\n| gold type | gold | recall (typed) | redacted (any type) | surviving |\n|---|---:|---:|---:|---:|")
    for t, d in report["by_gold_type"].items():
        print(f"| {t} | {d['gold']} | {fmt(d['recall'])} | {fmt(d['redacted'])} | {fmt(d['surviving'])} |")
    print("\n| finding type | findings | precision (typed) | on any gold span |\n|---|---:|---:|---:|")
    for t, d in report["by_finding_type"].items():
        print(f"| {t} | {d['findings']} | {fmt(d['precision'])} | {fmt(d['on_any_gold'])} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=ROOT / "examples" / "quickstart.yaml")
    ap.add_argument("--sets", nargs="*", default=["faker", "hard"])
    ap.add_argument("--misses", default=None, help="print surviving gold values of this type (dev sets only)")
    args = ap.parse_args()

    from sluice.curate.pii import evaluate as ev
    from sluice.recipe import load_recipe

    _, stages = load_recipe(args.recipe)
    detect, redact = ev.privacy_stages(stages)
    print(f"recipe {args.recipe.name}: engine {detect.describe()['nlp']}")
    for name in args.sets:
        examples = ev.load_labels(DEVSETS / f"{name}.jsonl")
        findings, redacted = ev.run(examples, detect, redact)
        table(name, ev.score(examples, findings, redacted))
        if args.misses:
            for ex, out in zip(examples, redacted):
                for s, e, t in ex.spans:
                    if t == args.misses and ex.text[s:e] in out:
                        print(f"  MISS {ex.text[s:e]!r}  in  {out!r}")


if __name__ == "__main__":
    main()
