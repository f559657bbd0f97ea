"""Quality scores against human preferences (issue #32 items 3 and 6).

    python benchmarks/bench_quality_pairs.py pairs  --model static            # eval + BT fits, length modes
    python benchmarks/bench_quality_pairs.py lift   --model static            # select's lift, before / after
    python benchmarks/bench_quality_pairs.py refusal --model static           # + the refusal kind as features (round three)

``pairs``: the offline heuristic's pairwise report on every preference file, then a Bradley–Terry
fit per length mode on each file's training half (hash of the prompt), reported on the held-out
half it never saw. ``lift``: each pair's two conversations become two rows (``good`` true for the
chosen one) in a scratch store; the quickstart's tail (``embed`` static/user → ``quality_score``
→ ``select`` τ 0.9) runs over the held-out half with the label, once with the old no-signal walk
(``unranked: diversity``), once with the new default, once with the heuristic ranked by name,
and once with the Bradley–Terry scorer fitted on the training half. Scratch output under /tmp.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from paths import SCRATCH, SHARED


def _scratch() -> Path:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return SCRATCH

import numpy as np

from sluice.curate.quality import pairs as P

SETS = {"hh_harmless": SHARED / "preferences/hh_rlhf_harmless/harmless-base_test.jsonl.gz",
        "dpo_en": SHARED / "formats/llamafactory/dpo_en_demo.json",
        "dpo_zh": SHARED / "formats/llamafactory/dpo_zh_demo.json"}


def load(name: str) -> list[P.Pair]:
    path = SETS[name]
    if path.suffix == ".json":  # LLaMA-Factory ships a JSON array: one pair per element
        return [P.parse(r, f"{path}:{i}") for i, r in enumerate(json.loads(path.read_text()), start=1)]
    return P.read_pairs(path)


def short(r: dict) -> str:
    return (f"acc {r['accuracy']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] | rejected longer "
            f"{r['rejected_longer']['accuracy']:.3f} (n={r['rejected_longer']['pairs']}) | chosen longer "
            f"{r['chosen_longer']['accuracy']:.3f} | length rho {r['length_spearman']:+.3f} | n={r['pairs']}")


def cmd_pairs(args) -> None:
    for name in args.sets:
        pairs = load(name)
        test = [p for p in pairs if P.held_out(p)]
        print(f"{name}: heuristic-v1, all pairs: {short(P.evaluate(pairs, 'heuristic'))}")
        print(f"{name}: heuristic-v1, held-out half: {short(P.evaluate(test, 'heuristic'))}")
        for mode in args.length:
            t = time.time()
            out = Path(tempfile.mkdtemp(prefix="bt-", dir=_scratch()))
            s = P.fit_pairs(pairs, out=out, length=mode, embedding_model=args.model)
            m = s.metrics
            print(f"{name}: BT {args.model} length={mode}: CV on train {m['cv_accuracy']:.3f} "
                  f"[{m['cv_ci95'][0]:.3f}, {m['cv_ci95'][1]:.3f}] n={m['train_pairs']} | held out: "
                  f"{short(m['held_out'])} | {time.time() - t:.0f}s | {out}")


def cmd_refusal(args) -> None:
    """Round three (#32): does the refusal stage's kind, as three more features, help the Bradley–Terry fit?

    The same split, features (``pair_features``: static embedding of the final exchange + the cheap
    features), length mode and CV as ``fit_pairs``, with and without a one-hot of ``refusal.classify``
    on the final answer (refusal / partial_refusal / moralizing) in front."""
    from dataclasses import replace

    from sluice.curate.quality.learned import EmbeddingSpec, load_embedder, model_identity
    from sluice.curate.quality.refusal import classify

    def kinds(convs) -> np.ndarray:
        out = []
        for c in convs:
            a = [m for m in c if m["role"] == "assistant"]
            k = classify(a[-1]["content"])[0] if a else None
            out.append([float(k == x) for x in ("refusal", "partial_refusal", "moralizing")])
        return np.array(out)

    spec = EmbeddingSpec(model=args.model, text="final")
    model = load_embedder(spec)
    spec = replace(spec, identity=model_identity(spec.model, model), max_tokens=getattr(model, "max_seq_length", None))
    for name in args.sets:
        pairs = load(name)
        train, test = [p for p in pairs if not P.held_out(p)], [p for p in pairs if P.held_out(p)]
        differ = sum((kinds([p.chosen])[0] != kinds([p.rejected])[0]).any() for p in pairs)
        print(f"{name}: {differ} of {len(pairs)} pairs differ in refusal kind")
        F = P.pair_features(train, model, spec) + P.pair_features(test, model, spec)
        K = [kinds([p.chosen for p in part]) for part in (train, test)]
        K = (K[0], kinds([p.rejected for p in train]), K[1], kinds([p.rejected for p in test]))
        lc = np.array([P.answer_words(p.chosen) for p in test], dtype=float)
        lr = np.array([P.answer_words(p.rejected) for p in test], dtype=float)
        for tag, feats in (("base", F), ("+refusal kind", tuple(np.hstack([k, f]) for k, f in zip(K, F)))):
            cv = P.cross_validate_pairs(feats[0], feats[1], [p.key for p in train], "residual")
            w = P._bt(feats[0], feats[1], "residual")
            print(f"{name}: BT {args.model} residual {tag}: CV {cv['cv_accuracy']:.3f} [{cv['cv_ci95'][0]:.3f}, "
                  f"{cv['cv_ci95'][1]:.3f}] | held out: {short(P.pairwise_report(feats[2] @ w, feats[3] @ w, lc, lr))}")


def _rows(pairs: list[P.Pair]) -> list[dict]:
    rows = []
    for i, p in enumerate(pairs):
        rows.append({"id": f"p{i}-c", "messages": p.chosen, "good": True, "pair": i})
        rows.append({"id": f"p{i}-r", "messages": p.rejected, "good": False, "pair": i})
    return rows


def cmd_lift(args) -> None:
    from sluice.curate.ingest import ingest
    from sluice.recipe import Recipe
    from sluice.runner import run
    from sluice.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="lift-", dir=_scratch()))
    store = Store(tmp / "store")
    for name in args.sets:
        pairs = load(name)
        test = [p for p in pairs if P.held_out(p)]
        f = tmp / f"{name}.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in _rows(test)))
        ingest([f], name, store=store)
        scorer = tmp / f"bt-{name}"
        P.fit_pairs(pairs, out=scorer, length="residual", embedding_model=args.model)
        variants = {"before: no signal, diversity walk (unranked: diversity)": ({}, {"unranked": "diversity"}),
                    "after: default (no signal → keep all)": ({}, {}),
                    "heuristic by name (order: score)": ({}, {"order": "score"}),
                    "Bradley–Terry fitted on the training half": ({"scorer": str(scorer)}, {})}
        for label, (qs, sel) in variants.items():
            stages = [{"stage": "embed", "model": "static", "text": "user"}, {"stage": "quality_score", **qs},
                      {"stage": "select", "threshold": 0.9, "label": "metadata.good", **sel}]
            recipe = Recipe.model_validate({"name": "lift", "input": f"{name}@latest", "output": f"{name}_sel",
                                            "stages": stages})
            v = run(recipe, recipe.build(), store=store).version
            info = next(s for s in v.manifest["stages"] if s["name"] == "select")["info"]
            lift = info["lift"]
            print(f"{name} ({len(test)} held-out pairs, {2 * len(test)} rows): {label}: kept {v.num_rows()} | "
                  f"good rate {lift['selected_rate']:.3f} vs input {lift['input_rate']:.3f} → lift "
                  f"{lift['lift']:.3f}× | order {info.get('order')}")
    print(f"scratch: {tmp}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("pairs", "lift", "refusal"))
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--model", default="static", help="embedding model of the Bradley–Terry scorer")
    ap.add_argument("--length", nargs="+", default=["keep", "drop", "residual"])
    args = ap.parse_args()
    np.seterr(all="ignore")
    {"pairs": cmd_pairs, "lift": cmd_lift, "refusal": cmd_refusal}[args.what](args)


if __name__ == "__main__":
    main()
