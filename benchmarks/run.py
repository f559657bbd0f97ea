"""Run every speed benchmark, gather their JSON (benchmarks/results.py) and regenerate BENCHMARKS.md's table.

Each registered script runs as a subprocess with ``--size quick|full --json PATH``; inside it, sluice and
its baseline are timed in interleaved rounds with the load average recorded per round. Output (the
JSON files, each script's log, ``run.json``) goes to ``--out``, by default under ``benchmarks/paths.py``
``SCRATCH`` — never into the repository. The scripts run with that folder as their working directory.

Then the one generated section of BENCHMARKS.md, between ``<!-- run.py:begin -->`` and
``<!-- run.py:end -->``, is rewritten: one row per comparison (median ratio over rounds, min–max,
``noisy`` when the rounds disagree by more than 2x, target and whether it is met, whether the outputs
were identical, the load per round, the date and the command). A run with ``--only`` replaces only the
rows of the benchmarks it ran and keeps the others. A script that is missing, fails, times out, lacks
the ``--size/--json`` flags or writes no JSON gets one row saying so; the others still run.

    python benchmarks/run.py --size quick                    # every benchmark, minutes on 2 cores
    python benchmarks/run.py --size full --only ingest       # the documented sizes
    python benchmarks/run.py --from DIR                      # re-tabulate JSON already written to DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths import REPO, SCRATCH  # noqa: E402
from results import load1, read, summarise  # noqa: E402

BEGIN, END = "<!-- run.py:begin -->", "<!-- run.py:end -->"
HEADER = ("| benchmark | what | sluice vs baseline | median ratio | min–max | noisy | target | met? | identical? "
          "| load per round | date | command |")
RULE = "|---|---|---|---:|---:|---|---:|---|---|---|---|---|"


@dataclass(frozen=True)
class Bench:
    name: str
    script: str  # relative to benchmarks/
    about: str


REGISTRY = [
    Bench("ingest", "bench_ingest.py", "sluice ingest vs polars read_ndjson"),
    Bench("embed", "bench_embed.py", "embed stage (static) vs model2vec StaticModel.encode"),
    Bench("minhash", "bench_dedup_minhash.py", "MinHash signatures vs datasketch / rensa"),
    Bench("select", "bench_select.py", "DEITA selection vs a float32 NumPy loop"),
    Bench("semdedup", "bench_dedup_semdedup.py", "SemDedup vs semhash"),
    Bench("pii", "bench_pii.py", "PII stages vs Presidio BatchAnalyzerEngine"),
]


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _ratio(x) -> str:
    return "—" if x is None else f"{x:.2f}×"


def _yes(v) -> str:
    return {True: "yes", False: "**no**", None: "—"}[v]


def rows_for(doc: dict, command: str) -> list[str]:
    """One table row per comparison of one benchmark's JSON."""
    out = []
    for comp in doc.get("comparisons", []):
        s = summarise(comp)
        target = comp.get("target")
        load = ", ".join("?" if x is None else f"{x:g}" for x in (s["load"] or [])) or "—"
        out.append("| " + " | ".join(_cell(c) for c in [
            doc["benchmark"], comp["what"], f"{comp['sluice']} vs {comp['baseline']}",
            _ratio(s["ratio"]) if not s["noisy"] else f"{_ratio(s['ratio'])} (noisy)",
            "—" if s["min"] is None else f"{s['min']:.2f}–{s['max']:.2f}",
            "**noisy**" if s["noisy"] else "no",
            "—" if target is None else f"≥ {target:g}×",
            _yes(s["meets_target"]) + (" (noisy)" if s["meets_target"] and s["noisy"] else ""),
            _yes(comp.get("identical")),
            load, f"{doc.get('date', '?')} ({doc.get('size', '?')})", f"`{command}`",
        ]) + " |")
    if not out:
        out.append(status_row(doc["benchmark"], "wrote no comparisons", command, doc.get("date", "?")))
    return out


def status_row(name: str, status: str, command: str, date: str) -> str:
    """The row of a benchmark that produced no figures: what happened instead."""
    return "| " + " | ".join(_cell(c) for c in [name, f"**{status}**", "—", "—", "—", "—", "—", "—", "—", "—",
                                                 date, f"`{command}`"]) + " |"


def table(rows: list[str]) -> str:
    return "\n".join([HEADER, RULE, *rows])


def _row_name(row: str) -> str:
    return row.strip().strip("|").split("|")[0].strip()


def regenerate(markdown: str, rows_by_bench: dict[str, list[str]], order: list[str]) -> str:
    """``markdown`` with its generated section rewritten: the benchmarks in ``rows_by_bench`` replaced,
    rows of other benchmarks kept (a run with ``--only``), ordered as ``order`` then any others."""
    if BEGIN not in markdown or END not in markdown:
        raise SystemExit(f"BENCHMARKS.md has no generated section: add a line {BEGIN} and a line {END} where the "
                         "table goes")
    head, rest = markdown.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    kept: dict[str, list[str]] = {}
    for line in body.splitlines():
        if line.startswith("| ") and line != HEADER and not line.startswith("|---"):
            name = _row_name(line)
            if name != "benchmark" and name not in rows_by_bench:  # "benchmark": a header row, old or new
                kept.setdefault(name, []).append(line)
    merged = {**kept, **rows_by_bench}
    names = [n for n in order if n in merged] + sorted(n for n in merged if n not in order)
    rows = [r for n in names for r in merged[n]]
    note = ("<!-- generated by benchmarks/run.py from the benchmarks' JSON; edit the scripts, not this table -->\n"
            "ratio = baseline seconds / sluice seconds (above 1: sluice is faster), the median over interleaved "
            "rounds; *noisy*: the rounds disagree by more than 2×, so no single round is quoted.\n")
    return f"{head}{BEGIN}\n{note}\n{table(rows)}\n{END}{tail}"


def run_one(bench: Bench, size: str, out: Path, timeout: float) -> tuple[dict | None, str]:
    """Run one script; return (its JSON or None, a status: 'ok' or why there are no figures)."""
    script = Path(__file__).resolve().parent / bench.script
    if not script.exists():
        return None, f"missing: benchmarks/{bench.script} does not exist"
    json_path = out / f"{bench.name}.json"
    json_path.unlink(missing_ok=True)
    log = out / f"{bench.name}.log"
    cmd = [sys.executable, str(script), "--size", size, "--json", str(json_path)]
    t = time.perf_counter()
    try:
        with log.open("w") as f:
            proc = subprocess.run(cmd, cwd=out, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired:
        return None, f"failed: timed out after {timeout:g} s (log: {log})"
    text = log.read_text(errors="replace")
    if proc.returncode:
        if "unrecognized arguments" in text and ("--size" in text or "--json" in text):
            return None, f"missing: {bench.script} does not accept --size/--json (log: {log})"
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
        return None, f"failed: exit {proc.returncode}: {last[:160]} (log: {log})"
    if not json_path.exists():
        return None, f"failed: wrote no JSON to --json (log: {log})"
    try:
        doc = read(json_path)
        doc["comparisons"]  # noqa: B018 — the shape check
    except (ValueError, KeyError, TypeError) as e:
        return None, f"failed: its JSON is not results.py's shape ({e!r}; {json_path})"
    doc.setdefault("benchmark", bench.name)
    doc["benchmark"] = bench.name
    doc["wall_s"] = round(time.perf_counter() - t, 1)
    return doc, "ok"


def select(only: str | None) -> list[Bench]:
    if not only:
        return list(REGISTRY)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = {b.name: b for b in REGISTRY}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"--only: unknown benchmark {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["quick", "full"], default="quick")
    ap.add_argument("--only", help="comma-separated benchmark names: " + ", ".join(b.name for b in REGISTRY))
    ap.add_argument("--out", type=Path, help="results folder (default: SCRATCH/run-<size>-<time>, outside the repo)")
    ap.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md", help="file whose generated section "
                    "is rewritten")
    ap.add_argument("--no-markdown", action="store_true", help="print the table, leave the file alone")
    ap.add_argument("--from", dest="from_dir", type=Path, help="tabulate the JSON already in this folder; run nothing")
    ap.add_argument("--check", action="store_true", help="exit 2 when a comparison misses its target or its "
                    "outputs differ (scripts/perfcheck.sh)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per script (default: 1800 quick, 14400 full)")
    args = ap.parse_args(argv)
    benches = select(args.only)
    shown = ["python", "benchmarks/run.py", "--size", args.size] + (["--only", args.only] if args.only else [])
    command = " ".join(shlex.quote(x) for x in shown)
    rows: dict[str, list[str]] = {}
    summary = []
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.from_dir:
        out = args.from_dir
    else:
        out = args.out or SCRATCH / f"run-{args.size}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        out.mkdir(parents=True, exist_ok=True)
        if out.resolve().is_relative_to(REPO):
            print(f"note: --out {out} is inside the repository", file=sys.stderr)
    timeout = args.timeout or (1800 if args.size == "quick" else 14400)
    for b in benches:
        if args.from_dir:
            path = out / f"{b.name}.json"
            doc, status = (read(path), "ok") if path.exists() else (None, f"missing: no {path.name} in {out}")
        else:
            print(f"[{b.name}] {b.script} --size {args.size} (load {load1():g}) ...", file=sys.stderr, flush=True)
            doc, status = run_one(b, args.size, out, timeout)
            print(f"[{b.name}] {status}" + (f" in {doc['wall_s']} s" if doc else ""), file=sys.stderr, flush=True)
        rows[b.name] = rows_for(doc, command) if doc else [status_row(b.name, status, command, now)]
        summary.append({"benchmark": b.name, "status": status,
                        "comparisons": [{"what": c["what"], **summarise(c)} for c in (doc or {}).get("comparisons", [])]})
    if not args.from_dir:
        (out / "run.json").write_text(json.dumps({"command": command, "date": now, "benchmarks": summary}, indent=2))
    print(table([r for b in benches for r in rows[b.name]]))
    print(f"\nresults: {out}", file=sys.stderr)
    if not args.no_markdown:
        md = args.markdown.read_text()
        args.markdown.write_text(regenerate(md, rows, [b.name for b in REGISTRY]))
        print(f"rewrote the generated section of {args.markdown}", file=sys.stderr)
    if not all(s["status"] == "ok" for s in summary):
        return 1
    missed = [f"{s['benchmark']}: {c['what']}" for s in summary for c in s["comparisons"] if c["meets_target"] is False]
    if args.check and missed:
        print("missed target: " + "; ".join(missed), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
