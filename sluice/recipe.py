"""Recipes: YAML lists of stages with their configs. YAML is only the serialization — the
same pydantic config models serve Python, CLI flags and files.

.. code-block:: yaml

    name: basic
    input: raw@latest      # dataset to read (overridable with --input)
    output: curated        # dataset to publish (overridable with --output)
    stages:
      - stage: normalize
        form: NFKC
      - stage: length
      - stage: length_filter
        min_chars: {user: 1, assistant: 1}

Every problem of a recipe — unknown keys, wrong types, unknown stages — is reported at once,
each naming the file, the stage and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import RecipeError
from sluice.stage import Stage, stage_class


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("recipe", description="a name for the recipe, recorded in the manifest")
    input: str | None = Field(None, description="dataset reference to read, e.g. raw@latest")
    output: str | None = Field(None, description="dataset name to publish the result as")
    batch_size: int = Field(20_000, gt=0, description="rows per batch handed to a stage")
    workers: int = Field(1, ge=1, description="processes for batch stages (1 runs in this process)")
    executor: Literal["local", "ray"] = Field("local", description="how stages are mapped over batches: local "
                                              "processes, or Ray (joins RAY_ADDRESS, else starts a local cluster)")
    stages: list[dict[str, Any]] = Field(default_factory=list, description="stages in order: {stage: NAME, ...config}")

    def build(self, where: str = "recipe") -> list[Stage]:
        """Instantiate every stage, collecting every error before raising."""
        built, problems = [], []
        for i, spec in enumerate(self.stages):
            label = f"stages[{i}]"
            if not isinstance(spec, dict):
                problems.append(f"{where}: {label}: expected a mapping like {{stage: NAME, ...config}}")
                continue
            spec = dict(spec)
            name = spec.pop("stage", None)
            if not isinstance(name, str):
                problems.append(f"{where}: {label}: missing 'stage: NAME'")
                continue
            label += f" ({name})"
            try:
                cls = stage_class(name)
            except RecipeError as e:
                problems.append(f"{where}: {label}: {e.message}" + (f" — {e.hint}" if e.hint else ""))
                continue
            try:
                built.append(cls(spec))
            except ValidationError as e:
                problems += [f"{where}: {label}: {_loc(err)}: {err['msg']}" for err in e.errors()]
        if problems:
            raise RecipeError(f"{where} has {len(problems)} problem(s)", problems=problems,
                              hint="`sluice stages` lists every stage with its config fields")
        return built


def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(config)"


def load_recipe(path: str | Path) -> tuple[Recipe, list[Stage]]:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"no recipe file at {path}", hint="pass the path of a YAML recipe, e.g. examples/basic.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RecipeError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with a 'stages' list")
    problems: list[str] = []
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        stages = data.get("stages")
        stages = stages if isinstance(stages, list) else []
        # A bad entry of `stages` is reported by build() below, with its index and stage name.
        problems += [f"{path}: {_loc(err)}: {err['msg']}" for err in e.errors()
                     if not (stages and len(err["loc"]) > 1 and err["loc"][0] == "stages")]
        recipe = Recipe.model_construct(stages=stages)
    try:
        stages = recipe.build(str(path))
    except RecipeError as e:
        problems += e.problems
    if problems:
        raise RecipeError(f"{path} has {len(problems)} problem(s)", problems=problems,
                          hint="`sluice stages` lists every stage with its config fields")
    return recipe, stages
