"""Real function-calling traces through the quickstart recipe (issue #28): how many traces are
kept, and how many kept traces still have every tool call naming a declared tool with arguments
that validate against that tool's JSON Schema (after redaction, in the `--format openai` export).

    python benchmarks/bench_agent_traces.py --out /tmp/agent-bench [FILE ...]

Default inputs: /work/shared/data/formats — LLaMA-Factory's glaive_toolcall_en_demo.json (300
ShareGPT traces with function_call/observation turns) and the OpenAI cookbook's
drone_training.jsonl (103 chat fine-tuning lines with tools and tool_calls).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SLUICE_SHARED_DATA", "/work/shared/data")) / "formats"
DEFAULT = [DATA / "llamafactory" / "glaive_toolcall_en_demo.json", DATA / "openai_cookbook" / "drone_training.jsonl"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--out", type=Path, default=Path("/tmp/agent-bench"))
    ap.add_argument("--recipe", type=Path, default=REPO / "examples" / "quickstart.yaml")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    from sluice.curate.ingest import ingest
    from sluice.curate.stages.trace_check import trace_problems
    from sluice.export import rows as export_rows
    from sluice.report import agent_funnel
    from sluice.recipe import load_recipe
    from sluice.runner import run
    from sluice.store import Store

    shutil.rmtree(args.out, ignore_errors=True)
    store = Store(args.out / "store")
    ingest([str(f) for f in args.files], "raw", store=store)
    t = time.perf_counter()
    spec, stages = load_recipe(str(args.recipe))
    result = run(spec, stages, store=store)
    seconds = time.perf_counter() - t
    raw = store.resolve("raw")
    version = result.version
    acc = version.manifest["accounting"]
    n_in = raw.manifest["accounting"]["kept"]
    import polars as pl

    raw_df = pl.from_arrow(raw.read()).select("messages", "tools")
    distinct = raw_df.unique().height  # exact duplicates in the input are removed by exact_dedup, rightly
    valid, with_calls, calls = 0, 0, 0
    problems: dict[str, int] = {}
    for line in export_rows(version, "openai"):
        rec = json.loads(line)
        found = trace_problems(rec["messages"], rec.get("tools"))
        n = sum(len(m.get("tool_calls") or []) for m in rec["messages"])
        calls += n
        with_calls += n > 0
        valid += not found
        for code in {c for c, _ in found}:
            problems[code] = problems.get(code, 0) + 1
    kept = acc["kept"]
    print(json.dumps({
        "inputs": [str(f) for f in args.files], "raw_last": raw.ref, "traces_in": n_in, "kept": kept,
        "kept_pct": round(100 * kept / n_in, 1) if n_in else None,
        "kept_with_tool_calls": with_calls, "tool_calls_kept": calls,
        "valid_pct_of_kept": round(100 * valid / kept, 1) if kept else None,
        "invalid_by_reason": problems, "rejected_by_stage": acc.get("rejected"),
        "quarantined": acc.get("quarantined"), "agent_funnel": agent_funnel(version),
        "distinct_traces_in": distinct, "seconds": round(seconds, 1)}, indent=1))


if __name__ == "__main__":
    main()
