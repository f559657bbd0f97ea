#!/usr/bin/env bash
# The main job, from a fresh clone: set up, ingest the bundled sample logs, run the
# quickstart recipe, and say where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh pii,quality,dedup,examples
export HF_HUB_OFFLINE=1
sluice=.venv/bin/sluice
export SLUICE_HOME="${SLUICE_HOME:-$PWD/sluice-data}"
$sluice ingest examples/data --to raw
$sluice run examples/quickstart.yaml
echo
echo "Datasets are in $SLUICE_HOME. Try:"
echo "  .venv/bin/sluice datasets list"
echo "  .venv/bin/sluice datasets show curated@latest"
echo "  cat $SLUICE_HOME/curated/v*/DATACARD.md"
