"""Learned quality scorer, half/half protocol, on labelled dev sets built from real data.

For each dev set (benchmarks/devsets/quality/build.py; label ``metadata.helpful``): split the
rows in two halves by a hash of their group (both sides of a pair land in one half), ingest
each half, run ``embed``; fit ``sluice quality fit`` on half A (cross-validated figure printed),
then on half B:

* learned: ``quality_score scorer: DIR`` → AUROC of ``score_total`` against the label, and
  ``select`` with a 10% budget → the selected rows' helpful rate / half B's rate (lift);
* default: ``quality_score`` (no scorer: offline heuristic) → ``select`` 10% → lift (the
  default order is diversity-only);
* heuristic by name (``select order: score`` on the heuristic score) → AUROC and lift, the
  ranking the default refuses to use.

Heads (``--heads linear,mlp``) are compared on the same halves. Everything runs through the
same Python entry points the CLI commands call.

    python benchmarks/devsets/quality/build.py
    python benchmarks/bench_quality_scorer.py                     # all sets, MiniLM, linear + mlp
    python benchmarks/bench_quality_scorer.py --sets alpaca_gpt4 --heads linear
    python benchmarks/bench_quality_scorer.py --features             # feature subsets, grouped CV
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
DEVSETS = REPO / "benchmarks" / "devsets" / "quality" / "out"
LABEL = "metadata.helpful"


def halves(path: Path, max_groups: int | None, seed: str = "half") -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    groups = sorted({r["group"] for r in rows}, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).digest())
    if max_groups:
        groups = groups[:max_groups]
    a = set(groups[: len(groups) // 2])
    keep = set(groups)
    return [r for r in rows if r["group"] in a], [r for r in rows if r["group"] in keep and r["group"] not in a]


def _ingest(store, name: str, rows: list[dict], tmp: Path):
    from sluice.curate.ingest import ingest

    f = tmp / f"{name}.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return ingest([f], name, store=store).version


def _run(store, input_ref: str, output: str, stages: list[dict]):
    from sluice.recipe import Recipe
    from sluice.runner import run

    recipe = Recipe.model_validate({"name": output, "input": input_ref, "output": output, "stages": stages})
    return run(recipe, recipe.build(), store=store).version


def _scores(version):
    import polars as pl

    from sluice.curate.quality.labels import label_values

    df = pl.from_arrow(version.read())
    return df["score_total"].to_numpy(), label_values(df, LABEL).to_numpy()


def _selected_lift(version) -> float:
    info = next(s for s in version.manifest["stages"] if s["name"] == "select")["info"]
    return info["lift"]["lift"]


def evaluate(name: str, store, tmp: Path, heads: list[str], max_groups: int | None, model: str | None) -> list[dict]:
    from sklearn.metrics import roc_auc_score

    from sluice.curate.quality.training import fit_version

    a_rows, b_rows = halves(DEVSETS / f"{name}.jsonl", max_groups)
    embed = [{"stage": "embed", **({"model": model} if model else {})}]
    t = time.perf_counter()
    a = _run(store, _ingest(store, f"{name}_a", a_rows, tmp).ref, f"{name}_a_emb", embed)
    b = _run(store, _ingest(store, f"{name}_b", b_rows, tmp).ref, f"{name}_b_emb", embed)
    embed_s = time.perf_counter() - t
    budget = max(1, len(b_rows) // 10)
    select = {"stage": "select", "budget": budget, "label": LABEL}
    out = []
    for head in heads:
        t = time.perf_counter()
        scorer = fit_version(a, store, label=LABEL, out=tmp / f"{name}-{head}", head=head, group="metadata.group",
                             embedding_model=model)
        fit_s = time.perf_counter() - t
        scored = _run(store, b.ref, f"{name}_b_{head}", [{"stage": "quality_score", "scorer": str(tmp / f"{name}-{head}")}])
        s, y = _scores(scored)
        picked = _run(store, scored.ref, f"{name}_b_{head}_sel", [select])
        out.append({"set": name, "path": f"learned ({head})", "rows_a": len(a_rows), "rows_b": len(b_rows),
                    "cv_auroc_a": scorer.metrics["auroc"], "auroc_b": roc_auc_score(y, s),
                    "lift_10": _selected_lift(picked), "fit_s": fit_s, "embed_s": embed_s})
    default = _run(store, b.ref, f"{name}_b_default", [{"stage": "quality_score"}])
    s, y = _scores(default)
    picked = _run(store, default.ref, f"{name}_b_default_sel", [select])
    out.append({"set": name, "path": "default (heuristic score, diversity order)", "rows_a": len(a_rows),
                "rows_b": len(b_rows), "cv_auroc_a": None, "auroc_b": None, "lift_10": _selected_lift(picked)})
    picked = _run(store, default.ref, f"{name}_b_heur_sel", [{**select, "order": "score"}])
    out.append({"set": name, "path": "heuristic by name (order: score)", "rows_a": len(a_rows), "rows_b": len(b_rows),
                "cv_auroc_a": None, "auroc_b": roc_auc_score(y, s), "lift_10": _selected_lift(picked)})
    return out


def feature_table(name: str, max_groups: int | None, model: str | None) -> list[dict]:
    """Grouped 5-fold CV AUROC of the linear head on feature subsets (which parts earn their place)."""
    from sluice.curate.quality.embed import DEFAULT_MODEL, load_model
    from sluice.curate.quality.learned import CHEAP, EmbeddingSpec, cheap_features, cross_validate, embed, texts

    a, b = halves(DEVSETS / f"{name}.jsonl", max_groups)
    rows = a + b
    msgs = [r["messages"] for r in rows]
    y = np.array([int(r["helpful"]) for r in rows])
    groups = np.array([r["group"] for r in rows])
    m = load_model(model or DEFAULT_MODEL)
    spec = EmbeddingSpec(model=model or DEFAULT_MODEL, max_tokens=getattr(m, "max_seq_length", None))
    conv, answer = embed(m, spec, texts(msgs, "conversation")), embed(m, spec, texts(msgs, "assistant"))
    cheap = np.array([cheap_features(x) for x in msgs]).reshape(len(rows), len(CHEAP))
    variants = {"conversation embedding": conv, "cheap features": cheap,
                "conversation + cheap": np.hstack([conv, cheap]),
                "conversation + answer + cheap (shipped)": np.hstack([conv, answer, cheap])}
    return [{"set": name, "features": k, "rows": len(rows),
             "cv_auroc": cross_validate(X.astype(np.float64), y, "bool", "linear", groups)["auroc"]}
            for k, X in variants.items()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="alpaca_gpt4,kto_en,dpo_en,hh_harmless")
    ap.add_argument("--heads", default="linear,mlp")
    ap.add_argument("--max-groups", type=int, default=1200, help="groups (pairs) per set, at most")
    ap.add_argument("--model", default=None, help="embedding model of the embed stage and the scorer (default: "
                                                  "each one's own default)")
    ap.add_argument("--features", action="store_true", help="only the feature-subset table (grouped CV)")
    a = ap.parse_args()
    if not DEVSETS.is_dir():
        sys.exit("build the dev sets first: python benchmarks/devsets/quality/build.py")
    if a.features:
        print("| dev set | rows | features (linear head) | grouped 5-fold CV AUROC |")
        print("|---|---:|---|---:|")
        for name in a.sets.split(","):
            for r in feature_table(name, a.max_groups, a.model):
                print(f"| {r['set']} | {r['rows']:,} | {r['features']} | {r['cv_auroc']:.3f} |", flush=True)
        return
    from sluice.store import Store

    rows = []
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "store")
        for name in a.sets.split(","):
            new = evaluate(name, store, Path(d), a.heads.split(","), a.max_groups, a.model)
            rows += new
            for r in new:
                print(json.dumps(r), file=sys.stderr, flush=True)
    print("| dev set | rows A / B | path | CV AUROC on A | AUROC on B | lift of select@10% on B |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        cv = f"{r['cv_auroc_a']:.3f}" if r["cv_auroc_a"] is not None else "—"
        au = f"{r['auroc_b']:.3f}" if r["auroc_b"] is not None else "—"
        print(f"| {r['set']} | {r['rows_a']:,} / {r['rows_b']:,} | {r['path']} | {cv} | {au} | {r['lift_10']:.2f}× |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
