"""PII redaction on real labelled text (the shared ``pii_dev``, benchmarks/paths.py SHARED; see its SOURCE.md): per set,
language and entity, the share of gold values surviving verbatim, recall, and precision
(findings on any labelled span), for the ``tune`` and ``holdout`` halves (a hash of the row id;
the holdout half is never looked at while tuning: ``--misses`` shows only tune rows).

    HF_HUB_OFFLINE=1 python benchmarks/eval_pii_dev.py [--recipe examples/quickstart.yaml]
        [--data DIR] [--sets wnut17_en meddocan_es ...] [--split tune|holdout|both] [--misses N] [--max-rows N]

The same measurement as ``sluice pii eval FILE --recipe R --split S`` (sluice.curate.pii.evaluate).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from paths import SHARED

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SLUICE_PII_DEV") or SHARED / "pii_dev")
SETS = ("wnut17_en", "meddocan_es", "europeana_de_lft", "europeana_fr_bnf", "usaddress_us", "libpostal_intl")
SHOWN = ("PERSON", "LOCATION", "ORGANIZATION", "STREET_ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "ID")


def fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=ROOT / "examples" / "quickstart.yaml")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--split", choices=("tune", "holdout", "both"), default="both")
    ap.add_argument("--max-rows", type=int, default=None, help="the first N rows of each half of each set")
    ap.add_argument("--misses", type=int, default=0, help="print the N most frequent masked misses (tune rows)")
    args = ap.parse_args()

    from sluice.curate.pii import evaluate as ev
    from sluice.recipe import load_recipe

    _, stages = load_recipe(args.recipe)
    detect, redact = ev.privacy_stages(stages)
    info = detect.describe()
    print(f"recipe {args.recipe.name}: engine {info['nlp']}, models {info.get('models', info.get('model'))}")
    splits = ("tune", "holdout") if args.split == "both" else (args.split,)
    print("\n| set | lang | split | rows | PERSON surv. | LOC surv. | ORG surv. | ADDRESS surv. | all surv. | all but countries | "
          "PERSON recall | precision | findings | held |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    misses = []
    for name in args.sets:
        examples = ev.load_labels(args.data / f"{name}.jsonl")
        examples = [e for split in ("tune", "holdout") if args.split in (split, "both")
                    for e in [x for x in examples if x.split == split][:args.max_rows]]
        t0 = time.perf_counter()
        findings, redacted = ev.run(examples, detect, redact)
        took = time.perf_counter() - t0
        for split in splits:
            idx = [i for i, e in enumerate(examples) if e.split == split]
            sub = [examples[i] for i in idx]
            langs = sorted({e.lang for e in sub}) if name != "libpostal_intl" else ["*"]
            for lang in langs:
                keep = [i for i in idx if lang == "*" or examples[i].lang == lang]
                r = ev.score([examples[i] for i in keep], [findings[i] for i in keep], [redacted[i] for i in keep], 15)
                g = r["by_gold_type"]
                surv = lambda t: fmt(g[t]["surviving"]) if t in g else "—"  # noqa: E731
                print(f"| {name} | {lang} | {split} | {len(keep)} | {surv('PERSON')} | {surv('LOCATION')} | "
                      f"{surv('ORGANIZATION')} | {surv('STREET_ADDRESS')} | {fmt(r['overall']['surviving'])} | {fmt(r['overall_private']['surviving'])} | "
                      f"{fmt(g['PERSON']['recall']) if 'PERSON' in g else '—'} | {fmt(r['precision'])} | "
                      f"{r['findings']} | {r['quarantined']} |")
                if split == "tune" and args.misses:
                    misses.append((name, lang, r["misses"][:args.misses]))
        print(f"<!-- {name}: {len(examples)} rows in {took:.1f}s -->")
    for name, lang, ms in misses:
        print(f"\n{name} ({lang}) worst misses, tune half:")
        for m in ms:
            print(f"  {m['entity']:<15} {m['masked']:<40} x{m['times']}  row {m['row']}")


if __name__ == "__main__":
    main()
