"""sluice.synth — synthetic SFT data and preference pairs with distilabel.

Recipes (``responses``, ``evol_instruct``, ``self_instruct``, ``ultrafeedback``,
``critique_revise``) run over a curated dataset and publish versioned conversation / preference
datasets with lineage to their source rows. distilabel's tasks (TextGeneration, EvolInstruct,
SelfInstruct, UltraFeedback, PrometheusEval) format the prompts and parse the replies; sluice
drives them — batched or concurrent generation through distilabel's LLM clients, per-row resume,
exact accounting, the privacy and egress guards. Why sluice drives the tasks rather than running
a distilabel Pipeline: the design note in ``synth/README.md``. Import-light: heavy libraries load
inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_llm_file", "synthesize"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)
