"""`sluice train sft|dpo|kto|orpo|simpo|grpo`, `sluice train eval`, `sluice train merge`, `sluice train options`."""

# No `from __future__ import annotations`: typer must see the per-method help strings built below.

import os
from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, RootOption, console, emit_json, escape, handle_errors, store

app = typer.Typer(help="Train LoRA/DoRA adapters with TRL on dataset versions; gate and merge them.",
                  no_args_is_help=True)

Settings = Annotated[list[str] | None, typer.Argument(help="more settings as key=value (see `sluice train options`)",
                                                     show_default=False)]


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets

    datasets.disable_progress_bars()


_TITLES = {"simpo": "SimPO (CPOTrainer, loss_type=simpo)", "grpo": "GRPO (rewards from the data)"}


def _method_command(method: str, what: str):
    @handle_errors
    def command(
        data: Annotated[str | None, typer.Option("--data", help=f"{what} dataset NAME@vN")] = None,
        model: Annotated[str | None, typer.Option("--model", help="base model: hub id or local folder")] = None,
        eval_data: Annotated[str | None, typer.Option("--eval", help="validation dataset NAME@vN")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="train YAML (fields of `sluice train options`)")] = None,
        output: Annotated[str | None, typer.Option("--output", "-o", help="adapter folder")] = None,
        golden: Annotated[str | None, typer.Option("--golden", help="golden set to record and keep out of training")] = None,
        init_adapter: Annotated[str | None, typer.Option("--init-adapter", help="continue from this adapter")] = None,
        load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="QLoRA (CUDA only)")] = False,
        settings: Settings = None,
        root: RootOption = None,
        as_json: JsonOption = False,
    ) -> None:
        _quiet()
        from sluice.train import train

        values = {"data": data, "model": model, "eval_data": eval_data, "output_dir": output, "golden": golden,
                  "init_adapter": init_adapter, "load_in_4bit": True if load_in_4bit else None}
        result = train(method, store(root), yaml_path=config, overrides=list(settings or []), **values)
        info = result.info
        if as_json:
            emit_json({"output_dir": str(result.output_dir), "card": str(result.card), **info["metrics"],
                       "warnings": info["warnings"], "datasets": info["datasets"]})
            return
        for w in info["warnings"]:
            console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
        m = info["metrics"]
        console.print(f"[bold green]trained[/] {method} adapter → {escape(str(result.output_dir))}  "
                      f"{m['global_step']} steps, best eval loss {m['best_eval_loss']}"
                      + (" (stopped early)" if m["stopped_early"] else ""), highlight=False)
        console.print(f"model card: {escape(str(result.card))}", highlight=False)

    command.__doc__ = f"Train a LoRA/DoRA adapter with TRL {_TITLES.get(method, method.upper())} on a {what} dataset."
    return command


app.command("sft")(_method_command("sft", "conversation"))
app.command("dpo")(_method_command("dpo", "preference"))
app.command("kto")(_method_command("kto", "kto"))
app.command("orpo")(_method_command("orpo", "preference"))
app.command("simpo")(_method_command("simpo", "preference"))
app.command("grpo")(_method_command("grpo", "conversation"))


def _judge_spec(url: str | None, model: str | None, key_env: str, llm_file: Path | None):
    """The judge's LLMSpec from --judge-llm (its judge entry, else llm) or --judge-url/--judge-model."""
    from sluice.errors import RecipeError
    from sluice.synth.llm import LLMSpec

    if llm_file is not None:
        from sluice.synth.runner import load_llm_file

        f = load_llm_file(llm_file)
        return f.judge or f.llm
    if url is None:
        return None
    if not model:
        raise RecipeError("--judge-url needs --judge-model (the model name the endpoint serves)")
    return LLMSpec(backend="openai", model=model, base_url=url, api_key_env=key_env,
                   generation={"temperature": 0.0, "max_new_tokens": 512})


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in counts.items())


def _print_calibration(report: dict) -> None:
    console.print(f"judge calibration on {report['judged']} of {report['items']} labelled items "
                  f"(parsed {report['parsed_fraction']:.0%}) "
                  f"({report['scale']}): agreement {report['agreement']:.1%}, Cohen's kappa {report['kappa']:.3f}"
                  + (f"; {sum(report['errors'].values())} judgment(s) failed: {_counts(report['errors'])}"
                     if report["errors"] else ""), highlight=False)
    if "warning" in report:
        console.print(f"[bold yellow]warning:[/] {escape(report['warning'])}", highlight=False)


@app.command("eval")
@handle_errors
def eval_(
    adapter: Annotated[Path | None, typer.Option("--adapter", help="adapter folder from `sluice train`")] = None,
    golden: Annotated[str | None, typer.Option("--golden", help="golden conversation dataset NAME@vN")] = None,
    settings: Annotated[list[str] | None, typer.Argument(help="gate rule as key=value, e.g. min_gain=0.02",
                                                        show_default=False)] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="generation length")] = 64,
    judge_url: Annotated[str | None, typer.Option("--judge-url", help="OpenAI-compatible endpoint for an LLM judge")] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="judge model name")] = None,
    judge_key_env: Annotated[str, typer.Option("--judge-key-env", help="environment variable holding the judge's "
                                                                       "API key")] = "OPENAI_API_KEY",
    judge_llm: Annotated[Path | None, typer.Option("--judge-llm", help="LLM YAML whose judge (or llm) entry is the "
                                                                       "judge (key via api_key_env/api_key_file)")] = None,
    judge_rubric: Annotated[str, typer.Option("--judge-rubric", help="PrometheusEval rubric: helpfulness, "
                                              "harmlessness, honesty, factual-validity, reasoning")] = "helpfulness",
    calibrate: Annotated[Path | None, typer.Option("--calibrate", help="JSONL of human-labelled items: compare the "
                                                                       "judge with them (agreement, Cohen's kappa)")] = None,
    allow_unredacted: Annotated[bool, typer.Option(
        "--allow-unredacted", help="let a remote judge see data with no PII redaction in its lineage (recorded)")] = False,
    incumbent: Annotated[str | None, typer.Option(
        "--incumbent", help="compare with this adapter folder, or 'base' (default: the lineage's promoted adapter, "
                            "else the adapter this round started from, else the base model)")] = None,
    lineage: Annotated[str | None, typer.Option("--lineage", help="registry lineage (default: the base model's "
                                                                  "name)")] = None,
    also: Annotated[list[str] | None, typer.Option("--metric", help="also report this metric (loglik, rouge_l, "
                                                                    "exact_match, judge); repeatable")] = None,
    root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Candidate vs incumbent, per item, paired; exit 1 unless the gain's CI lower bound clears the rule.

    The incumbent is the lineage's promoted adapter, else the adapter this round started from,
    else the base model. Every result is appended to eval_history.jsonl.

    With --calibrate LABELS, first compare the judge with human labels on the same items (warns above
    20% disagreement); with --calibrate alone, only that.
    """
    _quiet()
    from sluice.errors import DataError, RecipeError
    from sluice.train.config import GateRule, parse_overrides
    from sluice.train.gate import evaluate
    from sluice.train.run import read_info

    spec = _judge_spec(judge_url, judge_model, judge_key_env, judge_llm)
    calibration = None
    if calibrate is not None:
        from sluice.synth.grader import calibrate_file

        if spec is None:
            raise RecipeError("--calibrate needs a judge", hint="pass --judge-url and --judge-model, or --judge-llm")
        calibration = calibrate_file(calibrate, spec, store(root), rubric=judge_rubric,
                                     allow_unredacted=allow_unredacted)
        if as_json and adapter is None and golden is None:
            emit_json({"calibration": calibration})
        if calibration["agreement"] is None:  # too few parsed judgments to compare: a refusal, never a pass
            transport = calibration["errors"].get("transport_error")
            raise DataError(f"calibration: {calibration['warning']}",
                            hint="the judge endpoint failed the requests (transport errors, e.g. HTTP 400): check "
                                 "--judge-url/--judge-model and the server's log" if transport else
                                 "check that --judge-model names a model that follows the judge prompt")
        if not as_json:
            _print_calibration(calibration)
        if adapter is None and golden is None:
            return
    if adapter is None or golden is None:
        raise RecipeError("sluice train eval needs --adapter and --golden (or --calibrate LABELS alone)")
    rule = None
    if settings:
        overrides = parse_overrides([s.removeprefix("gate.") for s in settings])
        try:
            rule = GateRule(**{**read_info(adapter)["config"].get("gate", {}), **overrides})
        except ValueError as e:
            raise RecipeError("invalid gate rule", problems=[str(e).splitlines()[0]],
                              hint=f"known keys: {', '.join(GateRule.model_fields)}") from None
    result = evaluate(adapter, golden, store(root), rule=rule, max_new_tokens=max_new_tokens, judge=spec,
                      judge_rubric=judge_rubric, allow_unredacted=allow_unredacted, calibration=calibration,
                      incumbent=incumbent, lineage=lineage, metrics=list(also or []))
    decision = result["decision"]
    if as_json:
        emit_json({k: result[k] for k in ("golden", "rule", "incumbent", "adapter_sha256", "lineage", "decision",
                                          "judge", "judge_errors", "calibration") if k in result})
    else:
        from rich.table import Table

        inc = result["incumbent"]
        against = "base model" if inc["kind"] == "base" else inc["path"]
        table = Table(title=f"golden {escape(result['golden']['ref'])}: candidate vs {escape(against)} "
                            f"({escape(inc['why'])})", title_justify="left")
        for col in ("metric", "incumbent", "candidate", "gain", "95% CI" if rule is None or rule.confidence == 0.95
                    else "CI"):
            table.add_column(col, justify="left" if col == "metric" else "right")

        def num(x):
            return "n/a" if x is None else f"{x:.4f}"

        for metric, g in decision["gains"].items():
            table.add_row(metric, num(g["incumbent"]), num(g["candidate"]), num(g["mean"]),
                          f"{num(g['ci_low'])} … {num(g['ci_high'])}")
        console.print(table)
        for reason in decision["reasons"]:
            console.print(f"  • {escape(reason)}", highlight=False)
        verdict = ("[bold green]gate passed[/]: promote (`sluice models promote --adapter DIR`)" if decision["passed"]
                   else "[bold red]FAIL:[/] gate failed, do not promote (every reason above; kept in eval_history.jsonl)")
        console.print(verdict)
    if not decision["passed"]:
        raise typer.Exit(1)


@app.command("merge")
@handle_errors
def merge(
    adapter: Annotated[Path, typer.Option("--adapter", help="adapter folder from `sluice train`")],
    out: Annotated[Path, typer.Option("--out", help="folder for the merged full model")],
    base_model: Annotated[str | None, typer.Option("--base-model", help="override the recorded base model")] = None,
    root: RootOption = None,
) -> None:
    """Merge the adapter into the base weights (for servers without LoRA or DoRA support).

    A promoted (signed) adapter is verified first; one that does not verify is refused."""
    _quiet()
    from sluice.train.merge import merge as run_merge

    path = run_merge(adapter, out, base_model, store=store(root))
    console.print(f"[bold green]merged[/] → {escape(str(path))}", highlight=False)


@app.command("options")
def options(method: Annotated[str, typer.Argument(help="sft, dpo, kto, orpo, simpo or grpo")] = "sft") -> None:
    """Every setting of a method with its default and description."""
    from rich.table import Table

    from sluice.train.config import CONFIGS

    if method not in CONFIGS:
        console.print(f"[bold red]error:[/] unknown method {escape(method)!s}; use {', '.join(CONFIGS)}")
        raise typer.Exit(2)
    table = Table(title=f"sluice train {method} settings", title_justify="left")
    for col in ("key", "default", "description"):
        table.add_column(col)
    for key, default, desc in CONFIGS[method]().fields_help():
        table.add_row(key, escape(default), escape(desc))
    console.print(table)
