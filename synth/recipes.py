"""The synth recipes. Each turns one source prompt (an ``Item``) into a result dict with LLM
calls, and results into output rows. distilabel's tasks (``tasks()``, by role) format every prompt
and parse every reply; the runner owns everything else (resume, concurrency, accounting,
publishing). The tasks of each recipe are recorded in the manifest under ``synth.tasks``.

==================  ==========================================  ==============================
recipe              per item                                    publishes
==================  ==========================================  ==============================
responses           one answer from the teacher (``llm``)       NAME (conversation)
evol_instruct       ``rounds`` evolved prompts (+ answers)      NAME (conversation)
self_instruct       ``num_instructions`` new prompts (+ answers) NAME (conversation)
ultrafeedback       ``n`` answers from ``generators``, rated    NAME (preference)
                    by ``judge`` with the UltraFeedback rubric
critique_revise     answer → critique → revision                NAME (preference), NAME-sft
==================  ==========================================  ==============================

==================  ==============================================================================
recipe              distilabel tasks
==================  ==============================================================================
responses           TextGeneration (one user turn) or ChatGeneration (a conversation)
evol_instruct       EvolInstruct (mutations, format), TextGeneration (answers)
self_instruct       SelfInstruct (prompt, parser), TextGeneration (answers)
ultrafeedback       TextGeneration / ChatGeneration (answers), UltraFeedback (rubric, parser)
critique_revise     TextGeneration / ChatGeneration (answer), TextGeneration with sluice's
                    critique and revision templates
==================  ==============================================================================

Reason codes of dropped rows: ``generation_failed``, ``empty_generation`` (the model returned
nothing after retries), ``has_tool_calls`` / ``no_prompt`` (the source row has no plain-text
prompt), ``duplicate_of_seed`` / ``duplicate`` (evol/self-instruct dedup; ``duplicate_of`` names
the row kept), ``revision_unchanged`` (critique_revise), and the judge codes of
``sluice.synth.judge``.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import tasks, templates
from .judge import make_pair, read_ratings


@dataclass(frozen=True)
class Item:
    """One unit of work: a prompt (chat messages up to the last user turn) and its lineage."""

    key: str
    prompt: tuple[dict[str, str], ...]
    source_ids: tuple[str, ...]

    @property
    def instruction(self) -> str:
        """The prompt as one string: the last user turn, or a transcript for multi-turn prompts."""
        turns = [m for m in self.prompt if m["role"] != "system"]
        if len(turns) == 1:
            return turns[0]["content"]
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)


@dataclass
class Ctx:
    """What a recipe's ``run`` may call: backends by role."""

    llm: Any
    judge: Any = None
    generators: list[Any] = field(default_factory=list)


class RecipeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generation: dict[str, Any] = Field(default_factory=dict,
                                       description="generation parameters for this recipe (override the --llm file's)")


class Recipe:
    name: ClassVar[str]
    Config: ClassVar[type[RecipeConfig]] = RecipeConfig
    outputs: ClassVar[dict[str, str]] = {"": "conversation"}  # dataset-name suffix → record kind
    expands: ClassVar[bool] = False  # one item → many new prompts (deduplicated after the run)

    def __init__(self, config: dict[str, Any] | RecipeConfig | None = None):
        self.config = config if isinstance(config, RecipeConfig) else self.Config(**(config or {}))

    def tasks(self, model: str = "") -> dict[str, Any]:
        """The distilabel tasks that format this recipe's prompts and parse its replies, by role."""
        return {}

    def templates(self) -> dict[str, str]:
        """Task (class/role) → version of what it sends (see ``tasks.version``)."""
        return {f"distilabel/{type(t).__name__}/{role}": tasks.version(t) for role, t in sorted(self.tasks().items())}

    async def run(self, item: Item, ctx: Ctx) -> dict[str, Any]:
        raise NotImplementedError

    def rows(self, item: Item, result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Output rows per suffix: conversation rows ``{messages, model}`` or preference rows."""
        raise NotImplementedError


async def generate(task, inp: dict[str, Any] | str, backend, generation: dict[str, Any]) -> dict[str, Any]:
    """``task.format_input`` → the backend (batched / concurrent) → ``task.format_output``."""
    reply = await backend.chat(task.format_input(inp), **generation)
    return task.format_output(reply, inp)


async def answer(prompt: tuple[dict[str, str], ...], backend, generation: dict[str, Any]) -> str:
    """A reply to a prompt: TextGeneration for one user turn, ChatGeneration for a conversation."""
    task, inp = tasks.answer_task(prompt, backend.model_name)
    return (await generate(task, inp, backend, generation))["generation"]


def _user(text: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": text},)


class Responses(Recipe):
    """Distillation: the teacher answers every curated prompt (TextGeneration / ChatGeneration)."""

    name = "responses"

    def tasks(self, model=""):
        return {"answer": tasks.make("TextGeneration", model), "answer_chat": tasks.make("ChatGeneration", model)}

    async def run(self, item, ctx):
        return {"answer": await answer(item.prompt, ctx.llm, self.config.generation), "model": ctx.llm.model_name}

    def rows(self, item, result):
        msgs = list(item.prompt) + [{"role": "assistant", "content": result["answer"]}]
        return {"": [{"key": "0", "messages": msgs, "model": result["model"]}]}


class _Grow(Recipe):
    """Shared by evol/self-instruct: new prompts, optionally answered, deduplicated later."""

    expands = True

    async def _answer(self, prompts: list[str], ctx: Ctx) -> list[str | None]:
        if not self.config.answer:
            return [None] * len(prompts)
        return list(await asyncio.gather(*(answer(_user(p), ctx.llm, self.config.generation) for p in prompts)))

    def rows(self, item, result):
        out = []
        for i, (p, a) in enumerate(zip(result["prompts"], result["answers"])):
            msgs = list(_user(p)) + ([{"role": "assistant", "content": a}] if a is not None else [])
            out.append({"key": str(i), "messages": msgs, "model": result["model"], "new_prompt": p})
        return {"": out}


class EvolConfig(RecipeConfig):
    rounds: int = Field(2, ge=1, le=8, description="evolution rounds per seed; each round's prompt is kept")
    answer: bool = Field(True, description="also answer each evolved prompt (SFT rows), else prompts only")
    seed: int = Field(0, description="picks the mutation per seed and round, reproducibly")


class EvolInstruct(_Grow):
    """Evol-Instruct (WizardLM) with distilabel's EvolInstruct task: each round rewrites the
    previous prompt with one of the task's mutation templates, picked per seed and round."""

    name = "evol_instruct"
    Config = EvolConfig

    def tasks(self, model=""):
        return {"evolve": tasks.make("EvolInstruct", model, num_evolutions=self.config.rounds, store_evolutions=True,
                                     generate_answers=self.config.answer),
                "answer": tasks.make("TextGeneration", model)}

    async def run(self, item, ctx):
        task = self.tasks(ctx.llm.model_name)["evolve"]
        rng = random.Random(f"{self.config.seed}:{item.key}")  # reproducible, unlike the task's np.random
        names = sorted(task.mutation_templates)
        prompt, prompts = item.instruction, []
        for _ in range(self.config.rounds):
            mutation = task.mutation_templates[rng.choice(names)].replace("<PROMPT>", prompt)
            prompt = _clean_prompt(await ctx.llm.chat(task.format_input(mutation), **self.config.generation))
            prompts.append(prompt)
        out = task.format_output(prompts, await self._answer(prompts, ctx) if self.config.answer else None)
        return {"prompts": out["evolved_instructions"],
                "answers": out.get("answers") or [None] * len(prompts), "model": out["model_name"]}


class SelfInstructConfig(RecipeConfig):
    num_instructions: int = Field(5, ge=1, le=50, description="new prompts asked for per seed")
    application_description: str = Field("AI assistant", description="what the prompts are for")
    criteria: str = Field("Incorporate a diverse range of verbs, avoiding repetition.\n"
                          "Ensure queries are compatible with AI model's text generation functions.",
                          description="criteria for the generated queries")
    answer: bool = Field(True, description="also answer each new prompt (SFT rows), else prompts only")


class SelfInstruct(_Grow):
    """Self-Instruct with distilabel's SelfInstruct task: new queries inspired by each seed."""

    name = "self_instruct"
    Config = SelfInstructConfig

    def tasks(self, model=""):
        c = self.config
        return {"instruct": tasks.make("SelfInstruct", model, num_instructions=c.num_instructions,
                                       application_description=c.application_description,
                                       criteria_for_query_generation=c.criteria),
                "answer": tasks.make("TextGeneration", model)}

    async def run(self, item, ctx):
        task = self.tasks(ctx.llm.model_name)["instruct"]
        out = await generate(task, {"input": item.instruction}, ctx.llm, self.config.generation)
        prompts = [p for p in map(_clean_prompt, out["instructions"]) if p][: self.config.num_instructions]
        return {"prompts": prompts, "answers": await self._answer(prompts, ctx), "model": ctx.llm.model_name}


def _clean_prompt(text: str) -> str:
    """Strip list markers and the template's echo labels a model tends to repeat (EvolInstruct's
    own rule keeps what follows the last ``Prompt#:``)."""
    text = text.split("Prompt#:")[-1]
    text = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", text.strip())
    text = re.sub(r"^#?\s*(?:rewritten|created|given)\s+prompt#?:\s*", "", text, flags=re.I)
    return text.strip()


class UltraFeedbackConfig(RecipeConfig):
    n: int = Field(4, ge=2, le=16, description="answers per prompt, spread over the generators in turn")
    aspect: Literal["overall-rating", "helpfulness", "honesty", "instruction-following", "truthfulness"] = Field(
        "overall-rating", description="UltraFeedback rubric the judge applies")
    pairing: Literal["best_worst", "best_random", "close"] = Field(
        "best_worst", description="rejected = the worst answer, a random lower-rated one, or the closest one "
                                  "still min_margin below the best (a hard negative)")
    min_margin: float = Field(1.0, ge=0, description="minimum rating gap between chosen and rejected")
    max_margin: float | None = Field(None, ge=0, description="close pairing: drop pairs whose gap exceeds this")
    judge_generation: dict[str, Any] = Field(default_factory=dict, description="generation parameters of the judge")
    seed: int = Field(0, description="seeds best_random's choice, per prompt")


class UltraFeedback(Recipe):
    """N answers per prompt (TextGeneration / ChatGeneration), rated by a judge with distilabel's
    UltraFeedback task → one preference pair chosen by rating margin."""

    name = "ultrafeedback"
    Config = UltraFeedbackConfig
    outputs = {"": "preference"}

    def tasks(self, model=""):
        return {"answer": tasks.make("TextGeneration", model), "answer_chat": tasks.make("ChatGeneration", model),
                "judge": tasks.make("UltraFeedback", model, aspect=self.config.aspect)}

    async def run(self, item, ctx):
        c, gens = self.config, ctx.generators or [ctx.llm]
        picked = [gens[i % len(gens)] for i in range(c.n)]
        answers = list(await asyncio.gather(*(answer(item.prompt, g, c.generation) for g in picked)))
        judge = ctx.judge or ctx.llm
        task = self.tasks(judge.model_name)["judge"]
        inp = {"instruction": item.instruction, "generations": answers}
        reply = await judge.chat(task.format_input(inp), **c.judge_generation)
        ratings = read_ratings(task, reply, inp)  # JudgeParseError → dropped with its reason
        pair = make_pair(ratings, strategy=c.pairing, min_margin=c.min_margin, max_margin=c.max_margin,
                         rng=random.Random(f"{c.seed}:{item.key}"))
        return {"answers": answers, "models": [g.model_name for g in picked], "ratings": ratings,
                "judge": judge.model_name, "chosen": pair.chosen, "rejected": pair.rejected}

    def rows(self, item, result):
        ch, rj = result["chosen"], result["rejected"]
        return {"": [{"key": "0", "prompt": list(item.prompt),
                      "chosen": [{"role": "assistant", "content": result["answers"][ch]}],
                      "rejected": [{"role": "assistant", "content": result["answers"][rj]}],
                      "score_chosen": result["ratings"][ch], "score_rejected": result["ratings"][rj],
                      "model": {"chosen": result["models"][ch], "rejected": result["models"][rj],
                                "judge": result["judge"]},
                      "ratings": result["ratings"]}]}


DEFAULT_PRINCIPLES = """- Be helpful: answer the question that was asked, completely and concretely.
- Be honest: do not invent facts; say when you are unsure.
- Be harmless: refuse clearly and briefly to help with anything dangerous or illegal.
- Protect privacy: never repeat or ask for personal data that is not needed."""


class CritiqueReviseConfig(RecipeConfig):
    principles: Path | None = Field(None, description="text file of principles (one per line); default: 4 built in")
    critique_generation: dict[str, Any] = Field(default_factory=dict, description="generation parameters of critiques")


class CritiqueRevise(Recipe):
    """Constitutional: answer → critique against principles → revision. revised ≻ initial, plus SFT rows."""

    name = "critique_revise"
    Config = CritiqueReviseConfig
    outputs = {"": "preference", "-sft": "conversation"}

    def principles(self) -> str:
        p = self.config.principles
        return Path(p).read_text().strip() if p else DEFAULT_PRINCIPLES

    def tasks(self, model=""):
        return {"answer": tasks.make("TextGeneration", model), "answer_chat": tasks.make("ChatGeneration", model),
                "critique": tasks.make("TextGeneration", model, template=templates.CRITIQUE,
                                       columns=["principles", "prompt", "answer"]),
                "revise": tasks.make("TextGeneration", model, template=templates.REVISE,
                                     columns=["principles", "prompt", "answer", "critique"])}

    def templates(self):
        return {**super().templates(), "principles": templates.version(self.principles())}

    async def run(self, item, ctx):
        g, t = self.config.generation, self.tasks(ctx.llm.model_name)
        fields = {"principles": self.principles(), "prompt": item.instruction}
        fields["answer"] = await answer(item.prompt, ctx.llm, g)
        fields["critique"] = (await generate(t["critique"], fields, ctx.llm, self.config.critique_generation))[
            "generation"]
        revision = (await generate(t["revise"], fields, ctx.llm, g))["generation"]
        return {"answer": fields["answer"], "critique": fields["critique"], "revision": revision,
                "model": ctx.llm.model_name}

    def rows(self, item, result):
        sft = [{"key": "0", "messages": list(item.prompt) + [{"role": "assistant", "content": result["revision"]}],
                "model": result["model"]}]
        if _norm(result["revision"]) == _norm(result["answer"]):
            return {"": [{"key": "0", "drop": "revision_unchanged"}], "-sft": sft}
        pref = {"key": "0", "prompt": list(item.prompt),
                "chosen": [{"role": "assistant", "content": result["revision"]}],
                "rejected": [{"role": "assistant", "content": result["answer"]}],
                "score_chosen": None, "score_rejected": None, "model": {"chosen": result["model"]}}
        return {"": [pref], "-sft": sft}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


RECIPES: dict[str, type[Recipe]] = {
    c.name: c for c in (Responses, EvolInstruct, SelfInstruct, UltraFeedback, CritiqueRevise)}
ALIASES = {"evol-instruct": "evol_instruct", "self-instruct": "self_instruct", "critique-revise": "critique_revise",
           "constitutional": "critique_revise"}
