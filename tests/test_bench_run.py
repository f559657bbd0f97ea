"""benchmarks/run.py: the generated BENCHMARKS.md table, the noisy flag, and a failing or flagless script
reported without stopping the others. Fixture JSON and tiny stand-in scripts; no real benchmark runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def run():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = mod  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("bench_run", None)
    sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def results():
    sys.path.insert(0, str(BENCH))
    import results as mod

    yield mod
    sys.path.remove(str(BENCH))


MD = """# Benchmarks

prose above

<!-- run.py:begin -->
| benchmark | what | old |
| pii | PII stages, 2,000 texts | kept from an earlier run |
| ingest | stale ingest row | replaced |
<!-- run.py:end -->

prose below
"""


def _doc(results, tmp_path, name, rounds, target=1.0, identical=True):
    comp = results.comparison(f"{name} thing", "sluice x", "base y", rounds, target=target, identical=identical)
    return results.read(results.write(tmp_path / f"{name}.json", name, "quick", {"n": 1}, [comp]))


def test_table_rows_noisy_flag_and_target(run, results, tmp_path):
    steady = [{"sluice_s": 1.0, "baseline_s": 1.2, "load1": 9.5}, {"sluice_s": 1.0, "baseline_s": 1.1, "load1": 10.1},
              {"sluice_s": 1.0, "baseline_s": 1.3, "load1": 11.0}]
    noisy = [{"sluice_s": 1.0, "baseline_s": 0.5, "load1": 3.0}, {"sluice_s": 1.0, "baseline_s": 1.5, "load1": 19.0}]
    steady_row = run.rows_for(_doc(results, tmp_path, "ingest", steady), "python benchmarks/run.py --size quick")[0]
    noisy_row = run.rows_for(_doc(results, tmp_path, "embed", noisy), "cmd")[0]
    cells = [c.strip() for c in steady_row.strip("|").split("|")]
    assert cells[0] == "ingest" and cells[2] == "sluice x vs base y"
    assert cells[3] == "1.20×" and cells[4] == "1.10–1.30" and cells[5] == "no"
    assert cells[6] == "≥ 1×" and cells[7] == "yes" and cells[8] == "yes"
    assert cells[9] == "9.5, 10.1, 11" and cells[11] == "`python benchmarks/run.py --size quick`"
    ncells = [c.strip() for c in noisy_row.strip("|").split("|")]
    assert ncells[5] == "**noisy**" and "(noisy)" in ncells[3] and ncells[4] == "0.50–1.50"
    assert ncells[7] == "yes (noisy)"  # the median meets the target, but the rounds disagree: said beside it
    # a ratio that meets its target with different outputs does not count as met
    wrong = run.rows_for(_doc(results, tmp_path, "minhash", steady, identical=False), "cmd")[0]
    assert [c.strip() for c in wrong.strip("|").split("|")][7:9] == ["**no**", "**no**"]


def test_regenerate_replaces_only_what_ran(run, results, tmp_path):
    rounds = [{"sluice_s": 2.0, "baseline_s": 3.0, "load1": 4.0}]
    new = {"ingest": run.rows_for(_doc(results, tmp_path, "ingest", rounds), "c"),
           "embed": [run.status_row("embed", "failed: exit 1: boom", "c", "today")]}
    out = run.regenerate(MD, new, [b.name for b in run.REGISTRY])
    assert out.startswith("# Benchmarks\n\nprose above\n\n<!-- run.py:begin -->") and out.endswith("prose below\n")
    section = out.split(run.BEGIN)[1].split(run.END)[0]
    names = [run._row_name(r) for r in section.splitlines() if r.startswith("| ") and r != run.HEADER]
    assert names == ["ingest", "embed", "pii"]  # registry order; pii's old row kept, the stale ingest row gone
    assert "stale ingest row" not in section and "kept from an earlier run" in section
    assert "1.50×" in section and "**failed: exit 1: boom**" in section
    assert run.regenerate(out, new, [b.name for b in run.REGISTRY]) == out  # idempotent
    with pytest.raises(SystemExit, match="no generated section"):
        run.regenerate("# no markers\n", new, [])


def test_main_reports_missing_and_failed_scripts_and_keeps_going(run, results, tmp_path, monkeypatch):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "good.py").write_text(
        "import argparse, sys\n"
        f"sys.path.insert(0, {str(BENCH)!r})\n"
        "from results import comparison, round_, write\n"
        "ap = argparse.ArgumentParser(); ap.add_argument('--size'); ap.add_argument('--json')\n"
        "a = ap.parse_args()\n"
        "write(a.json, 'good', a.size, {}, [comparison('w', 's', 'b', [round_(1.0, 2.0), round_(1.0, 2.2)],"
        " target=1.0, identical=True)])\n"
        "open('stray.txt', 'w').write('x')\n")  # a relative write lands in --out, not the repository
    (scripts / "flagless.py").write_text("import argparse; argparse.ArgumentParser().parse_args()\n")
    (scripts / "broken.py").write_text("import argparse\nap = argparse.ArgumentParser(); ap.add_argument('--size')\n"
                                       "ap.add_argument('--json'); ap.parse_args()\nraise RuntimeError('no data')\n")
    monkeypatch.setattr(run, "__file__", str(scripts / "run.py"))
    monkeypatch.setattr(run, "REGISTRY", [run.Bench("good", "good.py", ""), run.Bench("flagless", "flagless.py", ""),
                                          run.Bench("broken", "broken.py", ""), run.Bench("gone", "gone.py", "")])
    md = tmp_path / "B.md"
    md.write_text(MD)
    out = tmp_path / "out"
    assert run.main(["--size", "quick", "--out", str(out), "--markdown", str(md)]) == 1
    section = md.read_text().split(run.BEGIN)[1].split(run.END)[0]
    rows = {run._row_name(r): r for r in section.splitlines() if r.startswith("| ") and r != run.HEADER}
    assert "2.10×" in rows["good"] and "yes" in rows["good"]
    assert "missing: flagless.py does not accept --size/--json" in rows["flagless"]
    assert "failed: exit 1: RuntimeError: no data" in rows["broken"]
    assert "missing: benchmarks/gone.py does not exist" in rows["gone"]
    assert "kept from an earlier run" in rows["pii"]
    assert (out / "stray.txt").exists() and (out / "run.json").exists()
    # --from re-tabulates without running anything
    md.write_text(MD)
    assert run.main(["--from", str(out), "--only", "good", "--markdown", str(md)]) == 0
    assert "2.10×" in md.read_text()


def test_check_exits_2_on_a_missed_target(run, results, tmp_path):
    slow = [{"sluice_s": 2.0, "baseline_s": 1.0, "load1": 5.0}, {"sluice_s": 2.0, "baseline_s": 1.1, "load1": 5.0}]
    _doc(results, tmp_path, "ingest", slow)  # 0.5x against a 1.0x target
    md = tmp_path / "B.md"
    md.write_text(MD)
    args = ["--from", str(tmp_path), "--only", "ingest", "--markdown", str(md)]
    assert run.main(args) == 0  # a table, not a gate
    assert run.main(args + ["--check", "--no-markdown"]) == 2
