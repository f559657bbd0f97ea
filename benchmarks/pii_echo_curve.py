"""The curve behind ``detector.ECHO_MIN`` and ``detector.ECHO_WHOLE_WORD`` (BENCHMARKS.md, "PII round
six: names said twice, titles, form labels (#27)"): sets the two constants in this process, then runs
``eval_pii_dev.py`` on the tune halves or ``eval_pii_overredaction.py`` unchanged. ``MIN`` 0 turns
echoes off. A fourth argument sets ``detector.COORD_LEVEL`` (0: the list-of-names rule off).

    HF_HUB_OFFLINE=1 python benchmarks/pii_echo_curve.py MIN WHOLE dev      # e.g. 4 0 dev, 4 1 dev, 0 0 dev
    HF_HUB_OFFLINE=1 python benchmarks/pii_echo_curve.py MIN WHOLE alpaca
    HF_HUB_OFFLINE=1 python benchmarks/pii_echo_curve.py 4 0 dev 0     # a fourth argument: detector.COORD_LEVEL
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
    if len(sys.argv) > 4:  # the list-of-names rule's level (detector.COORD_LEVEL), default the module's
        detector.COORD_LEVEL = int(sys.argv[4])
    if least == 0:
        detector.echoes = lambda text, results, lang=None: []
    print(f"## ECHO_MIN={least} ECHO_WHOLE_WORD={whole} COORD_LEVEL={detector.COORD_LEVEL}", flush=True)
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
