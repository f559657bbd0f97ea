"""sluice.synth — synthetic SFT data and preference pairs with distilabel.

Recipes (``responses``, ``evol_instruct``, ``self_instruct``, ``ultrafeedback``,
``critique_revise``) run over a curated dataset with LLM backends from distilabel (an
OpenAI-compatible endpoint, a local transformers model, vLLM on a GPU) and publish versioned
conversation / preference datasets with lineage to their source rows. Import-light: heavy
libraries load inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_llm_file", "synthesize"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)
