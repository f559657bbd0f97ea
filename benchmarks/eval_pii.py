"""PII recall, precision and surviving values on sluice's own labelled dev sets, under a recipe's
privacy settings (default: the quickstart's), with a score-threshold curve.

    HF_HUB_OFFLINE=1 python benchmarks/devsets/pii/build.py      # (re)builds faker.jsonl, hard.jsonl
    /tmp/pe/bin/python benchmarks/devsets/pii/build_pe.py         # pe.jsonl (presidio-evaluator venv, see there)
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


def curve(examples, detect, redact) -> None:
    """Surviving share and precision per score threshold: detection at the lowest threshold once,
    redaction with each ``min_score`` (the same cut as the engine's ``score_threshold``)."""
    from sluice.curate.pii import evaluate as ev

    low = type(detect)(detect.config.model_copy(update={"score_threshold": 0.3}))
    frames = ev.detect_all(examples, low)
    print("\n| threshold | surviving: overall | pattern types | PERSON | STREET_ADDRESS | findings | "
          "precision (on any gold) |\n|---:|---:|---:|---:|---:|---:|---:|")
    for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9):
        cut = type(redact)(redact.config.model_copy(update={"min_score": t}))
        findings, redacted = ev.redact_all(frames, cut)
        r = ev.score(examples, findings, redacted)
        n = sum(d["findings"] for d in r["by_finding_type"].values())
        g = r["by_gold_type"]
        print(f"| {t:.2f} | {r['overall']['surviving']:.3f} | {r['pattern_types']['surviving']:.3f} | "
              f"{g['PERSON']['surviving']:.3f} | {g['STREET_ADDRESS']['surviving']:.3f} | {n} | "
              f"{(n - r['findings_outside_gold']) / n:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=ROOT / "examples" / "quickstart.yaml")
    ap.add_argument("--sets", nargs="*", default=["faker", "hard", "pe"])
    ap.add_argument("--curve", action="store_true", help="also print the score-threshold curve")
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
        if args.curve:
            curve(examples, detect, redact)
        if args.misses:
            for ex, out in zip(examples, redacted):
                for s, e, t in ex.spans:
                    if t == args.misses and ex.text[s:e] in out:
                        print(f"  MISS {ex.text[s:e]!r}  in  {out!r}")


if __name__ == "__main__":
    main()
