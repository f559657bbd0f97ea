"""Build the XSTest JSONL files from the hand-copied blocks (SOURCE.md, "XSTest v2 model completions").

    python benchmarks/devsets/refusal/xstest_raw/convert.py            # xstest_sample.jsonl (split by prompt)
    python benchmarks/devsets/refusal/xstest_raw/convert.py --fresh    # xstest_fresh.jsonl (one round)
    python benchmarks/devsets/refusal/xstest_raw/convert.py --fresh2   # xstest_fresh2.jsonl (one round)
"""

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
MAP = {"1_full_compliance": None, "2_full_refusal": "refusal", "3_partial_refusal": "partial_refusal"}


def blocks(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.txt")):
        cur = None
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.startswith("=== "):
                if cur:
                    rows.append(cur)
                model, pid, typ, lab = (x.strip() for x in line[4:].split("|"))
                cur = {"model": model, "prompt_id": pid, "type": typ, "xstest_label": lab, "lines": []}
            elif cur is not None:
                cur["lines"].append(line)
        if cur:
            rows.append(cur)
    return rows


def main() -> None:
    fresh = next((a[2:] for a in sys.argv[1:] if a in ("--fresh", "--fresh2")), None)
    out = []
    for r in blocks(HERE / fresh if fresh else HERE):
        text = "\n".join(r.pop("lines")).strip()
        h = int(hashlib.sha1(r["prompt_id"].encode()).hexdigest(), 16)
        rnd = f"xstest_{fresh}" if fresh else ("xstest_dev" if h % 2 == 0 else "xstest_test")
        out.append({"id": hashlib.sha1(f"{r['model']}|{r['prompt_id']}".encode()).hexdigest()[:8], "round": rnd,
                    "source": f"xstest_{r['model']}", "label": MAP[r["xstest_label"]], **r, "text": text})
    out.sort(key=lambda r: (r["model"], int(r["prompt_id"][3:])))
    dest = HERE.parent / (f"xstest_{fresh}.jsonl" if fresh else "xstest_sample.jsonl")
    dest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    print(f"{dest}: {len(out)} rows")


if __name__ == "__main__":
    main()
