"""Learned quality scorers end to end on real labelled rows (tests/data/quality, see SOURCE.txt):
`sluice quality fit` → `quality_score scorer: DIR` → `select` with its lift; labels from columns,
metadata and feedback; a scorer refuses embeddings made another way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.curate.quality import labels
from sluice.curate.quality.learned import LearnedScorer
from sluice.errors import DataError, RecipeError
from sluice.recipe import Recipe
from sluice.runner import run

DATA = Path(__file__).parent / "data" / "quality" / "alpaca_gpt4_pairs.jsonl"
LABEL = "metadata.helpful"


def _cli(*args: str, root: Path) -> str:
    result = CliRunner().invoke(app, [*args, "--root", str(root)])
    assert result.exit_code == 0, result.output
    return result.output


def _recipe(store, input_ref: str, output: str, stages: list[dict]):
    recipe = Recipe.model_validate({"name": output, "input": input_ref, "output": output, "stages": stages})
    return run(recipe, recipe.build(), store=store)


def _ingest_halves(store, tmp_path: Path):
    """Half A and half B of the real pairs, split by instruction (both answers in one half)."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    groups = sorted({r["group"] for r in rows})
    a = set(groups[::2])
    from sluice.curate.ingest import ingest

    out = []
    for name, part in (("half_a", [r for r in rows if r["group"] in a]), ("half_b", [r for r in rows if r["group"] not in a])):
        f = tmp_path / f"{name}.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in part))
        ingest([f], name, store=store)
        out.append(_recipe(store, f"{name}@latest", f"{name}_emb", [{"stage": "embed", "model": "all-MiniLM-L6-v2", "max_tokens": 128}]).version)
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from sluice.store import Store

    tmp = tmp_path_factory.mktemp("learned")
    store = Store(tmp / "store")
    a, b = _ingest_halves(store, tmp)
    out = _cli("quality", "fit", a.ref, "--label", LABEL, "--group", "metadata.group", "--out", str(tmp / "scorer"),
               root=store.root)
    return store, a, b, tmp / "scorer", out


def test_fit_prints_cross_validated_auroc_and_writes_a_versioned_artifact(fitted):
    store, a, _, scorer_dir, out = fitted
    assert "cross-validated" in out and "AUROC" in out and "labels" in out
    meta = json.loads((scorer_dir / "scorer.json").read_text())
    assert meta["format"] == "sluice.quality-scorer" and meta["format_version"] == 1
    assert meta["label"] == LABEL and meta["kind"] == "bool" and meta["trained_on"] == a.ref
    assert meta["embedding"]["model"] == "all-MiniLM-L6-v2" and meta["embedding"]["max_tokens"] == 128
    assert meta["embedding"]["identity"] and meta["metrics"]["embedding_reused"] is True
    assert meta["metrics"]["labels"] == a.num_rows() and 0 <= meta["metrics"]["auroc"] <= 1
    lo, hi = meta["metrics"]["auroc_ci95"]  # the interval is printed, and decides better_than_chance
    assert lo <= meta["metrics"]["auroc"] <= hi and meta["metrics"]["better_than_chance"] == (lo > 0.5)
    assert "95% CI" in out
    with np.load(scorer_dir / "head.npz", allow_pickle=False) as z:  # numbers only, no pickled code
        assert {"mean", "scale", "w0", "b0"} <= set(z.files)


def test_scorer_ranks_the_held_out_half_and_select_reports_its_lift(fitted):
    from sklearn.metrics import roc_auc_score

    store, _, b, scorer_dir, _ = fitted
    budget = b.num_rows() // 4
    # 61 training rows: the CV AUROC's interval may include 0.5, and then the scorer is marked
    # learned-chance and select's auto order would not rank by it; order: score ranks regardless
    better = LearnedScorer.load(scorer_dir).better_than_chance
    result = _recipe(store, b.ref, "picked", [{"stage": "quality_score", "scorer": str(scorer_dir)},
                                              {"stage": "select", "budget": budget, "label": LABEL, "order": "score"}])
    kept = pl.from_arrow(result.version.read())
    rest = pl.from_arrow(result.version.read("rejected"))
    both = pl.concat([kept.select("score_total", "metadata", "scorer"), rest.select("score_total", "metadata", "scorer")])
    assert both["scorer"].unique().to_list() == ["learned:scorer" if better else "learned-chance:scorer"]
    assert both["score_total"].is_between(0, 1).all()
    y = labels.label_values(both, LABEL).to_numpy()
    auroc = roc_auc_score(y, both["score_total"].to_numpy())
    assert auroc > 0.5  # better than chance on held-out real pairs (measured figures: BENCHMARKS.md)

    info = {s["name"]: s["info"] for s in result.version.manifest["stages"]}
    lift = info["select"]["lift"]
    assert info["select"]["order"] == "score"
    assert lift["labelled_selected"] == budget == kept.height
    assert lift["selected_rate"] == pytest.approx(labels.label_values(kept, LABEL).mean())
    assert lift["input_rate"] == pytest.approx(y.mean()) and lift["lift"] > 1.0
    assert info["quality_score"]["learned_scorer"]["metrics"]["auroc"] > 0
    card = (result.version.path / "DATACARD.md").read_text()
    assert "learned_scorer" in card and "lift" in card

    again = _cli("quality", "lift", result.version.ref, "--label", LABEL, root=store.root)  # after the fact
    assert f"lift {lift['lift']:.2f}×" in again


def test_scorer_embeds_itself_when_the_column_was_made_another_way_and_refuses_another_model(fitted, tmp_path):
    store, _, b, scorer_dir, _ = fitted
    other = _recipe(store, "half_b@v1", "half_b_user", [{"stage": "embed", "model": "all-MiniLM-L6-v2", "text": "user", "max_tokens": 128}]).version
    ran = _recipe(store, other.ref, "x", [{"stage": "quality_score", "scorer": str(scorer_dir)}])
    counters = next(s for s in ran.version.manifest["stages"] if s["name"] == "quality_score")["counters"]
    assert counters == {"embedded_by_scorer": b.num_rows()}  # the user-turn column is not the scorer's input
    same = _recipe(store, b.ref, "x2", [{"stage": "quality_score", "scorer": str(scorer_dir)}])
    assert next(s for s in same.version.manifest["stages"] if s["name"] == "quality_score")["counters"] == {
        "embedding_column_reused": b.num_rows()}
    s1 = pl.from_arrow(ran.version.read()).sort("id")["score_total"].to_numpy()
    s2 = pl.from_arrow(same.version.read()).sort("id")["score_total"].to_numpy()
    assert s1 == pytest.approx(s2, abs=1e-4)

    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "head.npz").write_bytes((scorer_dir / "head.npz").read_bytes())
    meta = json.loads((scorer_dir / "scorer.json").read_text())
    meta["embedding"]["identity"] = {**meta["embedding"]["identity"], "dim": 768}
    (tampered / "scorer.json").write_text(json.dumps(meta))
    with pytest.raises(RecipeError, match="was fitted on embeddings of"):
        _recipe(store, b.ref, "y", [{"stage": "quality_score", "scorer": str(tampered)}])


def test_loaded_scorer_is_the_fitted_head(fitted):
    _, _, _, scorer_dir, _ = fitted
    scorer = LearnedScorer.load(scorer_dir)
    noise = np.random.default_rng(0).standard_normal((4, scorer.n_features))
    x = scorer.weights["mean"] + 0.01 * noise * scorer.weights["scale"]  # rows like the training data
    assert scorer.score(x).shape == (4,) and ((scorer.score(x) > 0) & (scorer.score(x) < 1)).all()
    with pytest.raises(RecipeError, match="expects"):
        scorer.score(x[:, :10])
    with pytest.raises(RecipeError, match="nor a quality scorer folder"):
        LearnedScorer.load(scorer_dir.parent)


def test_label_fields_columns_metadata_and_feedback():
    df = pl.DataFrame({
        "metadata": ['{"helpful": true, "stars": 4}', '{"helpful": false, "stars": 2}', '{"other": 1}', None],
        "feedback": pl.Series([{"thumb": 1, "rating": 5.0}, {"thumb": -1, "rating": 1.0}, None,
                               {"thumb": None, "rating": None}]),
        "judge_score": [4.5, 2.0, None, 3.0],
        "text": ["a", "b", "c", "d"],
    })
    assert labels.label_values(df, "metadata.helpful").to_list() == [1.0, 0.0, None, None]
    assert labels.label_values(df, "metadata.stars").to_list() == [4.0, 2.0, None, None]
    assert labels.label_values(df, "feedback.thumb").to_list() == [1.0, 0.0, None, None]
    assert labels.label_values(df, "feedback.rating").to_list() == [5.0, 1.0, None, None]
    assert labels.binary(labels.label_values(df, "judge_score"), 4).to_list() == [1.0, 0.0, None, 0.0]
    with pytest.raises(DataError, match="numeric"):
        labels.binary(labels.label_values(df, "judge_score"))
    with pytest.raises(DataError, match="no column 'nope'"):
        labels.label_values(df, "nope")
    with pytest.raises(DataError, match="no field 'stars'"):
        labels.label_values(df, "feedback.stars")
    with pytest.raises(DataError, match="not boolean or numeric"):
        labels.label_values(df, "text")


def test_fit_with_too_few_labels_is_a_clear_error(fitted, tmp_path):
    store, a, _, _, _ = fitted
    result = CliRunner().invoke(app, ["quality", "fit", a.ref, "--label", "metadata.nothing", "--out",
                                      str(tmp_path / "s"), "--root", str(store.root)])
    assert result.exit_code != 0 and "0 labelled rows" in result.output and "Traceback" not in result.output
