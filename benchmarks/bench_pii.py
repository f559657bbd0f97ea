"""PII stage throughput vs the naive Presidio loop, side by side, interleaved, same recognizers and
the same spaCy NER model (the quickstart's default engine, ``nlp: auto``).

    HF_HUB_OFFLINE=1 python benchmarks/bench_pii.py --messages 50000 --workers 2 --rounds 2

Baseline: for every message text, stock ``AnalyzerEngine.analyze`` (same NER pipeline, recognizers
and entities) then ``AnonymizerEngine.anonymize``. The findings of both are compared text by text.
Stage: pii_detect then redact_pii over conversation batches, through ``sluice.apply.apply_stage`` in
``--workers`` processes, the way the runner runs them (one pool per run). Setup is not timed on
either side: the baseline's engine is built before its loop, and each stage is set up once per
worker before the stage's loop. Both use the same engine config and recognizers.
Also prints span-level precision/recall per entity type on the labeled set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def load(n_messages: int, root: Path):
    import generate_logs
    import pyarrow as pa

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    path = root / "logs.jsonl"
    generate_logs.write(str(path), max(50, n_messages // 3), seed=11, malformed_rate=0.0, clean=True)
    store = Store(root / "store")
    ingest([str(path)], to="raw", store=store)
    table = store.resolve("raw@latest").read()
    lengths = table.column("messages").to_pylist()
    keep, total = 0, 0
    for msgs in lengths:
        if total >= n_messages:
            break
        total += len(msgs)
        keep += 1
    return table.slice(0, keep), total, pa


def _key(results) -> list:
    return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)


def baseline(detector, texts):
    from presidio_anonymizer import AnonymizerEngine

    anonymizer = AnonymizerEngine()
    start = time.perf_counter()
    for t in texts:
        anonymizer.anonymize(t, detector.presidio(t))
    return time.perf_counter() - start


def _warm(stage, key: str, table) -> None:
    from sluice.apply import apply_stage

    apply_stage(stage, key, table, 0)
    time.sleep(0.5)  # stay busy, so that every worker takes one warm-up job


def stage_run(table, workers: int, batch: int) -> tuple[float, float]:
    """(seconds, setup seconds): pii_detect then redact_pii over batches, as the runner runs them —
    one pool per run, each stage set up once per worker before the timed part."""
    from sluice.apply import apply_stage
    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.parallel import ordered_map, process_pool

    detect, redact = PiiDetect(), RedactPii()
    tag = time.time_ns()
    dkey, rkey = f"bench-detect-{tag}", f"bench-redact-{tag}"
    warm = table.slice(table.num_rows - 1, 1)
    start = time.perf_counter()
    pool = process_pool(workers) if workers > 1 else None
    try:
        warm_out = apply_stage(detect, dkey, warm, 0)[0]  # sets up in process (and gives redact's input)
        if pool is not None:
            for future in [pool.submit(_warm, detect, dkey, warm) for _ in range(workers)]:
                future.result()
            for future in [pool.submit(_warm, redact, rkey, warm_out) for _ in range(workers)]:
                future.result()
        else:
            apply_stage(redact, rkey, warm_out, 0)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        jobs = ((detect, dkey, table.slice(i, batch), i) for i in range(0, table.num_rows, batch))
        detected = [r[0] for r in ordered_map(apply_stage, jobs, workers, pool=pool)]
        jobs = ((redact, rkey, t, 0) for t in detected)
        done = sum(r[0].num_rows + (r[2].num_rows if r[2] is not None else 0)
                   for r in ordered_map(apply_stage, jobs, workers, pool=pool))
        assert done == table.num_rows
        return time.perf_counter() - start, setup
    finally:
        if pool is not None:
            pool.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--baseline-sample", type=int, default=5000,
                    help="messages the baseline runs per round (its rate is extrapolated; it is linear)")
    args = ap.parse_args()

    from sluice.curate.pii import fields, labeled
    from sluice.curate.pii.detector import Detector
    from sluice.curate.pii.engine import EngineConfig

    with tempfile.TemporaryDirectory() as tmp:
        table, n_msgs, _ = load(args.messages, Path(tmp))
        import polars as pl

        texts = [t for row in pl.from_arrow(table).iter_rows(named=True) for _, _, t in fields.texts(row)]
        detector = Detector(EngineConfig())
        sample = texts[: args.baseline_sample]
        print(f"{table.num_rows:,} conversations, {n_msgs:,} messages, {len(texts):,} texts; "
              f"{len(set(texts)):,} distinct texts")
        rows = []
        for r in range(args.rounds):
            b = baseline(detector, sample)
            s, setup = stage_run(table, args.workers, args.batch)
            s1, setup1 = stage_run(table, 1, args.batch)
            n = len(texts)  # the unit of work on both sides: one text (a message has several fields)
            rows.append((len(sample) / b, n / s1, n / s, (n / s) / (len(sample) / b)))
            print(f"round {r + 1}: baseline {rows[-1][0]:,.0f} texts/s | stage 1 proc {rows[-1][1]:,.0f} texts/s | "
                  f"stage {args.workers} procs {rows[-1][2]:,.0f} texts/s | ratio {rows[-1][3]:.2f}x | "
                  f"untimed setup {setup1:.1f} s in process, {setup:.1f} s with {args.workers} workers")
        fast = detector.analyze_many(sample)
        same = sum(_key(a) == _key(detector.presidio(t)) for a, t in zip(fast, sample))
        print(f"identical findings (fast path vs stock AnalyzerEngine): {same:,} of {len(sample):,} texts")
        mid = sorted(rows, key=lambda x: x[3])[len(rows) // 2]  # the median round by ratio
        print(f"\nmedian round of {len(rows)}:\n| what | texts/s |\n|---|---:|")
        print(f"| naive Presidio loop (analyze + anonymize per text) | {mid[0]:,.0f} |")
        print(f"| redact stages, 1 process | {mid[1]:,.0f} ({mid[1] / mid[0]:.1f}x) |")
        print(f"| redact stages, {args.workers} processes | {mid[2]:,.0f} ({mid[3]:.1f}x) |")
        per_conv = len(texts) / table.num_rows
        print(f"\nat 100k conversations ({per_conv:.2f} texts each, measured on {table.num_rows:,}): "
              f"{100_000 * per_conv / mid[2] / 60:,.1f} min with {args.workers} processes, "
              f"{100_000 * per_conv / mid[1] / 60:,.1f} min with 1; the naive loop {100_000 * per_conv / mid[0] / 60:,.1f} min")

        examples = labeled.make(800, seed=1)
        found = [[(x.start, x.end, x.entity_type) for x in rs] for rs in detector.analyze_many([e.text for e in examples])]
        print("\n| entity | precision | recall | planted |\n|---|---:|---:|---:|")
        for name, d in sorted(labeled.evaluate(examples, found).items()):
            fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"| {name} | {fmt(d['precision'])} | {fmt(d['recall'])} | {d['tp'] + d['fn']} |")


if __name__ == "__main__":
    main()
