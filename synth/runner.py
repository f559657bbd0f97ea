"""Run a synth recipe: privacy guard → resume journal → concurrent or batched calls → publish.

Every finished item (a source prompt) is appended to a journal under
``<store>/.synth/<to>-<fingerprint>.jsonl`` the moment it finishes, so an interrupted run
resumes without calling the model again for finished items; items that failed with a
transient reason (``generation_failed``, ``empty_generation``) are tried again. The fingerprint
hashes the recipe, its config, the distilabel task prompt versions, the models and generation
parameters, and the source's shard hashes — not concurrency, batch size, retries or timeouts. Running a
finished run again publishes nothing new.

>>> from sluice.synth import synthesize, load_llm_file
>>> synthesize("ultrafeedback", source="curated@latest", to="prefs", llm=load_llm_file("llm.yaml"))
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import DataError, RecipeError
from sluice.store import Store, Version
from sluice.yamlfile import read_yaml

from .dedup import Deduper
from .judge import JudgeParseError
from .llm import Backend, GenerationFailed, LLMSpec, build_backend
from .recipes import ALIASES, RECIPES, Ctx, Item, Recipe
from .source import Source, load_source

RETRIED_ON_RESUME = ("generation_failed", "empty_generation")


class LLMFile(BaseModel):
    """The ``--llm`` YAML: the models by role, and per-recipe settings."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMSpec = Field(..., description="the model that writes answers, prompts, critiques")
    judge: LLMSpec | None = Field(None, description="ultrafeedback's judge [default: llm]")
    generators: list[LLMSpec] = Field(default_factory=list, description="ultrafeedback's answer models [default: llm]")
    recipes: dict[str, dict[str, Any]] = Field(default_factory=dict, description="settings per recipe name")
    allow_hosts: list[str] = Field(default_factory=list, description="extra hosts that may be contacted (a proxy)")


def load_llm_file(path: str | Path) -> LLMFile:
    file = read_yaml(path, what="LLM file", hint="see examples/synth/llm-local.yaml")
    path = file.path
    if not isinstance(file.data or {}, dict):
        raise RecipeError(f"{path}: an LLM file is a mapping", hint="keys: llm, judge, generators, recipes, allow_hosts")
    try:
        return LLMFile(**(file.data or {}))
    except ValidationError as e:
        problems = [f"{file.locate(err['loc'])}: {'.'.join(map(str, err['loc'])) or '(file)'}: {err['msg']}"
                    for err in e.errors()]
        raise RecipeError(f"{path} has {len(problems)} problem(s)", problems=problems,
                          hint="keys: llm, judge, generators, recipes, allow_hosts") from None


def get_recipe(name: str, settings: dict[str, Any] | None = None) -> Recipe:
    key = ALIASES.get(name, name)
    if key not in RECIPES:
        raise RecipeError(f"unknown synth recipe {name!r}", hint=f"one of: {', '.join(RECIPES)}")
    try:
        return RECIPES[key](settings or {})
    except ValidationError as e:
        problems = [f"{key}.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        raise RecipeError(f"settings of recipe {key} have {len(problems)} problem(s)", problems=problems) from None


@dataclass
class SynthResult:
    versions: list[Version]
    reused: bool
    calls: int
    resumed: int
    seconds: float
    failures: Counter = field(default_factory=Counter)


def synthesize(recipe: str | Recipe, *, source: str, to: str, llm: LLMFile, store: Store | None = None,
               allow_unredacted: bool = False, settings: dict[str, Any] | None = None, limit: int | None = None,
               backends: dict[str, Any] | None = None, on_item=None, allow_empty: bool = False) -> SynthResult:
    """Run ``recipe`` over the prompts of ``source`` and publish ``to`` (and ``to``-sft if the recipe has one).

    ``backends`` maps roles (llm, judge, generators) to ready Backends (tests, benchmarks);
    ``on_item(done, total)`` is called after each finished item. A run that keeps no row raises
    ``SynthesisFailed`` naming the reasons and the errors behind them and publishes nothing (its
    journal stays, so a rerun retries the transient failures), unless ``allow_empty``.
    """
    from sluice.privacy import require_certified

    from .guard import egress_guard, quiet_distilabel

    start = time.perf_counter()
    store = store or Store()
    if isinstance(recipe, str):
        recipe = get_recipe(recipe, {**llm.recipes.get(ALIASES.get(recipe, recipe), {}), **(settings or {})})
    src = load_source(source, store, limit)
    specs = _specs(recipe, llm)
    remote = sorted({s.base_url for s in specs.values() if s.remote})
    privacy: dict[str, Any] = {"remote_endpoints": remote, "override": False}
    if remote:
        privacy.update(require_certified(src.version, store, action=f"send {src.ref} to {', '.join(remote)}",
                                         override=allow_unredacted, what=f"seed file {src.ref}"))

    fingerprint = _fingerprint(recipe, specs, src, limit)
    previous = store.versions(to)
    if previous and previous[-1].manifest.get("fingerprint") == fingerprint:
        return SynthResult([previous[-1]], True, 0, 0, time.perf_counter() - start)

    journal = Journal(store.root / ".synth" / f"{to}-{fingerprint[:16]}.jsonl")
    pending = [it for it in src.items if not journal.finished(it.key)]
    resumed = len(src.items) - len(pending)
    quiet_distilabel()
    hosts = sorted({s.host for s in specs.values() if s.host} | set(llm.allow_hosts))
    with egress_guard(hosts):
        ready = dict(backends or {})
        built = []
        if pending:
            cache: dict[str, Backend] = {}  # one loaded model per distinct spec (judge = llm shares it)

            def get(spec: LLMSpec) -> Backend:
                key = spec.model_dump_json()
                if key not in cache:
                    cache[key] = build_backend(spec)
                    built.append(cache[key])
                return cache[key]

            for role, spec in specs.items():
                if role not in ready and not role.startswith("generators"):
                    ready[role] = get(spec)
            if "generators" not in ready:
                ready["generators"] = [get(specs[r]) for r in sorted(specs) if r.startswith("generators.")]
        try:
            all_backends = _unique(ready)
            usage_before = {id(b): b.usage.as_dict() for b in all_backends}
            ctx = Ctx(llm=ready.get("llm"), judge=ready.get("judge"), generators=ready.get("generators") or [])
            # enough items in flight to fill every backend: concurrent requests or a full local batch
            workers = max([s.in_flight for s in specs.values()] or [1])
            asyncio.run(_run_items(recipe, ctx, pending, journal, workers, all_backends, on_item, resumed,
                                   len(src.items)))
            calls = sum(b.usage.calls - usage_before[id(b)]["calls"] for b in all_backends)
        finally:
            for b in built:
                b.close()

    versions, failures = _publish(recipe, src, journal, store, to, fingerprint, specs, privacy, resumed,
                                  allow_empty)
    journal.remove()
    return SynthResult(versions, False, calls, resumed, time.perf_counter() - start, failures)


def _specs(recipe: Recipe, llm: LLMFile) -> dict[str, LLMSpec]:
    specs = {"llm": llm.llm}
    if recipe.name == "ultrafeedback":
        specs["judge"] = llm.judge or llm.llm
        for i, g in enumerate(llm.generators):
            specs[f"generators.{i}"] = g
    return specs


def _unique(ready: dict[str, Any]) -> list[Backend]:
    out: list[Backend] = []
    for v in ready.values():
        for b in v if isinstance(v, list) else [v]:
            if b is not None and all(b is not o for o in out):
                out.append(b)
    return out


def _fingerprint(recipe: Recipe, specs: dict[str, LLMSpec], src: Source, limit: int | None) -> str:
    body = {"recipe": recipe.name, "config": recipe.config.model_dump(mode="json"), "templates": recipe.templates(),
            "models": {r: s.identity() for r, s in specs.items()}, "source": src.identity, "limit": limit}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class Journal:
    """Append-only JSONL of finished items, plus per-session usage snapshots."""

    def __init__(self, path: Path):
        self.path = path
        self.session = uuid.uuid4().hex[:8]
        self.entries: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, dict[str, dict[str, int]]] = {}  # session → backend → counters
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by the interruption: that item is simply redone
                if "usage" in entry:
                    self.usage[entry["session"]] = entry["usage"]
                else:
                    self.entries[entry["key"]] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = None

    def finished(self, key: str) -> bool:
        e = self.entries.get(key)
        return e is not None and (e["ok"] or e["reason"] not in RETRIED_ON_RESUME)

    def add(self, entry: dict[str, Any], usage: dict[str, dict[str, int]]) -> None:
        if self._f is None:
            self._f = open(self.path, "a", encoding="utf-8")
        self.entries[entry["key"]] = entry
        self.usage[self.session] = usage
        self._f.write(json.dumps(entry) + "\n" + json.dumps({"session": self.session, "usage": usage}) + "\n")
        self._f.flush()

    def total_usage(self) -> dict[str, dict[str, int]]:
        total: dict[str, Counter] = {}
        for per_backend in self.usage.values():
            for name, counts in per_backend.items():
                total.setdefault(name, Counter()).update(counts)
        return {k: dict(v) for k, v in total.items()}

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


async def _run_items(recipe, ctx, pending: list[Item], journal: Journal, workers: int, backends, on_item,
                     done: int, total: int) -> None:
    queue: asyncio.Queue[Item] = asyncio.Queue()
    for it in pending:
        queue.put_nowait(it)
    counter = [done]

    def usage() -> dict[str, dict[str, int]]:
        return {f"{i}:{b.model_name}": b.usage.as_dict() for i, b in enumerate(backends)}

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                entry = {"key": item.key, "ok": True, "result": await recipe.run(item, ctx)}
            except (GenerationFailed, JudgeParseError) as e:
                entry = {"key": item.key, "ok": False, "reason": e.reason, "detail": e.detail}
            journal.add(entry, usage())
            counter[0] += 1
            if on_item is not None:
                on_item(counter[0], total)

    tasks = [asyncio.create_task(worker()) for _ in range(min(workers, max(len(pending), 1)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        journal.close()


def _row_id(recipe: str, key: str, suffix: str, sub: str) -> str:
    return hashlib.sha256(f"synth:{recipe}:{key}:{suffix}:{sub}".encode()).hexdigest()[:24]


class SynthesisFailed(DataError):
    """A synth run kept no row: nothing was published."""


def _why_empty(recipe: Recipe, dropped: dict[str, list[dict]]) -> SynthesisFailed:
    rows = next(iter(dropped.values()))
    reasons = Counter(d["reason"] for d in rows)
    details = Counter(d["detail"] for d in rows if d["detail"] and d["detail"] != "not run")
    problems = [f"{reason}: {n} row(s)" for reason, n in reasons.most_common()]
    problems += [f"error ({n}x): {detail}" for detail, n in details.most_common(3)]
    return SynthesisFailed(f"synth {recipe.name} produced no rows: all {len(rows)} source row(s) were dropped",
                           problems=problems,
                           hint="fix the cause above and rerun (finished items are not called again); "
                                "allow_empty=True publishes the empty result")


def _publish(recipe: Recipe, src: Source, journal: Journal, store: Store, to: str, fingerprint: str,
             specs: dict[str, LLMSpec], privacy: dict[str, Any], resumed: int,
             allow_empty: bool = False) -> tuple[list[Version], Counter]:
    stage = f"synth.{recipe.name}"
    now = datetime.now(timezone.utc)
    kept: dict[str, list[dict]] = {s: [] for s in recipe.outputs}
    dropped: dict[str, list[dict]] = {s: [] for s in recipe.outputs}
    failures: Counter = Counter()
    for sid, reason in src.dropped:
        for s in recipe.outputs:
            dropped[s].append({"id": _row_id(recipe.name, sid, s, "src"), "stage": "synth.source", "reason": reason,
                               "detail": None, "duplicate_of": None, "source_ids": [sid]})
    dedup = Deduper() if recipe.expands else None
    if dedup is not None:
        for it in src.items:
            dedup.add(f"seed:{it.key}", it.instruction)
    for it in src.items:
        entry = journal.entries.get(it.key)
        if entry is None or not entry["ok"]:
            reason = entry["reason"] if entry else "generation_failed"
            failures[reason] += 1
            for s in recipe.outputs:
                dropped[s].append({"id": _row_id(recipe.name, it.key, s, "0"), "stage": stage, "reason": reason,
                                   "detail": entry["detail"] if entry else "not run", "duplicate_of": None,
                                   "source_ids": list(it.source_ids)})
            continue
        for s, rows in recipe.rows(it, entry["result"]).items():
            for row in rows:
                rid = _row_id(recipe.name, it.key, s, row["key"])
                if "drop" in row:
                    dropped[s].append({"id": rid, "stage": stage, "reason": row["drop"], "detail": None,
                                       "duplicate_of": None, "source_ids": list(it.source_ids)})
                    continue
                if dedup is not None:
                    dup = dedup.check(row["new_prompt"])
                    if dup is not None:
                        is_seed = dup.startswith("seed:")
                        dropped[s].append({"id": rid, "stage": stage,
                                           "reason": "duplicate_of_seed" if is_seed else "duplicate",
                                           "detail": None, "duplicate_of": dup.removeprefix("seed:"),
                                           "source_ids": list(it.source_ids)})
                        continue
                    dedup.add(rid, row["new_prompt"])
                kept[s].append(_to_record(recipe, it, row, rid, now))
    if not any(kept.values()) and not allow_empty:
        raise _why_empty(recipe, dropped)

    manifest = {
        "parents": [src.version.ref] if src.version else [],
        "fingerprint": fingerprint,
        "synth": {
            "recipe": recipe.name, "config": recipe.config.model_dump(mode="json"), "source": src.ref,
            "models": {r: s.identity() for r, s in specs.items()}, "templates": recipe.templates(),
            "tasks": {role: f"{type(t).__module__}.{type(t).__name__}" for role, t in sorted(recipe.tasks().items())},
            "usage": journal.total_usage(), "failed_generations": dict(failures),
            "resumed_items": resumed, "privacy": privacy,
        },
    }
    versions = []
    for s, kind in recipe.outputs.items():
        versions.append(_write(store, to + s, kind, kept[s], dropped[s], stage, manifest))
    return versions, failures


def _to_record(recipe: Recipe, it: Item, row: dict, rid: str, now: datetime) -> dict[str, Any]:
    meta = {"synth": {"recipe": recipe.name, "model": row["model"]}}
    if "ratings" in row:
        meta["synth"]["ratings"] = row["ratings"]
    base = {"id": rid, "source": f"synthetic:{recipe.name}", "source_id": it.key, "created_at": now,
            "metadata": json.dumps(meta), "source_ids": list(it.source_ids)}
    if "messages" in row:
        return {**base, "messages": row["messages"], "tools": None, "feedback": None}
    return {**base, "prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"],
            "origin": "synthetic", "score_chosen": row["score_chosen"], "score_rejected": row["score_rejected"]}


def _write(store: Store, name: str, kind: str, rows: list[dict], dropped: list[dict], stage: str,
           manifest: dict[str, Any]) -> Version:
    from sluice.schemas import REJECTED, get

    schema = get(kind).schema.append(pa.field("source_ids", pa.list_(pa.string())))
    if kind == "preference":
        schema = get(kind).schema  # source_ids is one of its own columns
    table = pa.Table.from_pylist(rows, schema=schema)
    reject_schema = REJECTED.schema.append(pa.field("source_ids", pa.list_(pa.string())))
    rejected = pa.Table.from_pylist(dropped, schema=reject_schema)
    by_stage: dict[str, dict[str, int]] = {}
    for d in dropped:
        by_stage.setdefault(d["stage"], Counter())[d["reason"]] += 1
    accounting = {"rows_in": len(rows) + len(dropped), "kept": len(rows), "rejected_total": len(dropped),
                  "rejected": {k: dict(v) for k, v in by_stage.items()}, "quarantined_total": 0, "quarantined": {}}
    with store.create(name, kind, **manifest) as writer:
        writer.write(table)
        if dropped:
            writer.write_rejected(rejected)
        return writer.publish(accounting, stages=[{"name": stage, "rows_in": accounting["rows_in"], "kept": len(rows),
                                                   "rejected": dict(Counter(d["reason"] for d in dropped))}])
