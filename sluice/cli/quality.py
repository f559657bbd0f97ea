"""`sluice quality fit | eval | lift`: learned quality scorers from your own labels, and what a selection bought."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="Learned quality scorers (fit on labels, judge verdicts, thumbs, preference pairs), their "
                      "agreement with human preferences, and selection lift.",
                  no_args_is_help=True)

LabelArg = Annotated[str, typer.Option("--label", help="column or dotted path: metadata.helpful, feedback.thumb, "
                                                       "feedback.rating, judge_score")]
ThresholdOpt = Annotated[float | None, typer.Option("--threshold", help="binarize a numeric label: at or above "
                                                                        "this counts as positive")]


PairsOpt = Annotated[Path | None, typer.Option("--pairs", help="human preference pairs (JSONL or .jsonl.gz): "
                                                                 "HH-RLHF chosen/rejected, or prompt/chosen/rejected")]


@app.command()
@handle_errors
def fit(ref: Annotated[str | None, typer.Argument(help="NAME@vN holding the labelled rows (not with --pairs)")] = None,
        label: Annotated[str | None, typer.Option("--label", help="column or dotted path: metadata.helpful, "
                                                                  "feedback.thumb, feedback.rating, judge_score")] = None,
        out: Annotated[Path, typer.Option("--out", help="folder to write the scorer to (scorer.json, head.npz)")] = ...,
        pairs: PairsOpt = None,
        length: Annotated[str, typer.Option(help="with --pairs, answer-length debiasing: residual (features "
                                                 "residualised on log answer length), drop (length features "
                                                 "removed) or keep")] = "residual",
        holdout: Annotated[float, typer.Option(help="with --pairs, share of prompts held out (by hash) and "
                                                    "only reported on")] = 0.5,
        threshold: ThresholdOpt = None,
        head: Annotated[str, typer.Option(help="linear (logistic / ridge, L2 by inner CV) or mlp")] = "linear",
        group: Annotated[str | None, typer.Option(help="rows sharing this field's value stay in one CV fold "
                                                       "(e.g. metadata.prompt_id for pairs)")] = None,
        embedding_model: Annotated[str | None, typer.Option(help="embedding model when the data has no embedding "
                                                                 "column from the embed stage")] = None,
        root: RootOption = None, as_json: JsonOption = False) -> None:
    """Fit a small calibrated scorer on sentence embeddings + cheap features (labelled rows of a dataset, or
    --pairs: a Bradley–Terry model on human preference pairs); print its cross-validated figure with its
    95% interval, and say so when that interval includes chance."""
    from sluice.errors import RecipeError

    if pairs is not None:
        if ref or label:
            raise RecipeError("give either NAME@vN --label FIELD or --pairs FILE, not both")
        _fit_pairs(pairs, out, length, holdout, embedding_model, as_json)
        return
    if not ref or not label:
        raise RecipeError("sluice quality fit needs NAME@vN and --label FIELD (or --pairs FILE)",
                          hint="e.g. sluice quality fit curated@v3 --label metadata.helpful --out scorers/helpful")
    from sluice.curate.quality.training import fit_version

    s = store(root)
    v = s.resolve(ref)
    scorer = fit_version(v, s, label=label, out=out, threshold=threshold, head=head, group=group,
                         embedding_model=embedding_model)
    m = scorer.metrics
    if as_json:
        emit_json({"out": str(out), **scorer.identity()})
        return
    figure = (f"AUROC {m['auroc']:.3f} (95% CI {m['auroc_ci95'][0]:.3f}–{m['auroc_ci95'][1]:.3f}, Brier "
              f"{m['brier']:.3f}), {m['labels']:,} labels ({m['positive']:,} positive)"
              if scorer.kind == "bool" else f"Spearman {m['spearman']:.3f}, {m['labels']:,} labels")
    console.print(f"cross-validated ({m['folds']} folds) {figure}", highlight=False)
    reuse = "reused the embedding column" if m.get("embedding_reused") else "embedded the rows"
    console.print(escape(f"embedding: {scorer.embedding.model} ({scorer.embedding.text}, {reuse}); head: {scorer.head}"),
                  highlight=False)
    _chance_warning(scorer)
    console.print(f"[green]wrote[/] {escape(str(out))} — use it with `quality_score` `scorer: {escape(str(out))}`",
                  highlight=False)


def _chance_warning(scorer) -> None:
    if not scorer.better_than_chance:
        console.print("[yellow]warning:[/] this scorer is no better than chance (its 95% interval includes 0.5): "
                      "quality_score marks its rows learned-chance and select's auto order will not rank by it",
                      highlight=False)


def _fit_pairs(pairs: Path, out: Path, length: str, holdout: float, embedding_model: str | None,
               as_json: bool) -> None:
    from sluice.curate.quality.pairs import fit_pairs, read_pairs

    scorer = fit_pairs(read_pairs(pairs), out=out, length=length, holdout=holdout, embedding_model=embedding_model,
                       trained_on=str(pairs))
    m = scorer.metrics
    if as_json:
        emit_json({"out": str(out), **scorer.identity()})
        return
    console.print(f"Bradley–Terry on {m['train_pairs']:,} pairs (length: {m['length']}): cross-validated "
                  f"({m['folds']} folds) pairwise accuracy {m['cv_accuracy']:.3f} "
                  f"(95% CI {m['cv_ci95'][0]:.3f}–{m['cv_ci95'][1]:.3f})", highlight=False)
    if "held_out" in m:
        _print_pairs("held out", m["held_out"])
    _chance_warning(scorer)
    console.print(f"[green]wrote[/] {escape(str(out))} — use it with `quality_score` `scorer: {escape(str(out))}`",
                  highlight=False)


def _print_pairs(what: str, r: dict) -> None:
    longer = r["rejected_longer"]
    console.print(f"{what}: {r['pairs']:,} pairs, accuracy {r['accuracy']:.3f} (95% CI {r['ci95'][0]:.3f}–"
                  f"{r['ci95'][1]:.3f}, {r['ties']} ties); where the rejected answer is longer "
                  f"({longer['pairs']:,} pairs) {longer['accuracy']:.3f}; score vs answer length Spearman "
                  f"{r['length_spearman']:.3f}; 'longer answer wins' would score {r['length_baseline']:.3f}",
                  highlight=False)


@app.command("eval")
@handle_errors
def eval_(pairs: Annotated[Path, typer.Option("--pairs", help="human preference pairs (JSONL or .jsonl.gz): "
                                                              "HH-RLHF chosen/rejected, or prompt/chosen/rejected")],
          scorer: Annotated[str, typer.Option(help="heuristic (the offline default) or a folder from "
                                                   "`sluice quality fit`")] = "heuristic",
          held_out: Annotated[float | None, typer.Option("--held-out", help="only the pairs that `fit --pairs "
                                                                           "--holdout X` held out (give the same X)")] = None,
          as_json: JsonOption = False) -> None:
    """Pairwise agreement with people: how often the scorer ranks the preferred answer above the other."""
    from sluice.curate.quality.pairs import evaluate, held_out as is_held_out, read_pairs

    rows = read_pairs(pairs)
    if held_out is not None:
        rows = [p for p in rows if is_held_out(p, held_out)]
    r = {"pairs_file": str(pairs), "scorer": scorer, **evaluate(rows, scorer)}
    if as_json:
        emit_json(r)
        return
    _print_pairs(escape(f"{scorer} on {pairs.name}"), r)
    if not r["better_than_chance"]:
        console.print("[yellow]no better than chance[/] on these pairs (the 95% interval reaches 0.5 or below)",
                      highlight=False)


@app.command()
@handle_errors
def lift(ref: Annotated[str, typer.Argument(help="NAME@vN published by a recipe ending in select")],
         label: LabelArg, threshold: ThresholdOpt = None,
         stage: Annotated[str, typer.Option(help="the selecting stage whose rejected rows count as the rest")] = "select",
         root: RootOption = None, as_json: JsonOption = False) -> None:
    """Label rate of the selected rows against select's whole input (kept + rows it rejected)."""
    from sluice.curate.quality.training import version_lift

    r = version_lift(store(root).resolve(ref), label=label, threshold=threshold, stage=stage)
    if as_json:
        emit_json(r)
        return
    console.print(f"{escape(label)}: selected {r['labelled_selected']:,} rows at {r['selected_rate']:.3f}, "
                  f"input {r['labelled_in']:,} at {r['input_rate']:.3f} → lift {r['lift']:.2f}×", highlight=False)
    if r.get("note"):
        console.print(f"note: {escape(r['note'])}", highlight=False)
