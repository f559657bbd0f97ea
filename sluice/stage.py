"""The stage contract (ARCHITECTURE.md, "Stages"): a small class, a typed config, one method over a batch.

Three kinds, each with one method over a polars DataFrame batch:

* ``Scorer.score(batch) -> DataFrame`` — new columns (named in ``adds``), one row per input row.
* ``Filter.decide(batch) -> Series | DataFrame`` — a reason code per row (null keeps the
  row); a DataFrame may also carry ``detail`` and ``duplicate_of``. Every code a filter can
  emit is listed in ``reasons``. Scoring and deciding are separate stages, so thresholds
  change without re-scoring.
* ``Transform.transform(batch) -> DataFrame`` — the same rows with the columns in
  ``rewrites`` rewritten (e.g. redaction). A row it cannot process gets a non-null
  ``_error`` (and optional ``_error_kind``) and is quarantined — never passed through.

The base class carries the rest: config validation, declared columns, required packages
(checked before any work, with an install hint), fingerprints. Stage code never imports
an execution engine; the runner decides how batches are executed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict

from sluice.errors import MissingDependency, RecipeError


#: a row's position in a whole-dataset stage's input: how its answer joins back to the batches
ROW = "__row"


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are errors; each field is described once."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs; an executor maps it to its own terms (Ray: num_cpus,
    num_gpus, memory, custom resources, and the actor pool's size). Resources change how a stage
    runs, never what it returns: they are not part of its fingerprint.

    A stage class declares its default (``resources = Resources(...)``); a recipe overrides it per
    stage with a ``resources:`` mapping beside ``stage:`` (:meth:`from_recipe`). The local executor
    ignores them (its ``workers`` are the only knob)."""

    cpus: float = 1
    gpus: float = 0
    memory: int | None = None  # bytes per worker, None: no reservation
    custom: tuple[tuple[str, float], ...] = ()  # Ray custom resources per worker, e.g. (("accelerator_type:T4", 1),)
    max_workers: int | None = None  # at most this many workers at once (a rate-limited endpoint, a licence)

    @classmethod
    def from_recipe(cls, spec: Any, base: Resources) -> Resources:
        """A recipe's ``resources:`` mapping over the stage's declared ``base``; a bad key or value
        raises ``ValueError`` naming it."""
        if not isinstance(spec, dict):
            raise ValueError("resources: expected a mapping like {cpus: 1, gpus: 1, memory: 4GiB, max_workers: 2}")
        known = {"cpus", "gpus", "memory", "custom", "max_workers"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"resources: unknown key(s) {unknown}; use {sorted(known)}")
        fields: dict[str, Any] = {}
        for key in ("cpus", "gpus"):
            if key in spec:
                value = spec[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"resources.{key}: expected a number >= 0, got {value!r}")
                fields[key] = float(value)
        if "memory" in spec:
            fields["memory"] = None if spec["memory"] is None else parse_bytes(spec["memory"], "resources.memory")
        if "max_workers" in spec:
            value = spec["max_workers"]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"resources.max_workers: expected a whole number >= 1, got {value!r}")
            fields["max_workers"] = value
        if "custom" in spec:
            custom = spec["custom"]
            if not isinstance(custom, dict) or not all(
                    isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                    for k, v in custom.items()):
                raise ValueError("resources.custom: expected a mapping of resource name → amount > 0")
            fields["custom"] = tuple(sorted((k, float(v)) for k, v in custom.items()))
        return replace(base, **fields)


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "t": 10**12, "tb": 10**12}


def parse_bytes(value: Any, where: str) -> int:
    """``4GiB``, ``512MB``, ``1e9`` or a number of bytes → bytes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    if m and m.group(2).lower() in _UNITS:
        try:
            n = float(m.group(1)) * _UNITS[m.group(2).lower()]
        except ValueError:
            n = 0
        if n > 0:
            return int(n)
    raise ValueError(f"{where}: expected bytes like 4GiB or 512MB, got {value!r}")


@dataclass(frozen=True)
class Requirement:
    """An optional package a stage imports, and the sluice extra that installs it."""

    module: str
    extra: str

    def missing(self) -> bool:
        return importlib.util.find_spec(self.module) is None


class Stage:
    name: ClassVar[str]
    Config: ClassVar[type[StageConfig]] = StageConfig
    #: columns the stage reads; checked against the input before any work
    reads: ClassVar[tuple[str, ...]] = ("messages",)
    #: columns the stage adds (Scorer) — it never rewrites another stage's columns
    adds: ClassVar[tuple[str, ...]] = ()
    #: record kinds the stage accepts
    kinds: ClassVar[tuple[str, ...]] = ("conversation",)
    requires: ClassVar[tuple[Requirement, ...]] = ()
    #: columns read when present (e.g. a keep policy's quality column); never required
    optional_reads: ClassVar[tuple[str, ...]] = ()
    #: what one worker needs (CPUs, GPUs, memory)
    resources: ClassVar[Resources] = Resources()
    #: True when the stage needs every row at once (dedup clustering, selection, splits). The
    #: runner hands it only the columns it reads (``columns()``), plus ``__row``, the row's
    #: position in the stage's input, and joins its answer back by that position. A stage that
    #: also implements ``partial()`` and ``combine()`` runs in bounded memory (see below).
    whole_dataset: ClassVar[bool] = False
    #: bump when the stage's output changes for the same config (invalidates checkpoints)
    version: ClassVar[int] = 1

    def __init__(self, config: StageConfig | dict[str, Any] | None = None, **fields: Any):
        if isinstance(config, StageConfig):
            self.config = config
        else:
            self.config = self.Config.model_validate({**(config or {}), **fields})
        self.counters: Counter = Counter()

    def setup(self) -> None:
        """Load models or other heavy state; called once per process before the first batch."""

    def columns(self, available: set[str] | list[str]) -> list[str]:
        """The columns a whole-dataset stage is given: ``reads`` and the ``optional_reads`` present."""
        wanted = dict.fromkeys(("id", *self.reads, *self.optional_reads))
        return [c for c in wanted if c in set(available)]

    # -- bounded form of a whole-dataset stage (optional) ---------------------------------------
    # ``partial(batch)`` runs per batch (on any worker) over the columns of ``columns()`` and
    # ``__row``, and returns a small frame with ``__row`` (hashes, signatures, keys: never the
    # rows); the runner spills the frames to Parquet. ``combine(parts)`` reads them back
    # (``sluice.spill.Parts``: by columns, by hash partition) and returns the answer for the
    # rows it concerns, keyed by ``__row``: a Scorer's ``adds`` (absent rows get nulls), a
    # Filter's ``reason``/``detail``/``duplicate_of`` (absent rows are kept).
    bounded: ClassVar[bool] = False

    def partial(self, batch: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError

    def combine(self, parts: Any) -> pl.DataFrame:
        raise NotImplementedError

    def __reduce__(self):
        # A stage travels to worker processes as its class and config. Heavy state from setup()
        # (models, analyzers) stays behind; each worker sets its copy up once
        # (sluice.apply.live_stage keeps it for every later batch).
        # A recipe's ``resources:`` override goes along (the executor reads it on the driver only).
        if "resources" in self.__dict__:
            return (type(self), (self.config,), {"resources": self.resources})
        return (type(self), (self.config,))

    def count(self, key: str, n: int = 1) -> None:
        """Add to a named counter (e.g. ``PERSON/user``); the runner sums them over all batches
        and workers into the manifest. Counters hold counts only, never row values."""
        self.counters[key] += n

    def remote_endpoints(self) -> list[str]:
        """URLs outside this machine that this stage sends rows to (e.g. a scoring endpoint).

        The runner refuses to run such a stage unless PII redaction ran earlier in the recipe or
        in the input's lineage (sluice.privacy). Loopback endpoints are not remote."""
        return []

    def describe(self) -> dict[str, Any]:
        """Facts for the manifest beyond the config: models, recognizers, fallbacks that ran.

        Called in the main process after the run; stages that learn these facts in ``setup()``
        should make ``describe()`` cheap to answer on its own."""
        return {}

    def fingerprint(self, upstream: str) -> str:
        """The checkpoint key: the stage's name, its class (``module:qualname``: a name that comes to mean
        another class must not reuse the old class's checkpoints), its ``version``, its config and
        everything upstream."""
        cls = type(self)
        body = {"stage": self.name, "class": f"{cls.__module__}:{cls.__qualname__}", "version": self.version,
                "config": self.config.model_dump(mode="json"), "upstream": upstream}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]

    @classmethod
    def missing_requirements(cls) -> list[Requirement]:
        return [r for r in cls.requires if r.missing()]


class Scorer(Stage):
    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError


class Filter(Stage):
    #: reason code → what it means (shown by `sluice stages`, written to the manifest)
    reasons: ClassVar[dict[str, str]] = {}

    def decide(self, batch: pl.DataFrame) -> pl.Series | pl.DataFrame:
        raise NotImplementedError


class Transform(Stage):
    #: columns the transform rewrites
    rewrites: ClassVar[tuple[str, ...]] = ()

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError


# -- registry --------------------------------------------------------------------------------
# Each curation package declares its stages in a light ``STAGES = {name: "module:Class"}`` in its
# ``__init__``; stage modules are imported only when a recipe uses them, so heavy dependencies
# (Presidio, torch, …) load only for the stages that need them.
PROVIDERS = ("sluice.curate.stages", "sluice.curate.pii", "sluice.curate.quality", "sluice.curate.dedup")


def _collect() -> dict[str, str]:
    found: dict[str, str] = {}
    for provider in PROVIDERS:
        if importlib.util.find_spec(provider) is None:
            continue
        for name, target in getattr(importlib.import_module(provider), "STAGES", {}).items():
            if name in found:
                raise RecipeError(f"stage name {name!r} is registered twice ({found[name]} and {target})")
            found[name] = target
    return found


STAGES: dict[str, str] = _collect()


def stage_class(name: str) -> type[Stage]:
    """A registered stage name, or ``package.module:Class`` for a stage of your own."""
    target = STAGES.get(name, name)
    if ":" not in target:
        raise RecipeError(f"unknown stage {name!r}", hint=f"registered stages: {', '.join(sorted(STAGES))}; "
                                                           "or give your own as package.module:Class")
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise RecipeError(f"cannot load stage {name!r} from {target}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, (Scorer, Filter, Transform))):
        raise RecipeError(f"{target} is not a sluice Scorer, Filter or Transform")
    return cls


def check_requirements(stages: list[type[Stage]]) -> None:
    """All missing packages of all stages, at once, with the command that installs them."""
    problems, extras = [], set()
    for cls in stages:
        for req in cls.missing_requirements():
            problems.append(f"stage {cls.name!r} needs the package {req.module!r} (extra [{req.extra}])")
            extras.add(req.extra)
    if problems:
        raise MissingDependency("optional packages are missing", problems=problems,
                                hint=f"pip install 'sluice[{','.join(sorted(extras))}]'")
