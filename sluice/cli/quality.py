"""`sluice quality fit | lift`: learned quality scorers from your own labels, and what a selection bought."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="Learned quality scorers (fit on labels, judge verdicts, thumbs) and selection lift.",
                  no_args_is_help=True)

LabelArg = Annotated[str, typer.Option("--label", help="column or dotted path: metadata.helpful, feedback.thumb, "
                                                       "feedback.rating, judge_score")]
ThresholdOpt = Annotated[float | None, typer.Option("--threshold", help="binarize a numeric label: at or above "
                                                                        "this counts as positive")]


@app.command()
@handle_errors
def fit(ref: Annotated[str, typer.Argument(help="NAME@vN holding the labelled rows")],
        label: LabelArg,
        out: Annotated[Path, typer.Option("--out", help="folder to write the scorer to (scorer.json, head.npz)")],
        threshold: ThresholdOpt = None,
        head: Annotated[str, typer.Option(help="linear (logistic / ridge, L2 by inner CV) or mlp")] = "linear",
        group: Annotated[str | None, typer.Option(help="rows sharing this field's value stay in one CV fold "
                                                       "(e.g. metadata.prompt_id for pairs)")] = None,
        embedding_model: Annotated[str | None, typer.Option(help="embedding model when the data has no embedding "
                                                                 "column from the embed stage")] = None,
        root: RootOption = None, as_json: JsonOption = False) -> None:
    """Fit a small calibrated scorer on sentence embeddings + cheap features; print its cross-validated figure."""
    from sluice.curate.quality.training import fit_version

    s = store(root)
    v = s.resolve(ref)
    scorer = fit_version(v, s, label=label, out=out, threshold=threshold, head=head, group=group,
                         embedding_model=embedding_model)
    m = scorer.metrics
    if as_json:
        emit_json({"out": str(out), **scorer.identity()})
        return
    figure = (f"AUROC {m['auroc']:.3f} (Brier {m['brier']:.3f}), {m['labels']:,} labels ({m['positive']:,} positive)"
              if scorer.kind == "bool" else f"Spearman {m['spearman']:.3f}, {m['labels']:,} labels")
    console.print(f"cross-validated ({m['folds']} folds) {figure}", highlight=False)
    reuse = "reused the embedding column" if m.get("embedding_reused") else "embedded the rows"
    console.print(escape(f"embedding: {scorer.embedding.model} ({scorer.embedding.text}, {reuse}); head: {scorer.head}"),
                  highlight=False)
    console.print(f"[green]wrote[/] {escape(str(out))} — use it with `quality_score` `scorer: {escape(str(out))}`",
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
