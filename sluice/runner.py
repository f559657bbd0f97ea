"""The runner: a recipe's stages over a dataset version → a new published version.

The runner plans, checkpoints, accounts, guards privacy and publishes; an executor
(sluice/executors: ``local`` or ``ray``) only maps a stage over its batches. Each stage reads
the previous stage's kept rows and writes its checkpoint under
``<root>/.checkpoints/<fingerprint>/`` (kept, rejected and quarantined rows per batch, and
stats), published by an atomic rename. The fingerprint covers the stage's name, class, version and
config, the upstream fingerprint, the schema version and the tool version, so a repeated run
finds its checkpoints and skips the work. While a stage runs, every finished batch is kept
in ``.partial-<fingerprint>/``: a killed run resumes and redoes only the batches in flight.

A whole-dataset stage gets only the columns it reads, and its answer joins back to the
batches by row position; a bounded one (``partial()`` + ``combine()``) never holds every row.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from sluice import __version__, fs
import polars as pl

from sluice.apply import live_stage
from sluice.checkpoints import Checkpoint, clean_stale
from sluice.errors import RecipeError, SluiceError
from sluice.executors import Executor, executor as make_executor
from sluice.executors.batch import ROW, Job, normalize_answer, read_rows, with_rows, write_table
from sluice.executors.spill import Parts
from sluice.recipe import Recipe
from sluice.schemas import get, upgrade
from sluice.stage import Filter, Scorer, Stage, Transform, check_requirements
from sluice.store import Store, Version

REJECT_COLUMNS = ("stage", "reason", "detail", "duplicate_of")


class Progress(Protocol):
    def stage_started(self, index: int, name: str, total: int) -> None: ...
    def advanced(self, index: int, rows: int) -> None: ...
    def stage_finished(self, index: int, stats: StageStats) -> None: ...


@dataclass
class StageStats:
    name: str
    index: int
    fingerprint: str
    rows_in: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    cached: bool = False
    counters: Counter = field(default_factory=Counter)  # from Stage.count(): counts only, no values
    info: dict[str, Any] = field(default_factory=dict)  # from Stage.describe(): models, recognizers, …

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "fingerprint": self.fingerprint, "rows_in": self.rows_in,
                "kept": self.kept, "rejected": dict(self.rejected), "quarantined": dict(self.quarantined),
                "seconds": round(self.seconds, 3), "cached": self.cached, "counters": dict(self.counters),
                "info": self.info}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        return cls(d["name"], d["index"], d["fingerprint"], d["rows_in"], d["kept"], Counter(d["rejected"]),
                   Counter(d["quarantined"]), d["seconds"], True, Counter(d.get("counters", {})), d.get("info", {}))


@dataclass
class RunResult:
    version: Version
    input: Version
    stages: list[StageStats]
    seconds: float
    reused: bool = False  # True when an identical version was already published


# -- checks before any work --------------------------------------------------------------------

def check_contract(stages: list[Stage], version: Version, store: Store) -> None:
    """Kinds, columns and packages of every stage, all problems at once."""
    kind = version.kind
    available = set(fs.read_schema(version.files()[0]).names) if version.files() else set(get(kind).names)
    problems = []
    for i, stage in enumerate(stages):
        if kind not in stage.kinds:
            problems.append(f"stages[{i}] ({stage.name}) works on {'/'.join(stage.kinds)} data; {version.ref} is {kind}")
        missing = [c for c in stage.reads if c not in available]
        if missing:
            problems.append(f"stages[{i}] ({stage.name}) reads {missing}, which no earlier stage adds "
                            f"and {version.ref} lacks")
        if isinstance(stage, Transform):
            absent = [c for c in stage.rewrites if c not in available]
            if absent:
                problems.append(f"stages[{i}] ({stage.name}) rewrites {absent}, which {version.ref} lacks")
        clash = [c for c in stage.adds if c in available]
        if clash:
            problems.append(f"stages[{i}] ({stage.name}) would add {clash}, which already exist")
        available |= set(stage.adds)
    if problems:
        raise RecipeError("the recipe does not fit its input", problems=problems,
                          hint="reorder the stages or add the stage that produces the missing columns")
    check_requirements([type(s) for s in stages])
    _check_privacy(stages, version, store)


def _check_privacy(stages: list[Stage], version: Version, store: Store) -> None:
    """A stage that sends rows off the machine runs only on redacted data (ARCHITECTURE.md, "Privacy")."""
    from sluice.privacy import check_recipe

    check_recipe(stages, version, store)


# -- the run -------------------------------------------------------------------------------------

def _input_fingerprint(version: Version) -> str:
    m = version.manifest
    shards = [s["sha256"] for s in m["parts"]["data"]["shards"]]
    body = {"kind": m["kind"], "schema_version": m["schema_version"], "shards": shards}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _batches(files: list[Path], batch_size: int) -> Iterator[pa.Table]:
    for f in files:
        for batch in fs.parquet_file(f).iter_batches(batch_size=batch_size):
            yield upgrade(pa.Table.from_batches([batch]))  # a version of an older schema reads as the current one


def plan(files: list[Path], batch_size: int, out: Path) -> list[Job]:
    """The stage's batches: the same for the same input, so a resumed run knows which are done."""
    jobs: list[Job] = []
    first = 0
    for f in files:
        n = fs.num_rows(f)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            jobs.append(Job(len(jobs), fs.uri(f), start, rows, first, fs.uri(out)))
            first += rows
    if not jobs and files:  # no rows: one empty batch still yields the stage's output columns
        jobs.append(Job(0, fs.uri(files[0]), 0, 0, 0, fs.uri(out)))
    return jobs


def _run_stage(stage: Stage, index: int, files: list[Path], ckpt: Checkpoint, recipe: Recipe,
               progress: Progress | None, executor: Executor, raw: bool) -> StageStats:
    ckpt.claim(raw)
    stats = _write_stage(stage, index, files, ckpt, recipe, progress, executor)
    ckpt.publish()
    if progress:
        progress.stage_finished(index, stats)
    return stats


def _write_stage(stage: Stage, index: int, files: list[Path], ckpt: Checkpoint, recipe: Recipe,
                 progress: Progress | None, executor: Executor) -> StageStats:
    stats = StageStats(stage.name, index, ckpt.fingerprint)
    jobs = plan(files, recipe.batch_size, ckpt.partial)
    ckpt.keep_if_planned(hashlib.sha256(json.dumps([(j.file, j.start, j.rows) for j in jobs]).encode()).hexdigest())
    total = sum(j.rows for j in jobs)
    if progress:
        progress.stage_started(index, stage.name, total)
    start = time.perf_counter()
    key = ckpt.fingerprint
    if stage.whole_dataset and total:
        answer = _answer(stage, key, jobs, ckpt, executor)
        counted = ckpt.partial / "answer-counters.json"
        stats.counters.update(json.loads(counted.read_text()) if counted.is_file() else {})
        jobs = [replace(j, mode="answer", answer=answer) for j in jobs]
    done = ckpt.finished()
    for batch in [*done.values(), *executor.map(stage, key, [j for j in jobs if j.index not in done])]:
        stats.rows_in += batch["rows_in"]
        stats.kept += batch["kept"]
        stats.rejected.update(batch["rejected"])
        stats.quarantined.update(batch["quarantined"])
        stats.counters.update(batch["counters"])
        if progress:
            progress.advanced(index, stats.rows_in)
    stats.seconds = time.perf_counter() - start
    stats.info = stage.describe()
    (ckpt.partial / "stats.json").write_text(json.dumps(stats.as_dict(), indent=2))
    stats.cached = False
    return stats


def _answer(stage: Stage, key: str, jobs: list[Job], ckpt: Checkpoint, executor: Executor) -> str:
    """A whole-dataset stage's answer for every row, keyed by ``__row``, written once per checkpoint.

    Only the columns the stage reads are loaded. A bounded stage maps ``partial()`` over the
    batches (on the executor's workers) and ``combine()``s the spilled partials here; any other
    stage gets its projected columns of every row at once (DEITA selection, SemDedup)."""
    path = ckpt.partial / "answer.parquet"
    if path.is_file():
        return fs.uri(path)
    columns = tuple(stage.columns(fs.read_schema(jobs[0].file).names))
    # what the stage counts while answering (rows re-scored, …) goes to its stats
    live = stage if stage.bounded else live_stage(stage, key)
    live.counters.clear()
    if stage.bounded:
        partials = [replace(j, mode="partial", columns=columns, out=fs.uri(ckpt.partial / "spill"))
                    for j in jobs]
        done = {int(p.stem) for p in (ckpt.partial / "spill" / "batches").glob("*.json")}
        for _ in executor.map(stage, key, [j for j in partials if j.index not in done]):
            pass
        parts = Parts([fs.uri(p) for p in sorted((ckpt.partial / "spill" / "partials").glob("part-*.parquet"),
                                                  key=lambda p: p.name)])
        answer = live.combine(parts)
    else:
        whole = pl.concat([with_rows(read_rows(j.file, j.start, j.rows, columns), j.first_row) for j in jobs],
                          how="diagonal_relaxed")
        answer = live.score(whole) if isinstance(live, Scorer) else live.decide(whole)
        answer = answer.to_frame("reason") if isinstance(answer, pl.Series) else answer
        if answer.height != whole.height:
            raise SluiceError(f"stage {stage.name!r} broke its contract: it answered {answer.height} rows "
                              f"for {whole.height}", hint="this is a bug in the stage; see sluice/stage.py")
        answer = answer.with_columns(whole[ROW])
        del whole
    (ckpt.partial / "answer-counters.json").write_text(json.dumps(dict(live.counters)))
    write_table(normalize_answer(stage, answer).to_arrow(), fs.uri(path))
    fs.rmtree(ckpt.partial / "spill")
    return fs.uri(path)


def run(recipe: Recipe, stages: list[Stage], *, store: Store | None = None, input_ref: str | None = None,
        output: str | None = None, progress: Progress | None = None, executor: str | None = None,
        keep_raw_checkpoints: bool = False) -> RunResult:
    """Run the stages over the input and publish the result.

    ``executor`` (default: the recipe's ``executor``) maps each stage over its batches.
    Checkpoints of the stages before PII redaction hold raw values: they are removed once the
    version is published, unless ``keep_raw_checkpoints`` (``sluice gc`` removes them later)."""
    store = store or Store()
    start = time.perf_counter()
    ref = input_ref or recipe.input
    out_name = output or recipe.output
    if not ref:
        raise RecipeError("no input dataset", hint="set 'input:' in the recipe or pass --input NAME@vN")
    if not out_name:
        raise RecipeError("no output dataset name", hint="set 'output:' in the recipe or pass --output NAME")
    version = store.resolve(ref)
    check_contract(stages, version, store)
    clean_stale(store.root)
    checkpoints = _chain(stages, version, store.root)
    upstream = checkpoints[-1].fingerprint if checkpoints else f"{_input_fingerprint(version)}|{__version__}"
    previous = store.versions(out_name)
    if previous and previous[-1].manifest.get("fingerprint") == upstream \
            and previous[-1].manifest.get("parents") == [version.ref]:
        # Same input, same stages, same configs: the published result would be identical.
        stats = [StageStats.from_dict(s) for s in previous[-1].manifest.get("stages", [])]
        return RunResult(previous[-1], version, stats, time.perf_counter() - start, reused=True)
    files = version.files()
    raw = raw_stages(stages)
    all_stats: list[StageStats] = []
    # One executor serves every stage of the run: each of its workers sets a stage up once
    # (models load once per process or actor), and no stage pays for starting workers again.
    engine = None
    try:
        for i, (stage, ckpt) in enumerate(zip(stages, checkpoints)):
            if ckpt.done():
                stats = StageStats.from_dict(ckpt.stats())
                if progress:
                    progress.stage_started(i, stage.name, stats.rows_in)
                    progress.stage_finished(i, stats)
            else:
                engine = engine or make_executor(executor or recipe.executor, recipe.workers)
                stats = _run_stage(stage, i, files, ckpt, recipe, progress, engine, i < raw)
            all_stats.append(stats)
            files = ckpt.files("data")
    finally:
        if engine is not None:
            engine.close()
    from sluice.outcomes import check_not_empty

    check_not_empty(recipe.name, version.num_rows(), [s.as_dict() for s in all_stats], recipe.allow_empty)
    published = _publish(store, out_name, version, recipe, stages, all_stats, checkpoints, files, upstream)
    if not keep_raw_checkpoints:
        for ckpt in checkpoints[:raw]:
            ckpt.remove()
    return RunResult(published, version, all_stats, time.perf_counter() - start)


def _chain(stages: list[Stage], version: Version, root: Path) -> list[Checkpoint]:
    """Every stage's checkpoint: its fingerprint covers its config and everything upstream."""
    upstream = f"{_input_fingerprint(version)}|{__version__}"
    chain = []
    for stage in stages:
        chain.append(Checkpoint(root, stage.fingerprint(upstream + f"|schema={get(version.kind).version}")))
        upstream = chain[-1].fingerprint
    return chain


def raw_stages(stages: list[Stage]) -> int:
    """How many leading stages run before PII redaction: their checkpoints hold raw values.
    The redaction the privacy guard recognizes (by class), else a stage named like it."""
    from sluice.privacy import REDACTION_STAGE, recipe_redaction

    found = recipe_redaction(stages)
    if found is not None:
        return found[0]
    return next((i for i, s in enumerate(stages) if s.name == REDACTION_STAGE), 0)


def _publish(store: Store, name: str, source: Version, recipe: Recipe, stages: list[Stage],
             stats: list[StageStats], checkpoints: list[Checkpoint], files: list[Path], fingerprint: str) -> Version:
    rows_in = source.num_rows()
    rejected = {s.name: dict(s.rejected) for s in stats if s.rejected}
    quarantined = {s.name: dict(s.quarantined) for s in stats if s.quarantined}
    kept = stats[-1].kept if stats else rows_in
    accounting = {"rows_in": rows_in, "kept": kept,
                  "rejected_total": sum(sum(r.values()) for r in rejected.values()), "rejected": rejected,
                  "quarantined_total": sum(sum(q.values()) for q in quarantined.values()), "quarantined": quarantined}
    final_schema = fs.read_schema(files[0]) if files else get(source.kind).schema
    reject_schema = _reject_schema(final_schema)
    with store.create(name, source.kind, parents=[source.ref]) as writer:
        writer.write(final_schema.empty_table())  # fixes the columns even when every row was dropped
        for table in _batches(files, 100_000):
            writer.write(table)
        for ckpt in checkpoints:
            for table in _batches(ckpt.files("rejected"), 100_000):
                writer.write_rejected(_conform(table, reject_schema))
            for table in _batches(ckpt.files("quarantine"), 100_000):
                writer.write_quarantine(table)
        recipe_body = recipe.model_dump(mode="json")
        recipe_body["stages"] = [{"stage": s.name, **s.config.model_dump(mode="json")} for s in stages]
        reasons = {s.name: s.reasons for s in stages if isinstance(s, Filter)}
        return writer.publish(accounting, recipe=recipe_body, fingerprint=fingerprint,
                              stages=[s.as_dict() for s in stats], reasons=reasons)


def _reject_schema(schema: pa.Schema) -> pa.Schema:
    fields = [f for f in schema if f.name not in REJECT_COLUMNS]
    return pa.schema(fields + [pa.field(c, pa.string()) for c in REJECT_COLUMNS])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)
