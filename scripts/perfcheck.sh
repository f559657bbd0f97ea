#!/usr/bin/env bash
# Quick perf check: ingest vs polars read_ndjson and the embed stage vs model2vec encode, side by side
# (benchmarks/run.py --size quick). Exit 2 when a target is missed or outputs differ, 1 when a benchmark
# fails. Results go to SCRATCH (/tmp/sluice-bench); BENCHMARKS.md is not touched. Ratios on a loaded
# machine are noisy: read the table's load column and rerun when a round is flagged noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n 15 "${PYTHON:-.venv/bin/python}" benchmarks/run.py --size quick --only "${ONLY:-ingest,embed}" --no-markdown --check "$@"
