import hashlib, json, sys, glob
MAP = {"1_full_compliance": None, "2_full_refusal": "refusal", "3_partial_refusal": "partial_refusal"}
rows = []
for path in sorted(glob.glob("/tmp/xs/*.txt")):
    cur = None
    for line in open(path, encoding="utf-8").read().split("\n"):
        if line.startswith("=== "):
            if cur: rows.append(cur)
            model, pid, typ, lab = [x.strip() for x in line[4:].split("|")]
            cur = {"model": model, "prompt_id": pid, "type": typ, "xstest_label": lab, "lines": []}
        elif cur is not None:
            cur["lines"].append(line)
    if cur: rows.append(cur)
out = []
for r in rows:
    text = "\n".join(r.pop("lines")).strip()
    h = int(hashlib.sha1(r["prompt_id"].encode()).hexdigest(), 16)
    out.append({"id": hashlib.sha1(f"{r['model']}|{r['prompt_id']}".encode()).hexdigest()[:8],
                "round": "xstest_dev" if h % 2 == 0 else "xstest_test",
                "source": f"xstest_{r['model']}", "label": MAP[r["xstest_label"]], **r, "text": text})
out.sort(key=lambda r: (r["model"], int(r["prompt_id"][3:])))
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for r in out:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
from collections import Counter
print(len(out), Counter((r["round"], r["label"]) for r in out))
print(Counter(r["source"] for r in out))
