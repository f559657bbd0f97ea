#!/usr/bin/env bash
# Set up .venv with the dev extras and run the default (fast) test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` or `-k ingest`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export HF_HUB_OFFLINE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -n 2 "$@"
