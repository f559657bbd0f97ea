"""The curve behind ``detector.ECHO_MIN`` and ``detector.ECHO_WHOLE_WORD`` (BENCHMARKS.md, "PII round
six: names said twice, titles, form labels (#27)"): sets the two constants in this process, then runs
``eval_pii_dev.py`` on the tune halves or ``eval_pii_overredaction.py`` unchanged. ``MIN`` 0 turns
echoes off.

    HF_HUB_OFFLINE=1 python benchmarks/pii_echo_curve.py MIN WHOLE dev      # e.g. 4 0 dev, 4 1 dev, 0 0 dev
    HF_HUB_OFFLINE=1 python benchmarks/pii_echo_curve.py MIN WHOLE alpaca
"""
import os
import runpy
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
HERE = Path(__file__).resolve().parent


def main() -> None:
    from sluice.curate.pii import detector

    least, whole, what = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
    detector.ECHO_MIN, detector.ECHO_WHOLE_WORD = least, whole
    if least == 0:
        detector.echoes = lambda text, results, lang=None: []
    print(f"## ECHO_MIN={least} ECHO_WHOLE_WORD={whole}", flush=True)
    sys.path.insert(0, str(HERE))
    if what == "dev":
        sys.argv = ["eval_pii_dev.py", "--split", "tune", "--sets", "wnut17_en", "meddocan_es", "europeana_de_lft",
                    "europeana_fr_bnf", "--max-rows", "1200"]
        runpy.run_path(str(HERE / "eval_pii_dev.py"), run_name="__main__")
    else:
        sys.argv = ["eval_pii_overredaction.py", "--limit", "300"]
        runpy.run_path(str(HERE / "eval_pii_overredaction.py"), run_name="__main__")


if __name__ == "__main__":
    main()
