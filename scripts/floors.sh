#!/usr/bin/env bash
# Honest floors: install the LOWEST versions pyproject.toml allows for the direct dependencies
# (uv --resolution lowest-direct) into a separate venv under /tmp and run a representative part of
# the fast suite there. Usage: bash scripts/floors.sh [EXTRAS] [pytest args...]
#   EXTRAS defaults to "train,dev"; the default tests are the training unit and CLI tests.
# Not part of .ci/run: a fresh install of the floors (torch included) takes longer than CI allows.
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
export PATH="$tools/bin:$PATH" PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
rm -rf "$venv"
uv venv -q --python "$python" "$venv"
uv pip install -q --python "$venv/bin/python" --resolution lowest-direct -e ".[$extras]"
uv pip freeze --python "$venv/bin/python" > "$venv/floors-freeze.txt"
echo "floors: installed $(grep -ciE '^(trl|transformers|torch|peft|accelerate|datasets)==' "$venv/floors-freeze.txt") training packages at their floors (list: $venv/floors-freeze.txt)" >&2
export HF_HUB_OFFLINE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
if [ $# -eq 0 ]; then
  set -- tests/test_train_units.py tests/test_train_cli.py tests/test_train_rewards.py
fi
exec "$venv/bin/python" -m pytest -p no:xdist -q "$@"
