"""`sluice drift NEW@vN --against TRAINED`: what new traffic the trained model has never seen.

Exit codes for CI/cron: 0 nothing crossed a threshold, 1 something did, 2 an error (one line
naming the fix)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store


def drift(
    new: Annotated[str, typer.Argument(help="the new window: NAME@vN (e.g. a freshly ingested day of logs)")],
    against: Annotated[str, typer.Option("--against", help="the training data: NAME@vN, or an adapter folder whose "
                                                            "sluice_train.json / promotion.json names its data")],
    policy: Annotated[Path | None, typer.Option(help="YAML thresholds (examples/drift_policy.yaml); default: the "
                                                     "built-in policy")] = None,
    emit: Annotated[str | None, typer.Option("--emit", help="publish rows: 'uncovered'")] = None,
    to: Annotated[str | None, typer.Option("--to", help="dataset name for --emit")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="report folder [default: "
                                                           "<root>/<new>/reports/drift/<training>/v<N>/]")] = None,
    executor: Annotated[str, typer.Option("--executor", help="where the per-row work (embedding, language, "
                                                             "features) runs: local | ray")] = "local",
    workers: Annotated[int, typer.Option("--workers", help="processes for the per-row work (local executor)")] = 1,
    root: RootOption = None, as_json: JsonOption = False,
) -> None:
    """Coverage of NEW by the training data, per-feature shift tests, an HTML/PNG report; exit 1 when a
    threshold is crossed."""
    try:
        crossed = _drift(new, against, policy, emit, to, out, executor, workers, root=root, as_json=as_json)
    except typer.Exit as e:  # every error is exit 2: exit 1 means "drift crossed a threshold"
        raise typer.Exit(2 if e.exit_code == 1 else e.exit_code) from None
    raise typer.Exit(1 if crossed else 0)


@handle_errors
def _drift(new, against, policy, emit, to, out, executor="local", workers=1, root=None, as_json=False) -> bool:
    from sluice.curate.drift import DriftPolicy, drift as run, emit_uncovered
    from sluice.curate.drift.report import write
    from sluice.curate.drift.run import history_dir
    from sluice.errors import InputError

    if emit is not None and emit != "uncovered":
        raise InputError(f"--emit {emit!r} is not known", hint="use --emit uncovered --to NAME")
    if (emit is None) != (to is None):
        raise InputError("--emit and --to go together", hint="use --emit uncovered --to NAME")
    s = store(root)
    result = run(new, against, s, DriftPolicy.load(policy), executor=executor, workers=workers)
    members = result.pop("_members")
    version = s.resolve(result["new"])
    page = write(result, out or history_dir(version, result["against"]) / f"v{version.number}")
    result["report"] = str(page)
    if emit:
        result["_members"] = members
        emitted = emit_uncovered(result, s, to)
        result.pop("_members")
        result["emitted"] = emitted.ref
    if as_json:
        emit_json(result)
        return bool(result["crossed"])
    c = result["coverage"]
    console.print(f"[bold]{escape(result['new'])}[/] against {escape(', '.join(result['against']))}: "
                  f"{c['uncovered']:,} of {c['rows']:,} rows uncovered ({c['share']:.1%}; "
                  f"{c['beyond_radius_share']:.1%} beyond the radius, {c['expected_share']:.1%} expected)", highlight=False)
    for g in c["clusters"]:
        console.print(f"  {g['rows']:>6,}  {escape(g['name'])}  [dim]{escape(', '.join(g['examples']))}[/]", highlight=False)
    for x in result["shifts"]:
        if "value" in x:
            mark = "[red]crossed[/]" if x["crossed"] else "ok"
            console.print(f"  {escape(x['feature']):<14} {x['effect']} {x['value']:.3f} (≥ {x['threshold']}) "
                          f"p {x['p']:.2g}  {mark}", highlight=False)
    if result.get("emitted"):
        console.print(f"uncovered rows published as {escape(result['emitted'])}", highlight=False)
    verdict = ("[red]crossed:[/] " + escape(", ".join(result["crossed"]))) if result["crossed"] else "nothing crossed"
    console.print(f"{verdict}; report: {escape(str(page))}", highlight=False)
    return bool(result["crossed"])
