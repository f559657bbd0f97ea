"""`sluice label push | pull` — the Argilla review loop."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, counts_text, emit_json, escape, handle_errors, outputs_table, store

app = typer.Typer(help="Send samples to Argilla for review and turn the judgments into DPO/KTO data.",
                  no_args_is_help=True)

ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar="ARGILLA_API_URL", help="Argilla server URL")]
# The key is read from the environment or the flag and never shown (show_envvar/show_default off).
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="ARGILLA_API_KEY", show_default=False,
                                            show_envvar=False, help="Argilla API key (or ARGILLA_API_KEY)")]


@app.command()
@handle_errors
def push(ref: Annotated[str, typer.Argument(help="dataset to review: NAME, NAME@latest or NAME@vN")],
         dataset: Annotated[str, typer.Option("--dataset", help="Argilla dataset name (created or reused)")],
         workspace: Annotated[str | None, typer.Option(help="Argilla workspace [default: the first one]")] = None,
         sample: Annotated[int | None, typer.Option("--sample", help="push N rows [default: all]")] = None,
         strategy: Annotated[str, typer.Option(
             help="random | lowest-score | uncertain | near-duplicate-boundary | rejected | stratified | "
                  "stratified-lowest-score | stratified-uncertain (stratified: keep the data's mix of "
                  "--stratify-by)")] = "random",
         stratify_by: Annotated[str, typer.Option(help="columns the stratified strategies keep the mix of")
                                ] = "lang,source",
         score_column: Annotated[str | None, typer.Option(help="score column for lowest-score/uncertain")] = None,
         min_submitted: Annotated[int, typer.Option(help="responses needed per record")] = 2,
         seed: Annotated[int, typer.Option(help="random sampling seed")] = 0,
         allow_unredacted: Annotated[bool, typer.Option(
             "--allow-unredacted", help="push data with no PII redaction in its lineage (recorded)")] = False,
         allow_uncovered: Annotated[bool, typer.Option(
             "--allow-uncovered", help="push rows whose language or fields the redaction did not cover "
                                       "(recorded in the push manifest)")] = False,
         api_url: ApiUrl = None, api_key: ApiKey = None, root: RootOption = None, as_json: JsonOption = False) -> None:
    """Push a (sampled) redacted dataset to Argilla; re-pushing updates the same records."""
    from sluice.labeling.push import push as run

    result = run(ref, dataset, store=store(root), workspace=workspace, n=sample, strategy=strategy,
                 score_column=score_column, seed=seed, min_submitted=min_submitted, api_url=api_url,
                 api_key=api_key, allow_unredacted=allow_unredacted, allow_uncovered=allow_uncovered,
                 stratify_by=tuple(c.strip() for c in stratify_by.split(",") if c.strip()))
    if as_json:
        emit_json(result.summary())
        return
    where = ", ".join(f"{escape(k)} ({v:,}{', created' if k in result.created else ''})"
                      for k, v in result.datasets.items())
    console.print(f"pushed {result.pushed:,} records of {escape(result.source)} to Argilla: {where} "
                  f"(workspace {escape(str(result.workspace))}, strategy {result.strategy}); "
                  f"recorded as [bold]{escape(result.record)}[/]", highlight=False)
    mix = result.how.get("language_mix") or {}
    if mix.get("sample"):
        eligible = f" | not refused {_mix(mix['data'])}" if mix["data"] != mix.get("dataset") else ""
        console.print(f"language mix: sample {_mix(mix['sample'])}{eligible} | dataset {_mix(mix.get('dataset', {}))}",
                      highlight=False)
    for reason, details in result.refused.items():
        if reason == "not_sampled":
            continue
        shown = ", ".join(f"{escape(str(k))} {v:,}" for k, v in details.items())
        console.print(f"[red]refused[/] {sum(details.values()):,} row(s): {reason} ({shown})", highlight=False)
    if any(r not in ("payload_pii", "no_final_answer", "too_long_to_show") for r in result.refused):
        console.print("  to push rows the redaction did not cover (only if they hold no personal data): "
                      "--allow-uncovered (recorded in the push manifest)", highlight=False)
    for reason, details in result.overridden.items():
        console.print(f"[yellow]override:[/] pushed despite {reason}: {sum(details.values()):,} row(s)",
                      highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


@app.command()
@handle_errors
def pull(dataset: Annotated[str, typer.Argument(help="Argilla dataset name")],
         to: Annotated[str, typer.Option("--to", help="output name: writes NAME-kto and NAME-dpo")],
         workspace: Annotated[str | None, typer.Option(help="Argilla workspace")] = None,
         good_at: Annotated[float, typer.Option(help="rating ≥ this → KTO true")] = 4,
         bad_at: Annotated[float, typer.Option(help="rating ≤ this → KTO false")] = 2,
         statistic: Annotated[str, typer.Option(help="rating aggregate: mean | median")] = "mean",
         api_url: ApiUrl = None, api_key: ApiKey = None, root: RootOption = None, as_json: JsonOption = False) -> None:
    """Aggregate all annotators' submitted responses into KTO labels and DPO pairs."""
    from sluice.labeling.convert import Thresholds
    from sluice.labeling.pull import pull as run

    result = run(dataset, to, store=store(root), workspace=workspace, statistic=statistic,
                 thresholds=Thresholds(good_at=good_at, bad_at=bad_at), api_url=api_url, api_key=api_key)
    summary = result.summary()
    if as_json:
        emit_json(summary)
        return
    console.print(outputs_table(
        f"label pull: {summary['records']:,} records of {summary['dataset']}",
        [(summary["kto"], summary["kto_rows"], summary["kto_origins"], summary["kto_rejected"]),
         (summary["dpo"], summary["dpo_rows"], summary["dpo_origins"], summary["dpo_rejected"])]))
    if summary["agreement"]:
        from rich.table import Table

        agreement = Table(title="agreement between annotators (Krippendorff's alpha)", title_justify="left")
        agreement.add_column("question")
        agreement.add_column("alpha", justify="right")
        for question, alpha in summary["agreement"].items():
            agreement.add_row(escape(str(question)), f"{alpha:.3f}" if alpha is not None else "n/a (too few answers)")
        console.print(agreement)
    if summary["quarantined"]:
        console.print(f"[yellow]quarantined[/] (annotators reported personal data): "
                      f"{escape(counts_text(summary['quarantined']))}", highlight=False)
    if summary["unchanged"]:
        console.print("nothing new since the last pull: no new version published", highlight=False)


def _mix(shares: dict) -> str:
    return " ".join(f"{escape(str(k))} {v:.0%}" for k, v in list(shares.items())[:8])
