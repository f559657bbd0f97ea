"""The embed stage (``model: static``) against model2vec's own ``StaticModel.encode``, in results.py's shape.

Same static model object, same texts (the user turns of generated production chats,
examples/generate_logs.py, ingested), interleaved rounds (encode, stage, encode, ...), load average per
round, one thread of model2vec on both sides (``use_multiprocessing=False``; the tokenizer's own
threads on both). The stage's timer covers what a recipe pays: reading ``messages``, building the
texts, encoding, the agent-signature block and the polars column; the baseline gets the texts ready
made. "identical": on the rows without an agent signature (no tool calls), the stage's vectors equal
model2vec's, L2-normalized in float32, bit for bit. ``--size full`` adds sentence-transformers'
all-MiniLM-L6-v2 ``encode`` as a quality reference (another model: its ratio says nothing about
sluice's code, so it has no target).

    python benchmarks/bench_embed.py --size quick --json /tmp/embed.json     # 20,000 texts, 3 rounds
    python benchmarks/bench_embed.py --size full                             # 100,000 texts
    python benchmarks/bench_embed.py --rounds 0 --dedup-rows 20000           # the old semhash comparison
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from results import comparison, round_, write

REPO = Path(__file__).resolve().parents[1]
SIZES = {"quick": 20_000, "full": 100_000}


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


def throughput(rows: int, rounds: int, reference_rows: int = 0) -> list[dict]:
    from sluice.curate.quality.embed import DEFAULT_MODEL, Embed, resolve_model
    from sluice.curate.quality.text import conversation_text

    batch = prompts(rows)
    texts = [conversation_text(m, ("user",)) for m in batch["messages"].to_list()]
    stage = Embed(model="static", text="user")
    stage.setup()
    model = stage.model.backend  # the very StaticModel the stage holds

    def encode(t):
        return model.encode(t, show_progress_bar=False, use_multiprocessing=False)

    encode(texts[:64])  # warm-up both
    stage.score(batch.head(64))
    out, ours, theirs = [], None, None
    for r in range(rounds):
        c = time.process_time()
        t_base, theirs = _timed(encode, texts)
        c_base, c = time.process_time() - c, time.process_time()
        t_ours, ours = _timed(stage.score, batch)
        c_ours = time.process_time() - c
        # CPU seconds (all threads of this process) beside the wall clock: at nice 19 on a shared box a side
        # can wait for a core without working more
        out.append(round_(t_ours, t_base, sluice_rows_s=round(rows / t_ours), baseline_rows_s=round(rows / t_base),
                          sluice_cpu_s=round(c_ours, 3), baseline_cpu_s=round(c_base, 3)))
        print(f"round {r}: model2vec encode {t_base:.2f} s ({c_base:.2f} s CPU), embed stage {t_ours:.2f} s "
              f"({c_ours:.2f} s CPU), ratio {t_base / t_ours:.2f}x, load {out[-1]['load1']}", file=sys.stderr, flush=True)
    full = np.asarray(ours["embedding"].to_numpy(), dtype=np.float32)
    plain = ~np.any(full[:, model.dim:], axis=1)  # rows without an agent signature (tool calls) compare as is
    vectors = full[plain, : model.dim]
    ref = np.asarray(theirs, dtype=np.float32)[plain]
    ref = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
    identical = bool(np.array_equal(vectors, ref))
    comps = [comparison(f"embed {rows:,} user prompts (static model, {model.dim} dims)",
                        "sluice embed stage (messages in, embedding column out; 1 thread)",
                        "model2vec StaticModel.encode on the ready texts (1 thread)", out, target=1.0,
                        identical=identical, quality={"max_abs_diff": float(np.abs(vectors - ref).max()),
                                                      "rows_compared": int(plain.sum()),
                                                      "distinct_texts": len(set(texts))})]
    if reference_rows:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(resolve_model(DEFAULT_MODEL), device="cpu")
        sub, ref_rounds = texts[:reference_rows], []
        st.encode(sub[:64], batch_size=64)
        for _ in range(rounds):
            t_st, _v = _timed(st.encode, sub, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                              show_progress_bar=False)
            t_ours, _v = _timed(stage.score, batch.head(reference_rows))
            ref_rounds.append(round_(t_ours, t_st))
        comps.append(comparison(f"embed {reference_rows:,} user prompts", "sluice embed stage (static)",
                                "sentence-transformers all-MiniLM-L6-v2 encode (another model: quality reference)",
                                ref_rounds, target=None, identical=None,
                                notes="two models; the ratio is not a measure of sluice's code"))
    return comps


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


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
    ap.add_argument("--size", choices=sorted(SIZES), default="quick")
    ap.add_argument("--rows", type=int, help="texts per round (overrides --size)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write results.py's JSON here")
    ap.add_argument("--dedup-rows", type=int, default=0, help="also run the semantic dedup vs semhash comparison")
    ap.add_argument("--eps", type=float, default=0.1)
    args = ap.parse_args()
    rows = args.rows or SIZES[args.size]
    if args.rounds:
        comps = throughput(rows, args.rounds, reference_rows=2000 if args.size == "full" else 0)
        for c in comps:
            ratios = sorted(r["baseline_s"] / r["sluice_s"] for r in c["rounds"])
            print(f"{c['what']}: vs {c['baseline']}: median {ratios[len(ratios) // 2]:.2f}x, identical {c['identical']}")
        if args.json:
            write(args.json, "embed", args.size if not args.rows else f"rows {rows}",
                  {"rows": rows, "rounds": args.rounds}, comps)
    if args.dedup_rows:
        d = dedup_vs_semhash(args.dedup_rows, args.eps)
        print(f"semantic dedup of {d['rows']:,} prompts at eps {d['eps']}: sluice {d['sluice_seconds']:.1f} s "
              f"(removed {d['sluice_removed']:,}), semhash {d['semhash_seconds']:.1f} s (removed "
              f"{d['semhash_removed']:,}); removed sets: Jaccard {d['jaccard']:.3f}, both {d['both']:,}")


if __name__ == "__main__":
    main()
