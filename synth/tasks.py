"""distilabel tasks, driven by sluice: a task formats each prompt and parses each reply.

sluice does not run a distilabel ``Pipeline``; it calls the tasks' own ``format_input`` and
``format_output`` (the prompt templates, system prompts and parsers of TextGeneration,
ChatGeneration, EvolInstruct, SelfInstruct, UltraFeedback and PrometheusEval) and sends the
formatted chats through its backends (``synth/llm.py``). Why, in short: distilabel's pipeline
executor runs steps in worker processes (outside the egress audit hook of ``synth/guard.py``),
resumes per batch from its own cache folder, and turns a failed or unparsable generation into a
``None`` row with a logged warning; sluice needs a per-row journal, a reason code for every
dropped row and one process under the privacy guard. See the design note in ``synth/README.md``.

A task holds a ``TaskLLM``: a distilabel ``LLM`` that only names the model (``model_name`` goes
into the tasks' outputs). It never generates — loading a task therefore never loads a model twice.
"""

from __future__ import annotations

import functools
from typing import Any

from sluice.errors import SluiceError


@functools.lru_cache(maxsize=1)
def _task_llm_class():
    from distilabel.models.llms.base import LLM

    class TaskLLM(LLM):
        """The model name a task reports; generation goes through sluice's batched backends."""

        model: str

        @property
        def model_name(self) -> str:
            return self.model

        def generate(self, inputs, num_generations: int = 1, **kwargs: Any):
            raise SluiceError("a sluice-driven task does not generate by itself",
                              hint="send task.format_input(...) through a sluice.synth.llm.Backend")

    return TaskLLM


def make(cls_name: str, model: str, **settings: Any):
    """The loaded distilabel task ``cls_name`` (from ``distilabel.steps.tasks``) with ``settings``.

    Tasks only format and parse (no state), so one instance per class, model and settings serves
    every row of a run.
    """
    import json

    return _make(cls_name, model, json.dumps(settings, sort_keys=True, default=str))


@functools.lru_cache(maxsize=64)
def _make(cls_name: str, model: str, settings_json: str):
    import json

    from .guard import quiet_distilabel

    quiet_distilabel()
    from distilabel.steps import tasks

    task = getattr(tasks, cls_name)(llm=_task_llm_class()(model=model), **json.loads(settings_json))
    task.load()
    return task


def answer_task(prompt: tuple[dict[str, str], ...], model: str):
    """TextGeneration for one user turn (with its system prompt), ChatGeneration for a conversation."""
    turns = [m for m in prompt if m["role"] != "system"]
    if len(turns) == 1:
        return make("TextGeneration", model), answer_input(prompt)
    return make("ChatGeneration", model), {"messages": [dict(m) for m in prompt]}


def answer_input(prompt: tuple[dict[str, str], ...]) -> dict[str, Any]:
    system = "\n\n".join(m["content"] for m in prompt if m["role"] == "system")
    user = next(m["content"] for m in prompt if m["role"] != "system")
    return {"instruction": user, "system_prompt": system or None}


def version(task) -> str:
    """``sha256[:12]`` of what the task sends for a placeholder input: its template and system prompt.

    A changed template (a distilabel upgrade, a custom template) changes the run fingerprint, so
    generations made with the old text are never reused. EvolInstruct hashes its mutation templates
    (its sample input picks one at random).
    """
    import hashlib
    import json

    if hasattr(task, "mutation_templates"):
        sample: Any = dict(sorted(task.mutation_templates.items()))
    elif task.inputs == ["messages"]:  # ChatGeneration sends the conversation as it is
        sample = task.format_input({"messages": [{"role": "user", "content": "<PLACEHOLDER_MESSAGES>"}]})
    else:
        sample = task._sample_input()
    return hashlib.sha256(json.dumps(sample, sort_keys=True).encode()).hexdigest()[:12]
