"""Ingest's spawned parser workers import only what parsing needs: polars (imported by the main
process's post-parse checks) cost each of the 2 workers ~0.3 s CPU at start and ingest about a fifth
of its speed at 100k records before issue #34 (BENCHMARKS.md). The speed ratio itself is checked by
scripts/perfcheck.sh (benchmarks/run.py --size quick), not here: a timing is not stable at load 20."""

import subprocess
import sys


def test_parser_worker_imports_no_polars():
    code = ("import sys\nfrom sluice.curate.ingest.run import parse_lines  # what a worker unpickles\n"
            "print(sorted(m for m in ('polars', 'pandas', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stdout
