"""Issue #35 measurements: the expansion guard's curve, the duplicate-key check's cost, bomb memory.

    python benchmarks/bench_hardening.py expansion            # ratios of real data under gzip/zstd/xz
    python benchmarks/bench_hardening.py dupkeys --logs F     # parse CPU with and without the check
    python benchmarks/bench_hardening.py bombs                # peak RSS of ingest on both bombs

``dupkeys`` reads JSON lines such as ``examples/generate_logs.py --clean --n 20000 --out F``.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import sys
import tempfile
import time
from pathlib import Path
from paths import SHARED

REPO = Path(__file__).resolve().parents[1]


def expansion(root: Path) -> None:
    import zstandard

    rows = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".jsonl", ".json", ".csv") and p.stat().st_size > 20000:
            b = p.read_bytes()
            g = len(b) / len(gzip.compress(b, 9))
            z = len(b) / len(zstandard.ZstdCompressor(level=19).compress(b))
            x = len(b) / len(lzma.compress(b, preset=9))
            rows.append((max(g, z, x), g, z, x, p.relative_to(root), len(b)))
    print("| file | bytes | gzip -9 | zstd -19 | xz -9 |\n|---|---:|---:|---:|---:|")
    for _, g, z, x, rel, n in sorted(rows):
        print(f"| {rel} | {n:,} | {g:.1f} | {z:.1f} | {x:.1f} |")


def dupkeys(logs: Path) -> None:
    sys.path.insert(0, str(REPO))
    from curate.ingest import run

    chunk = logs.read_bytes()
    job = run.Job("f", "s", "openai", 2 << 20)
    real = run.structure_problem

    def best() -> float:
        out = 9e9
        for _ in range(5):
            t = time.process_time()
            run.parse_lines(job, 0, chunk)
            out = min(out, time.process_time() - t)
        return out

    with_, without = [], []
    for _ in range(2):  # interleaved
        run.structure_problem = lambda raw, rec: None
        without.append(best())
        run.structure_problem = real
        with_.append(best())
    lines = chunk.count(b"\n")
    print(f"parse_lines CPU, {lines:,} lines: without the check {min(without):.3f}s, "
          f"with {min(with_):.3f}s, ratio {min(with_) / min(without):.3f}")


def bombs() -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from test_ingest_bombs import blank_line_bomb, long_line_bomb, run_child

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, bomb, kwargs in (
            ("2 MB .gz, one 2 GiB line (guard on)", long_line_bomb(tmp / "a.jsonl.gz"), {}),
            ("same, guard off (--max-expansion 1e9)", tmp / "a.jsonl.gz", {"max_expansion": 1e9, "fmt": "openai"}),
            ("20 KB .gz, 20 million blank lines", blank_line_bomb(tmp / "b.jsonl.gz"), {}),
        ):
            out = run_child(bomb, tmp / f"store-{hash(name)}", **kwargs)
            what = out.get("error") or f"published, {out['rows_in']} rows in, {out['kept']} kept"
            print(f"{name}: {bomb.stat().st_size:,} bytes, peak RSS {out['peak_mb']:.0f} MB; {what[:120]}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["expansion", "dupkeys", "bombs"])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--logs", type=Path)
    a = ap.parse_args()
    {"expansion": lambda: expansion(a.data), "dupkeys": lambda: dupkeys(a.logs), "bombs": bombs}[a.what]()
