"""Real function-calling traces through the quickstart recipe (issue #28): how many traces are
kept, and how many kept traces still have every tool call naming a declared tool with arguments
that validate against that tool's JSON Schema (after redaction, in the `--format openai` export).

    python benchmarks/bench_agent_traces.py --out /tmp/agent-bench [FILE ...]
    python benchmarks/bench_agent_traces.py --variants --out /tmp/agent-variants   # what embed should hold

Default inputs: the shared data (benchmarks/paths.py SHARED) formats/ — LLaMA-Factory's glaive_toolcall_en_demo.json (300
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

from paths import SCRATCH, SHARED

REPO = Path(__file__).resolve().parents[1]
DATA = SHARED / "formats"
DEFAULT = [DATA / "llamafactory" / "glaive_toolcall_en_demo.json", DATA / "openai_cookbook" / "drone_training.jsonl"]


def variants(files: list[Path], out: Path) -> None:
    """Rows a greedy diversity walk (select's rule, input order) keeps at τ 0.9 and 0.97 when the
    embedding holds user text, the whole conversation, user text + calls + final answer, and user
    text with the agent-signature block (calls only; tools offered + calls: what embed does)."""
    import numpy as np
    import polars as pl

    from sluice.curate.ingest import ingest
    from sluice.curate.quality import embed as E
    from sluice.curate.quality.text import agent_signature, call_signature, conversation_text
    from sluice.store import Store

    model = E.load_model("static")

    def walk(v, t):
        kept = []
        for i in range(len(v)):
            if not kept or float((v[kept] @ v[i]).max()) < t:
                kept.append(i)
        return len(kept)

    def block(v, sigs):
        sig = np.zeros((len(v), E.SIGNATURE_DIMS), np.float32)
        scale = np.ones((len(v), 1), np.float32)
        for i, s in enumerate(sigs):
            if s:
                sig[i], scale[i] = E.SIGNATURE_WEIGHT * E._signature_vector(s), np.sqrt(1 - E.SIGNATURE_WEIGHT ** 2)
        return np.hstack([v * scale, sig])

    for f in files:
        shutil.rmtree(out, ignore_errors=True)
        df = pl.from_arrow(ingest([str(f)], "raw", store=Store(out / "v")).version.read())
        msgs, tools = df["messages"].to_list(), df["tools"].to_list()
        user = E.embed_texts(model, [conversation_text(m, ("user",)) for m in msgs])
        calls = ["\n".join([call_signature(m), next((x["content"] for x in reversed(m) if x["role"] == "assistant"
                                                     and x["content"]), "")]) for m in msgs]
        rows = {"user text": user,
                "conversation text": E.embed_texts(model, [conversation_text(m) for m in msgs]),
                "user text + calls + final answer": E.embed_texts(
                    model, [conversation_text(m, ("user",)) + "\n" + c for m, c in zip(msgs, calls)]),
                "user text + signature block (calls)": block(user, [call_signature(m) for m in msgs]),
                "user text + signature block (tools + calls)": block(
                    user, [agent_signature(m, t) for m, t in zip(msgs, tools)])}
        distinct = df.select("messages", "tools").unique().height
        print(f"{f.name}: {df.height} rows, {distinct} distinct")
        for name, v in rows.items():
            print(f"  {name:45s} kept at 0.97: {walk(v, 0.97):4d}   at 0.9: {walk(v, 0.9):4d}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--out", type=Path, default=SCRATCH / "agent-bench")
    ap.add_argument("--recipe", type=Path, default=REPO / "examples" / "quickstart.yaml")
    ap.add_argument("--variants", action="store_true", help="compare what the embedding holds (no recipe run)")
    args = ap.parse_args()
    if args.variants:
        return variants(args.files, args.out)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    from sluice.curate.ingest import ingest
    from sluice.curate.quality.text import agent_signature, call_signature
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
    # Are the near-duplicate drops right? Each select / semantic-dedup drop names the row it was too
    # close to: count those with the same agent signature (tools offered, calls with their
    # arguments), those that are refusals (no calls), and those with another number of user turns.
    rej = pl.from_arrow(version.read("rejected"))
    near = rej.filter(pl.col("stage").is_in(["select", "semantic_dedup"]))
    pool = {r["id"]: r for r in pl.concat([pl.from_arrow(version.read()).select("id", "messages", "tools"),
                                           rej.select("id", "messages", "tools")]).to_dicts()}
    audit = {"drops": near.height, "same_signature": 0, "no_calls": 0, "other_user_turn_count": 0}
    for r in near.to_dicts():
        d = pool.get(r["duplicate_of"])
        if d is None:
            continue
        audit["same_signature"] += agent_signature(r["messages"], r["tools"]) == agent_signature(d["messages"], d["tools"])
        audit["no_calls"] += not call_signature(r["messages"])
        users = [sum(m["role"] == "user" for m in x["messages"]) for x in (r, d)]
        audit["other_user_turn_count"] += users[0] != users[1]
    print(json.dumps({
        "inputs": [str(f) for f in args.files], "raw_last": raw.ref, "traces_in": n_in, "kept": kept,
        "kept_pct": round(100 * kept / n_in, 1) if n_in else None,
        "kept_with_tool_calls": with_calls, "tool_calls_kept": calls,
        "valid_pct_of_kept": round(100 * valid / kept, 1) if kept else None,
        "invalid_by_reason": problems, "rejected_by_stage": acc.get("rejected"),
        "quarantined": acc.get("quarantined"), "agent_funnel": agent_funnel(version),
        "distinct_traces_in": distinct, "near_duplicate_drops": audit, "seconds": round(seconds, 1)}, indent=1))


if __name__ == "__main__":
    main()
