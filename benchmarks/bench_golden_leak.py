"""How many planted copies of the bundled golden items survive the quickstart's privacy +
decontamination stages?

    python benchmarks/bench_golden_leak.py [--work /tmp/golden-leak]

Plants three copies of each of the 10 items of examples/evalsets/golden.jsonl as raw log rows:
``verbatim`` (question and answer), ``edited`` (a prefix, a dropped final word, lower case; a
different answer) and ``repersonalised`` (the question with its names, e-mails, phones and
addresses swapped for other realistic values by sluice's own ``redact_pii`` surrogate operator; a
different answer). Runs normalize → pii_detect → redact_pii (placeholders) → contamination →
decontaminate, configured as examples/quickstart.yaml, and counts the planted rows that survive,
per variant. ``--old`` runs the previous quickstart configuration (prompts only, questions only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "examples" / "evalsets" / "golden.jsonl"
OTHER_ANSWER = "Thanks for asking. Here is what I found, let me know if anything is unclear."


def row(i: str, question: str, answer: str) -> dict:
    return {"id": i, "created_at": "2026-03-10T09:00:00Z", "model": "m",
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/golden-leak")
    ap.add_argument("--old", action="store_true", help="the previous configuration: key prompts, questions only")
    args = ap.parse_args()
    from sluice.curate.dedup.decontaminate import Contamination, Decontaminate
    from sluice.curate.ingest import ingest
    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.recipe import Recipe
    from sluice.runner import run
    from sluice.store import Store

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    store = Store(work / "store")
    golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    # re-personalised questions: sluice's own surrogate operator swaps every detected PII value
    (work / "in" / "g.jsonl").write_text("".join(json.dumps(row(g["id"], g["question"], "ok")) + "\n" for g in golden))
    ingest([str(work / "in" / "g.jsonl")], "goldraw", store=store)
    swapped = run(Recipe(), [PiiDetect(), RedactPii(default="surrogate")], store=store, input_ref="goldraw",
                  output="goldswap").version.read().to_pylist()
    swapped_q = {r["source_id"]: r["messages"][0]["content"] for r in swapped}
    planted = []
    for g in golden:
        words = g["question"].split()
        planted.append(row(f"verbatim-{g['id']}", g["question"], g["answer"]))
        planted.append(row(f"edited-{g['id']}", "Quick question: " + " ".join(words[:-1]).lower(), OTHER_ANSWER))
        planted.append(row(f"repersonalised-{g['id']}", swapped_q[g["id"]], OTHER_ANSWER))
    changed = sum(swapped_q[g["id"]] != g["question"] for g in golden)
    (work / "in" / "planted.jsonl").write_text("".join(json.dumps(r) + "\n" for r in planted))
    (work / "in" / "g.jsonl").unlink()
    ingest([str(work / "in")], "raw", store=store)
    fields = ["question"] if args.old else ["question", "answer"]
    stages = [PiiDetect(), RedactPii(),
              Contamination(evalsets=[{"name": "golden", "path": str(GOLDEN), "fields": fields, "id_field": "id"}],
                            key="prompts" if args.old else "prompts_and_answers"),
              Decontaminate(min_words=4, fuzzy_from=8, min_coverage=0.8)]
    out = run(Recipe(), stages, store=store, input_ref="raw", output="curated").version
    survived = Counter(r["source_id"].split("-")[0] for r in out.read().to_pylist())
    print(json.dumps({"config": "old (prompts, questions)" if args.old else "quickstart (prompts and answers, "
                      "placeholders as wildcards)", "golden_items": len(golden),
                      "questions_with_pii_swapped": changed,
                      "survived": {v: survived.get(v, 0) for v in ("verbatim", "edited", "repersonalised")},
                      "planted": len(planted)}))


if __name__ == "__main__":
    main()
