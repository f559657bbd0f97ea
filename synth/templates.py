"""sluice's own prompt templates (Jinja, for distilabel's TextGeneration), and template versions.

The UltraFeedback rubric, the Self-Instruct prompt and the Evol-Instruct mutations are
distilabel's own: their tasks format them (``synth/tasks.py``). Critique and revision are
sluice's. A template's version is ``sha256(text)[:12]``: a changed template changes the run
fingerprint, so cached generations made with the old text are never reused.
"""

from __future__ import annotations

import hashlib

CRITIQUE = """Here is a request and an assistant's answer to it.

Principles the answer must follow:
{{ principles }}

Request:
{{ prompt }}

Answer:
{{ answer }}

Critique the answer against the principles: name each specific way it falls short, briefly.
If it follows them all, say what could still be clearer."""

REVISE = """Here is a request, an assistant's answer, and a critique of that answer.

Principles the answer must follow:
{{ principles }}

Request:
{{ prompt }}

Answer:
{{ answer }}

Critique:
{{ critique }}

Rewrite the answer so it follows the principles and fixes what the critique names.
Reply with the revised answer only."""


def version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
