"""SemDedup against semhash: same prompts, same static model, model load timed on both sides.

    python benchmarks/bench_dedup_semdedup.py --size quick --json /tmp/semdedup.json   # 20k rows
    python benchmarks/bench_dedup_semdedup.py --size full                               # 20k and 100k

Rows: the user prompts of generated production chats (``examples/generate_logs.py`` through
``sluice ingest``). Each round times, interleaved (sluice, semhash, sluice, semhash, ...):

- **sluice**: load the static model (the loader's cache is cleared first, so every round loads it,
  as semhash does), then the ``semdedup`` stage as the quickstart runs it (static vectors, k-means,
  facts guard and polarity check with the token alignment, no MiniLM verify) and ``semantic_dedup``
  at ``--eps``;
- **semhash** (``SemHash.from_records`` + ``self_deduplicate(threshold=1 − eps)``): load the same
  model2vec model from the same path, build its index, deduplicate.

Quality, on the labelled pairs of ``bench_semdedup_polarity.py`` (MRPC / QQP / STS-B paraphrases
and non-paraphrases, NaN-NLI and GLUE-diagnostic contradictions): each pair's two texts as a
two-row dataset through each side's own decision at the same eps — precision (over all real
non-paraphrases) and recall (on the real paraphrases).

Writes the shape of ``benchmarks/results.py`` (``ratio`` = semhash seconds / sluice seconds; the
issue's target is sluice ≤ 1.0× semhash's time, i.e. ratio ≥ 1.0).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import results  # noqa: E402

SIZES = {"quick": [20_000], "full": [20_000, 100_000]}


def prompts(n: int, seed: int = 1) -> pl.DataFrame:
    """``id`` and ``messages`` of ``n`` generated chats, ingested (the way users get rows)."""
    sys.path.insert(0, str(HERE.parent / "examples"))
    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    with tempfile.TemporaryDirectory() as d:
        logs = Path(d) / "logs.jsonl"
        generate_logs.write(str(logs), n, seed=seed, malformed_rate=0.0)
        v = ingest([str(logs)], to="raw", store=Store(Path(d) / "store")).version
        return pl.from_arrow(v.read(columns=["id", "messages"]))


def first_user(batch: pl.DataFrame) -> list[str]:
    from sluice.curate.dedup.normalize import key_text

    return batch.select(key_text("first_user")).to_series().to_list()


def fresh_loader() -> None:
    """Forget loaded models, so the next ``load_model`` reads the model from disk like semhash does."""
    from sluice.curate.quality import embed

    embed._BACKENDS.clear()
    gc.collect()


def sluice_run(batch: pl.DataFrame, eps: float, cluster_size: int) -> set:
    from sluice.curate.dedup.semdedup import SemanticDedup, SemDedupScorer

    fresh_loader()
    scorer = SemDedupScorer(key="first_user", model="static", cluster_size=cluster_size, verify=None)
    scored = batch.hstack(scorer.score(batch))
    return set(scored["id"].filter(SemanticDedup(eps=eps).decide(scored)["reason"].is_not_null()))


def semhash_run(ids: list[str], texts: list[str], path: str, eps: float) -> set:
    from model2vec import StaticModel
    from semhash import SemHash

    sh = SemHash.from_records(records=texts, model=StaticModel.from_pretrained(path))
    kept = Counter(sh.self_deduplicate(threshold=1 - eps).selected)
    removed = set()
    for rid, text in zip(ids, texts):  # texts may repeat: the first occurrences are the kept ones
        if kept[text] > 0:
            kept[text] -= 1
        else:
            removed.add(rid)
    return removed


def pair_quality(eps: float, path: str) -> dict:
    """Precision / recall of each side's own decision on the real labelled pairs, at ``eps``."""
    import bench_semdedup_polarity as pol
    from model2vec import StaticModel
    from semhash import SemHash

    from sluice.curate.dedup.semdedup import facts_guard
    from sluice.curate.quality.embed import embed_texts, load_model

    pairs = pol.real_pairs()
    t1, t2 = pairs["text1"].to_list(), pairs["text2"].to_list()
    y = pairs["label"].to_numpy() == 1
    model = load_model("static")
    cos = np.einsum("ij,ij->i", embed_texts(model, t1), embed_texts(model, t2))
    n = len(t1)
    ok = facts_guard(t1 + t2, polarity_check=True)
    ours = (cos >= 1 - eps) & np.array([ok(i, n + i) for i in range(n)])
    sm = StaticModel.from_pretrained(path)
    theirs = np.array([len(SemHash.from_records(records=[a, b], model=sm).self_deduplicate(threshold=1 - eps)
                           .selected) == 1 for a, b in zip(t1, t2)])

    def pr(merged):
        tp, fp = int((merged & y).sum()), int((merged & ~y).sum())
        return {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0, "recall": round(tp / int(y.sum()), 3),
                "tp": tp, "fp": fp}
    return {"pairs": n, "paraphrases": int(y.sum()), "sluice": pr(ours), "semhash": pr(theirs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="quick")
    ap.add_argument("--json", type=Path, default=None, help="write results.py's shape here (outside the repo)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--eps", type=float, default=0.06, help="eps of the #34 figures (the quickstart's until SemDedup round four; 0.075 since)")
    ap.add_argument("--cluster-size", type=int, default=100, help="the quickstart's cluster_size")
    args = ap.parse_args()
    from sluice.curate.quality.embed import load_model, model_identity

    path = model_identity(load_model("static"))["path"]
    quality = pair_quality(args.eps, path)
    print(f"labelled pairs at eps {args.eps}: sluice {quality['sluice']}, semhash {quality['semhash']}", flush=True)
    comparisons = []
    for n in SIZES[args.size]:
        batch = prompts(n)
        ids, texts = batch["id"].to_list(), first_user(batch)
        rounds, agree = [], None
        for r in range(args.rounds):
            t_ours, ours = results.timed(sluice_run, batch, args.eps, args.cluster_size)
            t_theirs, theirs = results.timed(semhash_run, ids, texts, path, args.eps)
            rounds.append(results.round_(t_ours, t_theirs, sluice_removed=len(ours), semhash_removed=len(theirs)))
            agree = len(ours & theirs) / max(len(ours | theirs), 1)
            print(f"{n:,} rows, round {r + 1}: sluice {t_ours:.2f} s (removed {len(ours):,}), semhash "
                  f"{t_theirs:.2f} s (removed {len(theirs):,}), load {rounds[-1]['load1']}", flush=True)
        comp = results.comparison(
            f"semantic dedup, {n:,} prompts, eps {args.eps}, model load included on both sides",
            f"semdedup + semantic_dedup (static, cluster_size {args.cluster_size}, facts guard + polarity check)",
            "semhash SemHash.from_records + self_deduplicate (same model2vec model)",
            rounds, target=1.0, identical=None,
            quality={**quality, "removed_jaccard": round(agree, 3)},
            notes="decisions differ by design: sluice compares within k-means clusters and vetoes pairs the "
                  "facts guard / polarity check refuse; semhash searches all rows")
        s = results.summarise(comp)
        print(f"{n:,} rows: median semhash/sluice {s['ratio']} (min {s['min']}, max {s['max']}, noisy {s['noisy']}); "
              f"removed sets Jaccard {agree:.3f}; load {s['load']} on {os.cpu_count()} cores", flush=True)
        comparisons.append(comp)
    if args.json:
        out = results.write(args.json, "semdedup", args.size, vars(args) | {"json": str(args.json)}, comparisons)
        print(f"wrote {out}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
