"""The second-opinion leak scan on real labelled text: of the gold values the redactor leaves,
how many does `sluice pii scan` (``SecondOpinion``) flag, and how noisy is it on text without them.

    HF_HUB_OFFLINE=1 python benchmarks/bench_pii_scan.py --rows 600 [--sets wnut17_en meddocan_es]

For each shared pii_dev file (benchmarks/paths.py SHARED) (the first ``--rows`` rows with spans, and its rows without
spans): the redactor's engine (``pii_detect`` defaults) runs over the texts; a gold span *survives*
when no finding overlaps it. The scan then runs on the same texts, and a surviving span is *caught*
when a scan finding overlaps it. Noise: share of span-free pii_dev rows, and of ``--alpaca`` rows of
the shared Alpaca 9k sample, that the scan flags (Alpaca names public figures and fictional people:
flags there are not all false). Prints one table per set, per gold type.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from paths import SHARED

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
DATA = Path(os.environ.get("PII_DEV") or SHARED / "pii_dev")
ALPACA = SHARED / "instructions" / "alpaca_random_9k" / "random_9k.json"
PERSONAL = ("PERSON", "LOCATION", "ORGANIZATION", "ADDRESS", "EMAIL", "PHONE", "ID", "RECIPIENT")


def overlaps(spans, start, end) -> bool:
    return any(s < end and e > start for s, e in spans)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=600, help="rows with spans per file")
    ap.add_argument("--negatives", type=int, default=400, help="span-free rows per file")
    ap.add_argument("--alpaca", type=int, default=1000)
    ap.add_argument("--sets", nargs="*", help="pii_dev file stems [default: all]")
    args = ap.parse_args()
    from sluice.curate.pii.detector import Detector
    from sluice.curate.pii.engine import EngineConfig
    from sluice.curate.pii.scan import SecondOpinion

    redactor, second = Detector(EngineConfig()), SecondOpinion()
    out = {}
    for path in sorted(DATA.glob("*.jsonl")):
        if args.sets and path.stem not in args.sets:
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        labelled = [r for r in rows if r["spans"]][:args.rows]
        negatives = [r for r in rows if not r["spans"]][:args.negatives]
        found = redactor.findings([r["text"] for r in labelled])
        gold, survived, caught = Counter(), Counter(), Counter()
        for row, results in zip(labelled, found):
            red = [(f.start, f.end) for f in results if f.score >= 0.4]
            scan = [(s, e) for s, e, _, _ in second.find(row["text"])]
            for sp in row["spans"]:
                if sp["label"] not in PERSONAL:
                    continue
                gold[sp["label"]] += 1
                if not overlaps(red, sp["start"], sp["end"]):
                    survived[sp["label"]] += 1
                    caught[sp["label"]] += overlaps(scan, sp["start"], sp["end"])
        noisy = sum(bool(second.find(r["text"])) for r in negatives)
        out[path.stem] = {"rows": len(labelled), "negatives": len(negatives), "negatives_flagged": noisy,
                          "by_type": {t: {"gold": gold[t], "survived": survived[t], "caught": caught[t]}
                                      for t in gold}}
        print(f"\n{path.stem}: {len(labelled)} labelled rows; span-free rows flagged {noisy}/{len(negatives)}")
        print(f"  {'type':<14}{'gold':>7}{'left by redactor':>18}{'caught by scan':>16}")
        for t in sorted(gold, key=lambda t: -gold[t]):
            share = f"{caught[t] / survived[t]:.0%}" if survived[t] else "—"
            print(f"  {t:<14}{gold[t]:>7}{survived[t]:>18}{caught[t]:>10} ({share})")
        tot_s, tot_c = sum(survived.values()), sum(caught.values())
        print(f"  {'all':<14}{sum(gold.values()):>7}{tot_s:>18}{tot_c:>10} ({tot_c / max(tot_s, 1):.0%})")
    if ALPACA.is_file() and args.alpaca:
        items = json.loads(ALPACA.read_text(encoding="utf-8"))[:args.alpaca]
        texts = [" ".join(x for x in (it.get("instruction"), it.get("input"), it.get("output")) if x) for it in items]
        flagged = Counter()
        rows_flagged = 0
        for t in texts:
            f = second.find(t)
            rows_flagged += bool(f)
            flagged.update(rule for *_, rule in f)
        out["alpaca"] = {"rows": len(texts), "rows_flagged": rows_flagged, "by_rule": dict(flagged)}
        print(f"\nalpaca 9k (first {len(texts)}): rows flagged {rows_flagged} ({rows_flagged / len(texts):.1%}); "
              f"by rule {dict(flagged.most_common())}")
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
