"""The house's import contracts, checked on the import graph (grimp), imports inside functions included.

1. The ground floor (``sluice`` less its floors and the CLI) imports nothing from the floors above
   it (``sluice.curate``, ``sluice.synth``, ``sluice.labeling``, ``sluice.train``): the core knows
   them only by the names they declare (``sluice/plugins.py``, ``sluice.stage.STAGES``).
2. The CLI (``sluice.cli``) is the roof: it may import every floor, and nothing but itself imports it.
3. No import cycles anywhere in the package.

Imports under ``if TYPE_CHECKING:`` are left out: they are annotations and never run.

The repository maps folders onto subpackages (``curate/`` → ``sluice.curate``, pyproject.toml
``package-dir``), which grimp cannot follow, so the test lays the installed layout out under a
temporary folder (as the wheel would) and builds the graph there in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("grimp")

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
STAGE_FLOORS = ("sluice.curate", "sluice.synth", "sluice.labeling", "sluice.train")

# Runs in a fresh interpreter whose path starts at the laid-out copy; prints the graph's facts as JSON.
_SCAN = r"""
import json, sys
import grimp
floors = tuple(sys.argv[1].split(","))
def under(name, packages):
    return any(name == p or name.startswith(p + ".") for p in packages)
def in_floor(name):
    return under(name, floors)
g = grimp.build_graph("sluice", include_external_packages=False, exclude_type_checking_imports=True,
                      cache_dir=None)
upward, into_roof = [], []
for importer in sorted(g.modules):
    if not under(importer, ("sluice.cli",)):
        for imported in sorted(g.find_modules_directly_imported_by(importer)):
            if under(imported, ("sluice.cli",)):
                into_roof.append(f"{importer} -> {imported}")
    if in_floor(importer) or under(importer, ("sluice.cli",)):
        continue
    for imported in sorted(g.find_modules_directly_imported_by(importer)):
        if in_floor(imported):
            for d in g.get_import_details(importer=importer, imported=imported):
                upward.append(f"{importer}:{d['line_number']} {d['line_contents']}")
cycles = set()
for importer in sorted(g.modules):
    for imported in sorted(g.find_modules_directly_imported_by(importer)):
        chain = g.find_shortest_chain(importer=imported, imported=importer)
        if chain:
            cycle = [importer, *chain]
            start = cycle.index(min(cycle[:-1]))
            cycles.add(" -> ".join(cycle[start:-1] + cycle[:start + 1]))
print(json.dumps({"modules": len(g.modules), "upward": upward, "into_roof": into_roof, "cycles": sorted(cycles)}))
"""


def _installed_layout(dest: Path) -> Path:
    """Copy every package's modules to where the wheel puts them (pyproject.toml package-dir)."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = cfg.get("package-dir", {})
    for package in cfg["packages"]:
        # the folder setuptools reads: the longest mapped parent, plus the rest of the dotted name
        parts = package.split(".")
        for cut in range(len(parts), 0, -1):
            mapped = package_dir.get(".".join(parts[:cut]))
            if mapped is not None:
                source = REPO / mapped / Path(*parts[cut:])
                break
        else:
            source = REPO / Path(*parts)
        target = dest / Path(*parts)
        target.mkdir(parents=True, exist_ok=True)
        for module in source.glob("*.py"):
            shutil.copy2(module, target / module.name)
    return dest


@pytest.fixture(scope="module")
def graph_facts(tmp_path_factory) -> dict:
    root = _installed_layout(tmp_path_factory.mktemp("layout"))
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", _SCAN, ",".join(STAGE_FLOORS)],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_graph_covers_every_floor(graph_facts):
    # the laid-out copy is the whole package (the core and every floor), not just sluice/
    n_files = sum(1 for top in ("sluice", "schemas", "curate", "synth", "labeling", "train")
                  for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts)
    assert graph_facts["modules"] >= n_files


def test_core_imports_nothing_from_the_floors_above(graph_facts):
    assert graph_facts["upward"] == [], (
        "the core (sluice/) imports from a stage floor; move the code down or let the stage register it "
        "(sluice/registry.py):\n" + "\n".join(graph_facts["upward"]))


def test_only_the_cli_imports_the_cli(graph_facts):
    assert graph_facts["into_roof"] == [], "\n".join(graph_facts["into_roof"])


def test_no_import_cycles(graph_facts):
    assert graph_facts["cycles"] == [], "import cycles:\n" + "\n".join(graph_facts["cycles"])


@pytest.mark.parametrize("kind", ["ingest_flags", "report_curves", "doctor_checks"])
def test_every_plugin_a_floor_declares_loads(kind):
    # the core reaches the floors only through these names: a renamed target must fail here, not in a card
    from sluice import plugins

    targets = plugins.declared(kind)
    assert targets, f"no floor declares {kind}"
    for name, target in targets.items():
        obj = plugins.load(target)
        assert (isinstance(obj, dict) if kind == "ingest_flags" else callable(obj)), (name, target)


def test_the_cards_flag_meanings_are_the_ingest_checks():
    from sluice.curate.ingest.checks import FLAGS
    from sluice.datacard import _ingest_warnings

    lines = _ingest_warnings({"ingest": {"warnings": {flag: 1 for flag in FLAGS}}})
    for flag, meaning in FLAGS.items():
        assert f"| {flag} | {meaning} | 1 |" in lines


# -- ARCHITECTURE.md: what it names exists, and what the code cites is in it ------------------------


DOC = REPO / "ARCHITECTURE.md"
_PATH = re.compile(r"(?<![\w<])((?:sluice|schemas|curate|synth|labeling|train|tests|scripts|examples|benchmarks)"
                   r"/[\w./-]*)")


def _named_paths() -> set[str]:
    return {m.rstrip(".") for m in _PATH.findall(DOC.read_text()) if "<" not in m}


def test_every_path_architecture_md_names_exists():
    named = _named_paths()
    assert len(named) > 40  # the picture and the tables name the modules, not just the floors
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert missing == [], f"ARCHITECTURE.md names paths that are not in the tree: {missing}"


def test_architecture_md_names_every_package():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {path.rstrip("/") + "/" for path in cfg["package-dir"].values()} | {"sluice/cli/", "sluice/executors/"}
    named = _named_paths()
    unnamed = sorted(f for f in folders if not any(p == f or p.startswith(f) for p in named))
    assert unnamed == [], f"ARCHITECTURE.md says nothing of {unnamed}"


def test_every_citation_of_architecture_md_names_one_of_its_sections():
    headings = set(re.findall(r"(?m)^#{2,3} (.+?)\s*$", DOC.read_text()))
    cited, stale = [], []
    for top in ("sluice", "schemas", "curate", "synth", "labeling", "train", "scripts"):
        for path in (REPO / top).rglob("*"):
            if path.suffix not in (".py", ".sh") or "__pycache__" in path.parts:
                continue
            text = path.read_text()
            stale += [str(path.relative_to(REPO))] if "DESIGN.md" in text else []
            for section in re.findall(r'ARCHITECTURE\.md,\s*(?:#\s*)?"([^"]+)"', text):
                cited.append((str(path.relative_to(REPO)), section))
    assert stale == [], f"these cite DESIGN.md, which is not in the repository: {stale}"
    assert len(cited) >= 8
    assert [c for c in cited if c[1] not in headings] == []


def test_only_the_certificate_reads_redaction_records():
    # a redaction record is a stage's info.class/version in a manifest, trusted per sluice/privacy.py's
    # REDACTORS / DETECTORS tables; every other module asks privacy (certificate, in_manifest, redacted_from)
    readers = []
    for top in ("sluice", "schemas", "curate", "synth", "labeling", "train"):
        for path in (REPO / top).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            text = path.read_text()
            if rel != "sluice/privacy.py" and re.search(r'REDACTORS|_trusted\(|get\("class"\)|\["class"\]', text):
                readers.append(rel)
    assert readers == []
