#!/usr/bin/env bash
# Create .venv (once) and install sluice with the given extras (default: dev).
# torch is pinned first: 2.13.0 resolves to the local CPU wheel here, while a looser
# requirement would pull several GB of CUDA packages. GPU users install their own torch.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
venv="${SLUICE_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
fi
stamp="$venv/.sluice-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install -q "torch==2.13.0"
  "$venv/bin/python" -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
