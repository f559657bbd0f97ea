#!/usr/bin/env bash
# Set up .venv with every CPU extra plus the dev tools, and run the default (fast) test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` (the long tests) or `-k ingest`.
# `bash scripts/test.sh --floors [EXTRAS] [pytest args]` instead installs the lowest declared versions into
# /tmp/sluice-floors and runs the tests they can run there (scripts/floors.sh says which and why).
#
# System packages: the Argilla review-loop tests need Debian's redis-server. This script installs
# it with apt-get (as root) when it is missing, and says so: it sets SLUICE_INSTALL_SYSTEM_PACKAGES=1
# unless you set SLUICE_INSTALL_SYSTEM_PACKAGES=0, in which case those tests are skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--floors" ]; then
  shift
  exec bash scripts/floors.sh "$@"
fi
bash scripts/setup.sh all,dev
export HF_HUB_OFFLINE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
export SLUICE_INSTALL_SYSTEM_PACKAGES="${SLUICE_INSTALL_SYSTEM_PACKAGES:-1}"
if [ "$SLUICE_INSTALL_SYSTEM_PACKAGES" = 1 ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "test: redis-server is missing; installing it with apt-get (SLUICE_INSTALL_SYSTEM_PACKAGES=0 to refuse)" >&2
fi
# argilla-server lives in its own virtualenv (.argilla-venv, its pins clash with ours); set it up once here.
bash scripts/argilla-server.sh setup || echo "test: Argilla server setup failed; the review-loop tests will say why" >&2
# The static embedding model the curation tests use is distilled once (~1.5 min) into the cache
# `sluice run` reads too (~/.cache/sluice/models or $SLUICE_MODELS), before the workers start,
# so no test pays for it and two workers never distil it at once.
.venv/bin/python -c "from sluice.curate.quality.embed import static_model; static_model()" \
  || echo "test: could not build the static embedding model; the tests that embed will say why" >&2
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest -n 2 "$@"
