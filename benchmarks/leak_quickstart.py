"""Which values examples/generate_logs.py planted in the quickstart's raw data survive in curated?

    bash scripts/quickstart.sh            # raw@v1 → curated@v1 in $SLUICE_HOME
    python benchmarks/leak_quickstart.py [--raw raw@v1] [--curated curated@v1]

The planted values are the generator's own value pools (names, e-mails, phones, cards, addresses,
IBANs, IPs per language) and its ``sk-`` keys, as far as they occur in raw; the seed is found by
matching (seeds 0–3). Prints counts per kind and a few surviving values per kind (they are fake).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(0, 4)
sys.path.insert(0, str(ROOT / "examples"))


def dump(version) -> str:
    return json.dumps(version.read().to_pylist(), ensure_ascii=False, default=str)


def planted(raw_text: str) -> dict[str, set[str]]:
    import generate_logs

    out: dict[str, set[str]] = {}
    for seed in SEEDS:  # the samples' seeds are not recorded: take every seed whose values occur in raw
        pools = generate_logs._pools(seed)
        if sum(v in raw_text for p in pools.values() for v in p["email"]) < 5:
            continue
        for pool in pools.values():
            for kind in generate_logs.PII_KINDS:
                for v in pool.get(kind, ()):
                    if json.dumps(v, ensure_ascii=False)[1:-1] in raw_text:
                        out.setdefault(kind, set()).add(v)
    out["apikey"] = set(re.findall(r"sk-[A-Za-z0-9]{20,}", raw_text))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default="raw@v1")
    ap.add_argument("--curated", default="curated@v1")
    args = ap.parse_args()
    from sluice.store import Store

    store = Store(Path(os.environ.get("SLUICE_HOME", ROOT / "sluice-data")))
    raw, curated = dump(store.resolve(args.raw)), store.resolve(args.curated)
    text = dump(curated)
    for part in ("rejected", "quarantine"):
        try:
            text += json.dumps(curated.read(part).to_pylist(), ensure_ascii=False, default=str)
        except Exception:  # noqa: BLE001 — a version without that part
            pass
    values = planted(raw)
    surviving = Counter()
    print("| kind | planted in raw | surviving in curated (data + rejected + quarantine) |\n|---|---:|---:|")
    for kind, vs in sorted(values.items()):
        left = sorted(v for v in vs if json.dumps(v, ensure_ascii=False)[1:-1] in text)
        surviving[kind] = len(left)
        print(f"| {kind} | {len(vs)} | {len(left)} |")
    print(f"\ntotal: {sum(len(v) for v in values.values())} planted, {sum(surviving.values())} surviving")
    for kind, vs in sorted(values.items()):
        left = sorted(v for v in vs if json.dumps(v, ensure_ascii=False)[1:-1] in text)
        if left:
            print(f"  {kind}: {left[:8]}")


if __name__ == "__main__":
    main()
