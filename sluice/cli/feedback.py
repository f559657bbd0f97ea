"""`sluice feedback build` — production thumbs, ratings and edits → KTO and DPO datasets."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, handle_errors, outputs_table, store

app = typer.Typer(help="Turn end-user feedback in the logs into second-round training data.",
                  no_args_is_help=True)


@app.command()
@handle_errors
def build(ref: Annotated[str, typer.Argument(help="conversation dataset: NAME, NAME@latest or NAME@vN")],
          to: Annotated[str, typer.Option("--to", help="output name: writes NAME-kto and NAME-dpo")],
          good_at: Annotated[float, typer.Option(help="rating ≥ this → KTO true (when no thumb)")] = 4,
          bad_at: Annotated[float, typer.Option(help="rating ≤ this → KTO false (when no thumb)")] = 2,
          allow_raw: Annotated[bool, typer.Option("--allow-raw", help="build from data without redaction and "
                                                  "decontamination in its lineage (recorded in the manifests)")] = False,
          root: RootOption = None, as_json: JsonOption = False) -> None:
    """Thumbs → KTO labels, user edits → DPO pairs (edit = chosen), ratings by threshold.

    Reads curated data only (redacted and decontaminated), unless --allow-raw; test/validation
    conversations never become training rows; the same input twice gives the same versions."""
    from sluice.labeling.convert import Thresholds
    from sluice.labeling.feedback import build as run

    summary = run(ref, to, store=store(root), thresholds=Thresholds(good_at=good_at, bad_at=bad_at),
                  allow_raw=allow_raw).summary()
    if as_json:
        emit_json(summary)
        return
    if summary["reused"]:
        console.print("same input and settings as the last build: nothing new published", highlight=False)
    console.print(outputs_table(f"feedback build: {summary['source']}",
                                [(summary["kto"], summary["kto_rows"], summary["kto_origins"], summary["kto_rejected"]),
                                 (summary["dpo"], summary["dpo_rows"], {"user edits": summary["dpo_rows"]},
                                  summary["dpo_rejected"])]))
