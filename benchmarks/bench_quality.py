"""Quality benchmarks, baselines side by side in one run.

1. DEITA selection: blocked exact greedy (``greedy_select``) vs the straightforward loop
   (``greedy_reference``: one similarity pass against every kept row per candidate), identical
   selections asserted; clustered 384-d embeddings so the walk goes deep into the pool.
2. Language ID sentences/s: the ``language`` stage's ``identify`` vs bare ``model.predict`` calls.
3. Embedding sentences/s with the default all-MiniLM-L6-v2 on 2 threads.

    python benchmarks/bench_quality.py                      # 200k/10k fast; reference on 40k/2k
    python benchmarks/bench_quality.py --ref-n 200000 --ref-budget 10000   # full reference (slow)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]


def clustered(n: int, centers: int, d: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((centers, d)).astype(np.float32)  # ~budget clusters: a deep walk
    emb = centers[rng.integers(0, len(centers), n)] + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
    return emb, rng.random(n) * 36


def bench_select(n: int, budget: int, ref_n: int, ref_budget: int, rounds: int) -> list[dict]:
    from sluice.curate.quality.select import greedy_reference, greedy_select, walk_order

    rows = []
    emb, scores = clustered(ref_n, ref_budget * 11 // 10, seed=1)
    order = walk_order(scores)
    fast_t, ref_t = [], []
    for _ in range(rounds):  # interleaved
        t = time.perf_counter()
        fast = greedy_select(emb, order, 0.9, ref_budget).selected.tolist()
        fast_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = greedy_reference(emb, order, 0.9, ref_budget)
        ref_t.append(time.perf_counter() - t)
        assert fast == ref, "selections differ"
    walked = int(np.flatnonzero(order == fast[-1])[0]) + 1
    rows.append({"case": f"{ref_n:,} candidates → {ref_budget:,}", "walked": walked, "fast_s": min(fast_t),
                 "reference_s": min(ref_t), "identical": True, "speedup": min(ref_t) / min(fast_t)})
    if n != ref_n or budget != ref_budget:
        emb, scores = clustered(n, budget * 11 // 10, seed=2)
        order = walk_order(scores)
        t = time.perf_counter()
        sel = greedy_select(emb, order, 0.9, budget).selected
        walked = int(np.flatnonzero(order == sel[-1])[0]) + 1
        rows.append({"case": f"{n:,} candidates → {budget:,}", "walked": walked, "fast_s": time.perf_counter() - t,
                     "reference_s": None, "identical": None, "speedup": None})
    return rows


def _sample_texts(k: int) -> list[str]:
    lines = (REPO / "examples" / "data" / "sample_logs.jsonl").read_text(errors="replace").splitlines()
    texts = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        texts += [m["content"] for m in (rec.get("messages") or [] if isinstance(rec, dict) else [])
                  if isinstance(m, dict) and isinstance(m.get("content"), str) and m["content"]]
    return (texts * (k // max(len(texts), 1) + 1))[:k]


def bench_language(k: int) -> dict:
    from sluice.curate.quality.language import identify, load_model

    model, texts = load_model(), _sample_texts(k)
    t = time.perf_counter()
    identify(model, texts, 2000)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    for s in texts:
        model.predict(s.replace("\n", " "), k=1)
    bare = time.perf_counter() - t
    return {"sentences": k, "stage_per_s": k / ours, "bare_predict_per_s": k / bare}


def bench_embed(k: int) -> dict:
    import torch

    from sluice.curate.quality.embed import embed_texts, load_model

    torch.set_num_threads(2)
    model, texts = load_model("all-MiniLM-L6-v2"), _sample_texts(k)
    embed_texts(model, texts[:32])  # warm-up
    t = time.perf_counter()
    embed_texts(model, texts, batch_size=64)
    return {"sentences": k, "per_s": k / (time.perf_counter() - t), "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--budget", type=int, default=10_000)
    ap.add_argument("--ref-n", type=int, default=40_000)
    ap.add_argument("--ref-budget", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--lang", type=int, default=20_000)
    ap.add_argument("--embed", type=int, default=512)
    a = ap.parse_args()
    print("| selection (384-d, τ=0.9) | walked | blocked exact | reference loop | speedup | identical |")
    print("|---|---|---|---|---|---|")
    for r in bench_select(a.n, a.budget, a.ref_n, a.ref_budget, a.rounds):
        ref = f"{r['reference_s']:.2f} s" if r["reference_s"] else "—"
        sp = f"{r['speedup']:.1f}×" if r["speedup"] else "—"
        print(f"| {r['case']} | {r['walked']:,} | {r['fast_s']:.2f} s | {ref} | {sp} | {r['identical'] or '—'} |")
    lang = bench_language(a.lang)
    print(f"\nlanguage ID: {lang['stage_per_s']:,.0f} sentences/s (stage), "
          f"{lang['bare_predict_per_s']:,.0f} sentences/s (bare fastText predict), {lang['sentences']:,} sentences")
    emb = bench_embed(a.embed)
    print(f"embedding (all-MiniLM-L6-v2, {emb['threads']} threads): {emb['per_s']:,.1f} sentences/s, "
          f"{emb['sentences']} sentences")


if __name__ == "__main__":
    main()
