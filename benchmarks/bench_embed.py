"""Embedding throughput and semantic dedup against semhash, side by side in one run.

1. Throughput (interleaved rounds, same texts): the ``embed`` stage with ``model: static`` against
   sentence-transformers' own ``encode`` of the embedded all-MiniLM-L6-v2 (the baseline the issue
   names), on prompts of generated production chats (examples/generate_logs.py, text: user).
   rows/s each and the ratio per round; the median ratio is reported.
2. Semantic dedup vs semhash (model2vec-based, ``SemHash.self_deduplicate``) on the same rows and
   the same static model: wall time and agreement of the removed sets at cosine ≥ 1 − eps.

    python benchmarks/bench_embed.py --rows 2000 --static-rows 20000 --rounds 3 --dedup-rows 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]


def prompts(n: int, seed: int = 0) -> pl.DataFrame:
    sys.path.insert(0, str(REPO / "examples"))
    import tempfile

    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    with tempfile.TemporaryDirectory() as d:
        logs = Path(d) / "logs.jsonl"
        generate_logs.write(str(logs), n, seed=seed, malformed_rate=0.0)
        v = ingest([str(logs)], to="raw", store=Store(Path(d) / "store")).version
        return pl.from_arrow(v.read(columns=["id", "messages"]))


def throughput(rows: int, static_rows: int, rounds: int) -> dict:
    from sluice.curate.quality.embed import DEFAULT_MODEL, Embed, resolve_model
    from sluice.curate.quality.text import conversation_text

    batch = prompts(max(rows, static_rows))
    texts = [conversation_text(m, ("user",)) for m in batch["messages"].to_list()]
    stage = Embed(model="static", text="user")
    stage.setup()
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(resolve_model(DEFAULT_MODEL), device="cpu")
    st.encode(texts[:64], batch_size=64)  # warm-up both
    stage.score(batch.head(64))
    out = []
    for r in range(rounds):
        t = time.perf_counter()
        st.encode(texts[:rows], batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                  show_progress_bar=False)
        st_rate = rows / (time.perf_counter() - t)
        t = time.perf_counter()
        stage.score(batch.head(static_rows))
        static_rate = static_rows / (time.perf_counter() - t)
        out.append({"round": r, "sentence_transformers_rows_s": st_rate, "embed_static_rows_s": static_rate,
                    "ratio": static_rate / st_rate})
        print(f"round {r}: sentence-transformers encode {st_rate:,.0f} rows/s, embed(static) {static_rate:,.0f} "
              f"rows/s, ratio {static_rate / st_rate:.0f}x", flush=True)
    return {"rows_baseline": rows, "rows_static": static_rows, "rounds": out,
            "median_ratio": statistics.median(r["ratio"] for r in out)}


def dedup_vs_semhash(n: int, eps: float) -> dict:
    from model2vec import StaticModel
    from semhash import SemHash

    from sluice.curate.dedup.semdedup import SemanticDedup, SemDedupScorer
    from sluice.curate.quality.embed import load_model, model_identity

    batch = prompts(n, seed=1)
    path = model_identity(load_model("static"))["path"]
    t = time.perf_counter()
    scorer = SemDedupScorer(key="first_user", model="static", cluster_size=100, guard="none", verify=None)
    scored = batch.hstack(scorer.score(batch))
    ours = set(scored["id"].filter(SemanticDedup(eps=eps).decide(scored)["reason"].is_not_null()))
    t_ours = time.perf_counter() - t
    texts = scored.select(pl.col("messages").list.eval(pl.element().filter(
        pl.element().struct.field("role") == "user").struct.field("content")).list.first()).to_series().to_list()
    t = time.perf_counter()
    sh = SemHash.from_records(records=texts, model=StaticModel.from_pretrained(path))
    res = sh.self_deduplicate(threshold=1 - eps)
    t_semhash = time.perf_counter() - t
    kept_texts = res.selected
    # semhash returns kept records; map back to row ids (texts may repeat: count occurrences)
    from collections import Counter

    kept_count = Counter(kept_texts)
    theirs = set()
    for rid, text in zip(scored["id"].to_list(), texts):
        if kept_count[text] > 0:
            kept_count[text] -= 1
        else:
            theirs.add(rid)
    inter = len(ours & theirs)
    return {"rows": n, "eps": eps, "sluice_seconds": t_ours, "semhash_seconds": t_semhash,
            "sluice_removed": len(ours), "semhash_removed": len(theirs),
            "jaccard": inter / max(len(ours | theirs), 1), "both": inter}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000, help="rows for the sentence-transformers baseline per round")
    ap.add_argument("--static-rows", type=int, default=20000, help="rows for the static embed stage per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dedup-rows", type=int, default=20000)
    ap.add_argument("--eps", type=float, default=0.1)
    args = ap.parse_args()
    if args.rounds:
        t = throughput(args.rows, args.static_rows, args.rounds)
        print(f"median ratio embed(static) / sentence-transformers encode: {t['median_ratio']:.0f}x")
    if args.dedup_rows:
        d = dedup_vs_semhash(args.dedup_rows, args.eps)
        print(f"semantic dedup of {d['rows']:,} prompts at eps {d['eps']}: sluice {d['sluice_seconds']:.1f} s "
              f"(removed {d['sluice_removed']:,}), semhash {d['semhash_seconds']:.1f} s (removed "
              f"{d['semhash_removed']:,}); removed sets: Jaccard {d['jaccard']:.3f}, both {d['both']:,}")


if __name__ == "__main__":
    main()
