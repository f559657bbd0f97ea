#!/usr/bin/env bash
# Honest floors: install the LOWEST versions pyproject.toml allows for the direct dependencies
# (uv --resolution lowest-direct; transitive ones resolve as usual) into a separate venv under /tmp and
# run the part of the fast suite those extras can run. Usage:
#   bash scripts/floors.sh [EXTRAS] [pytest args...]     (or: bash scripts/test.sh --floors ...)
# EXTRAS defaults to "train,dev". The default tests are every fast test that needs no extra beyond
# train,dev and no server: training (template check, rewards, scoring, gate, CLI, the fast real-SFT
# tests), schemas, store, split, ingest, export, trace check and log generation. The PII, dedup,
# quality, synth, labeling and Ray tests need extras whose floors this job does not install.
# torch: PyPI has no CPU-only torch for x86_64 Linux, so the floor (torch 2.6.0) comes as PyPI's CUDA
# build with its nvidia-* libraries and triton (5.6 GB installed, downloaded once into uv's cache); it runs on
# the CPU. Not part of .ci/run: every fresh CI machine would download those gigabytes again
# (BENCHMARKS.md, issue 29, has the measured time).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-train,dev}
shift || true
venv=${FLOORS_VENV:-/tmp/sluice-floors}
tools=${FLOORS_TOOLS:-/tmp/sluice-floors-uv}
python=${PYTHON:-python3}
if [ ! -x "$tools/bin/uv" ]; then
  "$python" -m pip install -q --target "$tools" uv
fi
uv() { PYTHONPATH="$tools" "$tools/bin/uv" "$@"; }
started=$SECONDS
rm -rf "$venv"
uv venv -q --python "$python" "$venv"
uv pip install -q --python "$venv/bin/python" --resolution lowest-direct -e ".[$extras]"
uv pip freeze --python "$venv/bin/python" > "$venv/floors-freeze.txt"
echo "floors: installed in $((SECONDS - started)) s; direct dependencies at their floors:" \
  "$(grep -iE '^(trl|transformers|torch|peft|accelerate|datasets|typer|polars|rich|pydantic|pyarrow|jsonschema)==' \
     "$venv/floors-freeze.txt" | tr '\n' ' ')(full list: $venv/floors-freeze.txt)" >&2
export HF_HUB_OFFLINE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
if [ $# -eq 0 ]; then
  set -- tests/test_train_units.py tests/test_train_cli.py tests/test_train_rewards.py tests/test_train_scoring.py \
    tests/test_train_gate.py tests/test_train_recipes.py tests/test_schemas.py tests/test_store.py tests/test_split.py \
    tests/test_ingest_checks.py tests/test_ingest_silence.py tests/test_ingest_formats.py tests/test_ingest_malformed.py \
    tests/test_ingest_damaged.py tests/test_ingest_bombs.py tests/test_errors.py tests/test_export_outputs.py \
    tests/test_trace_check.py tests/test_generate_logs.py
fi
exec "$venv/bin/python" -m pytest -p no:xdist -q "$@"
