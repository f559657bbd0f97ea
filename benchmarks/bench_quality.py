"""Quality benchmarks, baselines side by side in one run.

1. Language ID sentences/s: the ``language`` stage's ``identify`` vs bare ``model.predict`` calls.
2. Embedding sentences/s with the default all-MiniLM-L6-v2 on 2 threads.

DEITA selection speed is ``benchmarks/bench_select.py`` (``--size quick|full --json PATH``).

    python benchmarks/bench_quality.py
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]


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
    ap.add_argument("--lang", type=int, default=20_000)
    ap.add_argument("--embed", type=int, default=512)
    a = ap.parse_args()
    lang = bench_language(a.lang)
    print(f"\nlanguage ID: {lang['stage_per_s']:,.0f} sentences/s (stage), "
          f"{lang['bare_predict_per_s']:,.0f} sentences/s (bare fastText predict), {lang['sentences']:,} sentences")
    emb = bench_embed(a.embed)
    print(f"embedding (all-MiniLM-L6-v2, {emb['threads']} threads): {emb['per_s']:,.1f} sentences/s, "
          f"{emb['sentences']} sentences")


if __name__ == "__main__":
    main()
