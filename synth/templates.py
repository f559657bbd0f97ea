"""Prompt templates, versioned by content hash (recorded in every output manifest).

The UltraFeedback rubric, the Self-Instruct prompt and the Evol-Instruct mutations are
distilabel's own, read from the installed package; critique and revision are sluice's.
A template's version is ``sha256(text)[:12]``: a changed template changes the run fingerprint,
so cached generations made with the old text are never reused.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

CRITIQUE = """Here is a request and an assistant's answer to it.

Principles the answer must follow:
{principles}

Request:
{prompt}

Answer:
{answer}

Critique the answer against the principles: name each specific way it falls short, briefly.
If it follows them all, say what could still be clearer."""

REVISE = """Here is a request, an assistant's answer, and a critique of that answer.

Principles the answer must follow:
{principles}

Request:
{prompt}

Answer:
{answer}

Critique:
{critique}

Rewrite the answer so it follows the principles and fixes what the critique names.
Reply with the revised answer only."""

ULTRAFEEDBACK_SYSTEM = (
    "Your role is to evaluate text quality based on given criteria.\n"
    'You\'ll receive an instructional description ("Instruction") and {no_texts} text outputs ("Text").\n'
    "Understand and interpret instructions to evaluate effectively.\n"
    "Provide annotations for each text with a rating and rationale.\n"
    "The {no_texts} texts given are independent, and should be evaluated separately.\n"
)  # as in distilabel.steps.tasks.UltraFeedback


def _distilabel_file(*parts: str) -> str:
    return resources.files("distilabel").joinpath("steps", "tasks", "templates", *parts).read_text()


@functools.lru_cache(maxsize=None)
def ultrafeedback(aspect: str):
    from jinja2 import Template

    return Template(_distilabel_file("ultrafeedback", f"{aspect}.jinja2"))


@functools.lru_cache(maxsize=1)
def self_instruct():
    from jinja2 import Template

    return Template(_distilabel_file("self-instruct.jinja2"))


def mutations() -> dict[str, str]:
    from distilabel.steps.tasks.evol_instruct.utils import MUTATION_TEMPLATES

    return dict(MUTATION_TEMPLATES)


def version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def versions(recipe: str, aspect: str = "overall-rating") -> dict[str, str]:
    """Template name → version for the templates ``recipe`` uses."""
    if recipe == "ultrafeedback":
        return {f"distilabel/ultrafeedback/{aspect}": version(_distilabel_file("ultrafeedback", f"{aspect}.jinja2")
                                                              + ULTRAFEEDBACK_SYSTEM)}
    if recipe == "self_instruct":
        return {"distilabel/self-instruct": version(_distilabel_file("self-instruct.jinja2"))}
    if recipe == "evol_instruct":
        return {f"distilabel/evol-instruct/{k}": version(v) for k, v in sorted(mutations().items())}
    if recipe == "critique_revise":
        return {"sluice/critique": version(CRITIQUE), "sluice/revise": version(REVISE)}
    return {}
