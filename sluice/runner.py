"""The local runner: a recipe's stages over a dataset version → a new published version.

Each stage reads the previous stage's kept rows and writes its own checkpoint under
``<root>/.checkpoints/<fingerprint>/`` (kept rows, rejected rows, quarantined rows and
stats), published by an atomic rename. The fingerprint covers the stage's name, version and
config, the upstream fingerprint, the schema version and the tool version, so a repeated
run finds its checkpoints and skips the work. Batch stages run through
``sluice.parallel.ordered_map`` (in process, or in worker processes); whole-dataset stages
get every row at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from sluice import __version__
from sluice.errors import RecipeError
from sluice.parallel import ordered_map, process_pool
from sluice.recipe import Recipe
from sluice.schemas import get
from sluice.apply import apply_stage
from sluice.stage import Filter, Stage, Transform, check_requirements
from sluice.store import Store, Version, _PartWriter

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
    available = set(pq.read_schema(version.files()[0]).names) if version.files() else set(get(kind).names)
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
    """A stage that sends rows off the machine runs only on redacted data (DESIGN.md, privacy)."""
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
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([batch])


class _Checkpoint:
    def __init__(self, root: Path, fingerprint: str):
        self.path = root / ".checkpoints" / fingerprint
        self.fingerprint = fingerprint

    def done(self) -> bool:
        return (self.path / "stats.json").is_file()

    def stats(self) -> StageStats:
        return StageStats.from_dict(json.loads((self.path / "stats.json").read_text()))

    def files(self, part: str) -> list[Path]:
        return sorted((self.path / part).glob("part-*.parquet"))


def _clean_stale_checkpoints(root: Path) -> None:
    """Remove half-written checkpoints of runs whose process is gone (killed, crashed machine)."""
    import psutil

    for p in (root / ".checkpoints").glob(".tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not psutil.pid_exists(pid):
            shutil.rmtree(p, ignore_errors=True)


def _run_stage(stage: Stage, index: int, files: list[Path], ckpt: _Checkpoint, recipe: Recipe,
               progress: Progress | None, pool=None) -> StageStats:
    tmp = ckpt.path.parent / f".tmp-{ckpt.fingerprint}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        stats = _write_stage(stage, index, files, tmp, ckpt, recipe, progress, pool)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-written checkpoint behind
        raise
    try:
        shutil.rmtree(ckpt.path, ignore_errors=True)
        os.rename(tmp, ckpt.path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ckpt.done():  # a concurrent run of the same stage may have published it first
            raise
    if progress:
        progress.stage_finished(index, stats)
    return stats


def _write_stage(stage: Stage, index: int, files: list[Path], tmp: Path, ckpt: _Checkpoint, recipe: Recipe,
                 progress: Progress | None, pool=None) -> StageStats:
    stats = StageStats(stage.name, index, ckpt.fingerprint)
    parts = {p: _PartWriter(tmp / p, 250_000) for p in ("data", "rejected", "quarantine")}
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    if progress:
        progress.stage_started(index, stage.name, total)
    start = time.perf_counter()
    key = ckpt.fingerprint
    if stage.whole_dataset:
        tables = [pq.read_table(f) for f in files]
        whole = pa.concat_tables(tables, promote_options="default") if tables else None
        jobs: Iterator[tuple] = iter([(stage, key, whole, 0)] if whole is not None else [])
        workers, pool = 1, None  # one batch: it runs here
    else:
        def gen():
            offset = 0
            for table in _batches(files, recipe.batch_size):
                yield stage, key, table, offset
                offset += table.num_rows
            if not offset and files:  # no rows: one empty batch still yields the stage's output columns
                yield stage, key, pq.read_schema(files[0]).empty_table(), 0
        jobs, workers = gen(), recipe.workers
    schema = pq.read_schema(files[0]) if files else None
    for kept, rejected, quarantined, counters in ordered_map(apply_stage, jobs, workers, pool=pool):
        stats.counters.update(counters)
        parts["data"].write(kept)
        stats.kept += kept.num_rows
        stats.rows_in += kept.num_rows
        schema = kept.schema
        if rejected is not None and rejected.num_rows:
            parts["rejected"].write(rejected)
            stats.rejected.update(rejected.column("reason").to_pylist())
            stats.rows_in += rejected.num_rows
        if quarantined is not None and quarantined.num_rows:
            parts["quarantine"].write(quarantined)
            stats.quarantined.update(quarantined.column("error_kind").to_pylist())
            stats.rows_in += quarantined.num_rows
        if progress:
            progress.advanced(index, stats.rows_in)
    if schema is not None:  # an empty result still tells the next stage its columns
        parts["data"].ensure_shard(schema)
    for part in parts.values():
        part.close()
    stats.seconds = time.perf_counter() - start
    stats.info = stage.describe()
    (tmp / "stats.json").write_text(json.dumps(stats.as_dict(), indent=2))
    stats.cached = False
    return stats


def run(recipe: Recipe, stages: list[Stage], *, store: Store | None = None, input_ref: str | None = None,
        output: str | None = None, progress: Progress | None = None) -> RunResult:
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
    _clean_stale_checkpoints(store.root)
    upstream = f"{_input_fingerprint(version)}|{__version__}"
    files = version.files()
    all_stats: list[StageStats] = []
    checkpoints: list[_Checkpoint] = []
    # One pool of workers serves every batch stage of the run: each worker sets a stage up once
    # (models load once per process), and no stage pays for starting processes again.
    pool = None
    try:
        for i, stage in enumerate(stages):
            ckpt = _Checkpoint(store.root, stage.fingerprint(upstream + f"|schema={get(version.kind).version}"))
            if ckpt.done():
                stats = ckpt.stats()
                if progress:
                    progress.stage_started(i, stage.name, stats.rows_in)
                    progress.stage_finished(i, stats)
            else:
                if pool is None and recipe.workers > 1 and not stage.whole_dataset:
                    pool = process_pool(recipe.workers)
                stats = _run_stage(stage, i, files, ckpt, recipe, progress, pool)
            all_stats.append(stats)
            checkpoints.append(ckpt)
            files = ckpt.files("data")
            upstream = ckpt.fingerprint
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    from sluice.outcomes import check_not_empty

    check_not_empty(recipe.name, version.num_rows(), [s.as_dict() for s in all_stats], recipe.allow_empty)
    previous = store.versions(out_name)
    if previous and previous[-1].manifest.get("fingerprint") == upstream \
            and previous[-1].manifest.get("parents") == [version.ref]:
        # Same input, same stages, same configs: the published result would be identical.
        return RunResult(previous[-1], version, all_stats, time.perf_counter() - start, reused=True)
    published = _publish(store, out_name, version, recipe, stages, all_stats, checkpoints, files, upstream)
    return RunResult(published, version, all_stats, time.perf_counter() - start)


def _publish(store: Store, name: str, source: Version, recipe: Recipe, stages: list[Stage],
             stats: list[StageStats], checkpoints: list[_Checkpoint], files: list[Path], fingerprint: str) -> Version:
    rows_in = source.num_rows()
    rejected = {s.name: dict(s.rejected) for s in stats if s.rejected}
    quarantined = {s.name: dict(s.quarantined) for s in stats if s.quarantined}
    kept = stats[-1].kept if stats else rows_in
    accounting = {"rows_in": rows_in, "kept": kept,
                  "rejected_total": sum(sum(r.values()) for r in rejected.values()), "rejected": rejected,
                  "quarantined_total": sum(sum(q.values()) for q in quarantined.values()), "quarantined": quarantined}
    final_schema = pq.read_schema(files[0]) if files else get(source.kind).schema
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
