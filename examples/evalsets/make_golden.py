"""Build golden.jsonl: every 25th sample conversation whose first user turn has 13+ words.

Deterministic; rerun after regenerating examples/data/sample_logs.jsonl.
"""

import json
from pathlib import Path

here = Path(__file__).parent
items = []
for n, line in enumerate((here.parent / "data" / "sample_logs.jsonl").read_bytes().splitlines()):
    try:
        rec = json.loads(line)
        user = next(m["content"] for m in rec["messages"] if m.get("role") == "user")
        answer = rec["messages"][-1]["content"]
    except (ValueError, KeyError, StopIteration, TypeError, AttributeError):  # malformed sample lines
        continue
    if n % 25 == 0 and isinstance(user, str) and len(user.split()) >= 13 and isinstance(answer, str):
        items.append({"id": f"golden-{len(items):03d}", "question": user, "answer": answer})
(here / "golden.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
print(f"{len(items)} golden items")
