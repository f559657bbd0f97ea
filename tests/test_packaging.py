"""Packaging: every subpackage folder is mapped in pyproject.toml, and both installs work.

The repository root holds the product's folders (``curate/`` → ``sluice.curate`` …) via
``[tool.setuptools] package-dir``; a subpackage missing from ``packages`` still imports in an
editable install but is silently left out of the wheel. These tests catch that.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
ROOT_FOLDERS = ("sluice", "schemas", "curate", "synth", "labeling", "train")
IGNORED = ("__pycache__", ".pyc", ".pyo", ".md")


def setuptools_config() -> tuple[dict[str, str], list[str]]:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return cfg.get("package-dir", {}), list(cfg["packages"])


def package_name(folder: Path, package_dir: dict[str, str]) -> str | None:
    """The import name setuptools gives a folder: the longest package-dir mapping that contains it."""
    rel = folder.relative_to(REPO).as_posix()
    best = None
    for name, path in package_dir.items():
        path = path.rstrip("/")
        if rel == path or rel.startswith(path + "/"):
            if best is None or len(path) > len(best[1]):
                best = (name, path)
    if best is None:
        return None
    rest = rel[len(best[1]):].strip("/")
    return best[0] + ("." + rest.replace("/", ".") if rest else "")


def package_folders() -> list[Path]:
    package_dir, _ = setuptools_config()
    tops = sorted(set(ROOT_FOLDERS) | {path.split("/")[0] for path in package_dir.values()})
    found = []
    for top in tops:
        for init in sorted((REPO / top).rglob("__init__.py")):
            if "__pycache__" not in init.parts:
                found.append(init.parent)
    return found


def folder_of(name: str, package_dir: dict[str, str]) -> Path:
    if name in package_dir:
        return REPO / package_dir[name]
    parent, _, leaf = name.rpartition(".")
    return folder_of(parent, package_dir) / leaf


# -- (a) the mapping and the editable install ---------------------------------------------------

def test_every_package_folder_is_listed():
    package_dir, packages = setuptools_config()
    missing = {}
    for folder in package_folders():
        name = package_name(folder, package_dir)
        if name not in packages:
            missing[str(folder.relative_to(REPO))] = name
    assert not missing, (f"folders with __init__.py missing from pyproject [tool.setuptools] packages "
                         f"(folder → package): {missing}")


def test_every_listed_package_exists_and_imports():
    package_dir, packages = setuptools_config()
    assert {"sluice", "sluice.cli", "sluice.schemas", "sluice.curate", "sluice.curate.ingest",
            "sluice.curate.stages", "sluice.synth", "sluice.labeling", "sluice.train"} <= set(packages)
    for name in packages:
        folder = folder_of(name, package_dir)
        assert (folder / "__init__.py").is_file(), f"{name} → {folder} has no __init__.py"
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == folder.resolve(), name
    for name, path in package_dir.items():
        assert (REPO / path / "__init__.py").is_file(), f"package-dir {name} → {path} is not a package"


def test_stage_registry_modules_import():
    from sluice.stage import STAGES, stage_class

    for name in STAGES:
        assert stage_class(name).name == name


# -- (b) a built wheel, installed on its own ----------------------------------------------------

def _source_copy(dest: Path) -> Path:
    """The files a build needs, copied out of the repository (so the build leaves no trace in it)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dest / name)
    for top in ROOT_FOLDERS:
        shutil.copytree(REPO / top, dest / top, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    try:
        import build  # noqa: F401

        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)]
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=src)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("sluice-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("sluice/__init__.py", "sluice/cli/__init__.py", "sluice/curate/stages/length.py",
                     "sluice/curate/ingest/run.py", "sluice/schemas/conversation.py", "sluice/py.typed"):
        assert required in names, required
    package_dir, _ = setuptools_config()
    missing = []
    for folder in package_folders():  # every module and data file of every package folder
        name = package_name(folder, package_dir)
        for f in folder.iterdir():
            if f.is_file() and not f.name.endswith(IGNORED):
                inside = name.replace(".", "/") + "/" + f.name
                if inside not in names:
                    missing.append(inside)
    assert not missing, f"left out of the wheel: {missing}"
    # nothing generic lands at the top of site-packages
    tops = {n.split("/")[0] for n in names}
    assert tops == {"sluice", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}, tops
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sluice = sluice.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


CHECK = """
import importlib, json, sys
# Drop the editable install's finder, so nothing can fall back to the source tree.
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
target = sys.argv[1]
names = json.loads(sys.argv[2])
files = {}
for name in names:
    files[name] = importlib.import_module(name).__file__
from sluice.stage import STAGES, stage_class
for stage in STAGES:
    files[stage] = sys.modules[stage_class(stage).__module__].__file__
print(json.dumps(files))
"""


def test_wheel_installs_and_imports_on_its_own(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                           "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    _, packages = setuptools_config()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SLUICE_HOME")}
    env["PYTHONPATH"] = str(target)
    workdir = tmp_path / "elsewhere"  # outside the repository, so the source tree is not importable
    workdir.mkdir()
    proc = subprocess.run([sys.executable, "-c", CHECK, str(target), json.dumps(packages)], capture_output=True,
                          text=True, timeout=120, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)
    for name, file in files.items():
        assert Path(file).resolve().is_relative_to(target.resolve()), f"{name} imported from {file}"

    # the CLI from the installed wheel works end to end on a tiny input
    logs = workdir / "logs.jsonl"
    logs.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                                       {"role": "assistant", "content": f"answer {i}"}]})
                              for i in range(5)) + "\n")
    run = [sys.executable, "-c", "import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in "
           "repr(f).lower()]; from sluice.cli import main; sys.argv[0] = 'sluice'; main()"]
    env["SLUICE_HOME"] = str(workdir / "store")
    proc = subprocess.run(run + ["ingest", str(logs), "--to", "raw", "--json"], capture_output=True, text=True,
                          timeout=120, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kept"] == 5
    proc = subprocess.run(run + ["stages", "--json"], capture_output=True, text=True, timeout=120, cwd=workdir,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert {"normalize", "length", "length_filter"} <= {s["name"] for s in json.loads(proc.stdout)}


def test_every_stage_requirement_is_installed_by_the_extra_it_names():
    """`pip install 'sluice[X]'` — the hint a missing package gives — must really bring it."""
    import importlib.metadata as md
    import re
    import tomllib

    from sluice.stage import STAGES, stage_class

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def dists(extra: str) -> set[str]:
        out = set()
        for req in extras[extra]:
            m = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]+)\])?", req)
            name = m.group(1).lower().replace("_", "-")
            if name == "sluice":
                out |= {d for e in m.group(2).split(",") for d in dists(e.strip())}
            else:
                out.add(name)
        return out

    modules = md.packages_distributions()
    missing = []
    for name in STAGES:
        for req in stage_class(name).requires:
            provided = {d.lower().replace("_", "-") for d in modules.get(req.module.split(".")[0], [])}
            if not provided & dists(req.extra):
                missing.append(f"{name}: {req.module} is not in extra [{req.extra}]")
    assert not missing, missing
