"""What the quickstart's stages before dedup reject on real data nobody here wrote.

Ingests each input into its own store, runs examples/quickstart.yaml's stages up to (not
including) the first dedup stage, and prints rejects per stage and reason, with their share of
the input. ``--dump DIR`` writes every rejected row (prompt, answer, reason) per input as JSONL
for the hand check whose precisions BENCHMARKS.md reports ("Curation filters").

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_curation_filters.py \\
        ../shared/data/instructions/alpaca_random_9k/random_9k.json \\
        ../shared/data/formats/openai_cookbook/drone_training.jsonl --dump /tmp/rejects
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import polars as pl
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIRST_DEDUP = ("exact_hash", "minhash", "embed", "semdedup")


def pre_dedup_recipe(path: Path, until: tuple[str, ...] = FIRST_DEDUP):
    from sluice.recipe import Recipe

    body = yaml.safe_load(path.read_text())
    stages = []
    for spec in body["stages"]:
        if spec["stage"] in until:
            break
        stages.append(spec)
    recipe = Recipe.model_validate({**body, "stages": stages})
    return recipe, recipe.build(str(path))


def _side(messages, role: str) -> str:
    return "\n".join(m["content"] or "" for m in messages if m["role"] == role)


def run_one(path: Path, recipe_path: Path, dump: Path | None) -> dict:
    from sluice.curate.ingest import ingest
    from sluice.runner import run
    from sluice.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        ingest([str(path)], to="raw", store=store)
        recipe, stages = pre_dedup_recipe(recipe_path)
        result = run(recipe, stages, store=store, input_ref="raw@latest", output="pre")
        acc = result.version.manifest["accounting"]
        rejected = pl.from_arrow(result.version.read("rejected"))
        if dump is not None and rejected.height:
            dump.mkdir(parents=True, exist_ok=True)
            with open(dump / f"{path.stem}.jsonl", "w") as f:
                for row in rejected.select("id", "stage", "reason", "detail", "messages").to_dicts():
                    f.write(json.dumps({"id": row["id"], "stage": row["stage"], "reason": row["reason"],
                                        "detail": row["detail"], "user": _side(row["messages"], "user"),
                                        "assistant": _side(row["messages"], "assistant")}, ensure_ascii=False) + "\n")
        reasons = Counter({f"{s}/{r}": n for s, by in acc["rejected"].items() for r, n in by.items()})
        return {"input": path.name, "rows_in": acc["rows_in"], "kept": acc["kept"],
                "quarantined": acc["quarantined_total"], "rejected": dict(reasons.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", type=Path)
    ap.add_argument("--recipe", type=Path, default=ROOT / "examples" / "quickstart.yaml")
    ap.add_argument("--dump", type=Path, default=None, help="write rejected rows here for the hand check")
    args = ap.parse_args()
    for path in args.inputs:
        out = run_one(path, args.recipe, args.dump)
        n = out["rows_in"] or 1
        print(f"\n{out['input']}: {out['rows_in']} rows, kept {out['kept']}, "
              f"rejected {n - out['kept'] - out['quarantined']} ({(n - out['kept'] - out['quarantined']) / n:.2%})")
        for reason, k in out["rejected"].items():
            print(f"  {reason:45s} {k:6d}  {k / n:.2%}")


if __name__ == "__main__":
    main()
