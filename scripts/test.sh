#!/usr/bin/env bash
# Set up .venv with every CPU extra plus the dev tools, and run the default test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` or `-k ingest`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all,dev
export HF_HUB_OFFLINE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
# The Argilla review-loop tests talk to a real argilla-server: it lives in its own virtualenv
# (.argilla-venv, its pins clash with ours) with Debian's redis-server; set it up once here.
bash scripts/argilla-server.sh setup || echo "test: Argilla server setup failed; the review-loop tests will say why" >&2
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -n 2 "$@"
