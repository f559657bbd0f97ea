"""What the floors above lend the core, declared by name: the core never imports a floor.

A floor package (``sluice.curate``, ``sluice.synth``, ``sluice.labeling``, ``sluice.train``) may
declare, in its light ``__init__``, ``PLUGINS = {kind: {name: "package.module:attribute"}}``. The
core asks for a kind (``declared``) and imports an entry only when it uses it (``load``) — the same
way a recipe's stage names resolve (``sluice.stage.STAGES``). So the import graph points down only
(tests/test_architecture.py), and a floor that is not installed simply lends nothing.

Kinds the core asks for:

* ``ingest_flags`` — a dict flag → meaning (the data card's "Ingest warnings" table);
* ``report_curves`` — ``fn(version) -> dict | None`` per figure (the run report's curves);
* ``doctor_checks`` — ``fn() -> list[sluice.doctor.Check]`` (``sluice doctor``).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

FLOORS = ("sluice.curate", "sluice.synth", "sluice.labeling", "sluice.train")


def declared(kind: str) -> dict[str, str]:
    """Every floor's entries of ``kind``, name → target, in floor order."""
    found: dict[str, str] = {}
    for floor in FLOORS:
        if importlib.util.find_spec(floor) is None:
            continue
        for name, target in (getattr(importlib.import_module(floor), "PLUGINS", {}) or {}).get(kind, {}).items():
            if name in found:
                raise ValueError(f"plugin {kind}:{name} is declared twice ({found[name]} and {target})")
            found[name] = target
    return found


def load(target: str) -> Any:
    """``package.module:attribute`` → the object (ImportError when its floor's extra is missing)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def loaded(kind: str) -> dict[str, Any]:
    """``declared(kind)`` with every entry loaded."""
    return {name: load(target) for name, target in declared(kind).items()}
