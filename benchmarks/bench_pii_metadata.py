"""Precision of metadata redaction on the bundled logs: how many metadata values, keys, `source`
and `source_id` redaction changes, which keys, and whether any value changed type.

    HF_HUB_OFFLINE=1 python benchmarks/bench_pii_metadata.py [--sets gateway sample]

The bundled generator (examples/generate_logs.py) writes no personal data into metadata (user ids
are opaque, the rest is operational: model, region, latency, token counts, timestamps), so every
change there is an over-redaction: precision of metadata redaction = 1 - changed / flagged, and
here the target is no change at all. Runs the quickstart's privacy stages (pii_detect, redact_pii,
defaults) over examples/data/sample_logs.jsonl and sample_gateway_logs.jsonl.gz.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def leaves(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path}/{k}~key", k
            yield from leaves(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for v in obj:
            yield from leaves(v, f"{path}/[]")
    else:
        yield path, obj


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="*", default=["gateway", "sample"])
    args = ap.parse_args()
    from sluice.curate.ingest import ingest
    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.recipe import Recipe
    from sluice.runner import run
    from sluice.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        total = Counter()
        changed, typed, values = Counter(), Counter(), Counter()
        for name, path in (("sample", EXAMPLES / "sample_logs.jsonl"),
                           ("gateway", EXAMPLES / "sample_gateway_logs.jsonl.gz")):
            if name not in args.sets:
                continue
            raw = ingest([str(path)], to=name, store=store, workers=1).version
            out = run(Recipe(), [PiiDetect(), RedactPii()], store=store, input_ref=name, output=f"{name}-r").version
            before = {r["id"]: r for r in raw.read().to_pylist()}
            for r in out.read().to_pylist():
                b = before[r["id"]]
                for col in ("source", "source_id"):
                    total[col] += b[col] is not None
                    if b[col] != r[col]:
                        changed[col] += 1
                if not b["metadata"]:
                    continue
                old, new = dict(leaves(json.loads(b["metadata"]))), dict(leaves(json.loads(r["metadata"])))
                for k, v in old.items():
                    total["metadata keys" if k.endswith("~key") else "metadata values"] += 1
                    if k not in new or new[k] != v:
                        kind = "metadata keys" if k.endswith("~key") else "metadata values"
                        changed[kind] += 1
                        values[k] += 1
                        if k in new and type(new[k]) is not type(v):
                            typed[k] += 1
        print(f"{'field':<18}{'total':>8}{'changed':>9}")
        for k in ("metadata values", "metadata keys", "source", "source_id"):
            print(f"{k:<18}{total[k]:>8}{changed[k]:>9}")
        print("changed per key path:", dict(values.most_common(10)) or "none")
        print("values that changed type:", sum(typed.values()))
        print(json.dumps({"total": dict(total), "changed": dict(changed), "by_key": dict(values),
                          "type_changed": sum(typed.values())}))


if __name__ == "__main__":
    sys.exit(main())
