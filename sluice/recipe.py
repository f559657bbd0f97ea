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
      - stage: embed
        resources: {cpus: 2, gpus: 1, memory: 4GiB, max_workers: 4}   # how it runs (Ray), not what it returns

Every problem of a recipe — unknown keys, wrong types, unknown stages — is reported at once,
each naming the file and line, the stage and the key, with a "did you mean" for a misspelt
stage or key.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import RecipeError
from sluice.stage import Resources, Stage, stage_class
from sluice.store import check_ref
from sluice.yamlfile import read_yaml


# The folder of the recipe being built: stage configs resolve their paths against it.
_BASE_DIR: ContextVar[Path | None] = ContextVar("sluice_recipe_base_dir", default=None)


def resolve_path(p: str | Path) -> Path:
    """A path written in a recipe, relative to the recipe file's folder (while a recipe is
    being loaded; the current directory otherwise). Absolute paths and ``~`` stay as given."""
    path = Path(p).expanduser()
    base = _BASE_DIR.get()
    return path if path.is_absolute() or base is None else base / path


def _existing(p: str) -> str:
    path = resolve_path(p)
    base = _BASE_DIR.get()
    if base is not None and not path.exists():  # in a recipe: found before any work starts
        raise ValueError(f"no file or folder at {path} (relative paths start at the recipe's folder {base})")
    return str(path)


# For stage config fields holding a path (eval sets, recognizer files, scorer folders):
# resolved against the recipe's folder and checked when the recipe loads, before any work.
RecipePath = Annotated[str, AfterValidator(lambda p: str(resolve_path(p)))]
ExistingRecipePath = Annotated[str, AfterValidator(_existing)]


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
    plugins: list[str] = Field(default_factory=list, description=(
        "modules whose stages this recipe may load (`package.module` or `package.module:Class`); a stage given "
        "as module:Class must be listed here. Loading a plugin runs its code"))
    base_dir: Path | None = Field(None, exclude=True, description="folder of the recipe file; relative paths resolve here")

    def resolve_path(self, p: str | Path) -> Path:
        """A path written in the recipe (eval set, recognizer file, scorer folder): relative to the
        recipe file's folder, not to the current directory. Absolute paths and ``~`` stay as given."""
        token = _BASE_DIR.set(self.base_dir)
        try:
            return resolve_path(p)
        finally:
            _BASE_DIR.reset(token)

    def allows(self, target: str) -> bool:
        """Whether ``module:Class`` is covered by ``plugins``."""
        module = target.partition(":")[0]
        return any(target == p or module == p or module.startswith(p.rstrip(".") + ".") for p in self.plugins)
    allow_empty: bool = Field(False, description="publish an empty result instead of failing the run")

    def build(self, where: str = "recipe", require_plugins: bool = False,
              locate: Callable[[tuple], str] | None = None) -> list[Stage]:
        """Instantiate every stage, collecting every error before raising.

        ``require_plugins`` (set for recipe files): a ``module:Class`` stage must be listed in
        ``plugins``. Python callers build recipes in code that already runs. ``locate`` turns a
        location (``("stages", 2, "max_turns")``) into ``FILE:LINE`` for the messages."""
        from sluice.stage import STAGES

        at = locate or (lambda loc: where)
        built, problems = [], []
        if self.input is not None and (bad := check_ref(self.input)):
            problems.append(f"{at(('input',))}: input: {bad}")
        for i, spec in enumerate(self.stages):
            label = f"stages[{i}]"
            if not isinstance(spec, dict):
                problems.append(f"{at(('stages', i))}: {label}: expected a mapping like {{stage: NAME, ...config}}")
                continue
            spec = dict(spec)
            name = spec.pop("stage", None)
            if not isinstance(name, str):
                problems.append(f"{at(('stages', i))}: {label}: missing 'stage: NAME'")
                continue
            label += f" ({name})"
            if require_plugins and name not in STAGES and ":" in name and not self.allows(name):
                # Checked before anything is imported: naming a module in a recipe runs its code.
                problems.append(f"{at(('stages', i, 'stage'))}: {label}: {name.partition(':')[0]!r} is not in the "
                                f"recipe's plugins — add `plugins: [{name.partition(':')[0]}]` to allow its code to run")
                continue
            try:
                cls = stage_class(name)
            except RecipeError as e:
                guess = did_you_mean(name, STAGES) if ":" not in name else ""
                problems.append(f"{at(('stages', i, 'stage'))}: {label}: {e.message}{guess}"
                                + (f" — {e.hint}" if e.hint and not guess else ""))
                continue
            resources = spec.pop("resources", None)
            token = _BASE_DIR.set(self.base_dir)
            try:
                built.append(cls(spec))
                if resources is not None:  # how the stage runs, not what it returns: not in its config
                    try:
                        built[-1].resources = Resources.from_recipe(resources, cls.resources)
                    except ValueError as e:
                        problems.append(f"{at(('stages', i, 'resources'))}: {label}: {e}")
            except ValidationError as e:
                fields = cls.Config.model_fields
                problems += [f"{at(('stages', i, *err['loc']))}: {label}: {_loc(err)}: {err['msg']}"
                             + _guess(err, fields) for err in e.errors()]
            finally:
                _BASE_DIR.reset(token)
        if problems:
            raise RecipeError(f"{where} has {len(problems)} problem(s)", problems=problems,
                              hint="`sluice stages` lists every stage with its config fields")
        return built


def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(config)"


def did_you_mean(word: str, choices) -> str:
    """" (did you mean 'x'?)" for a close spelling among ``choices``, else ""."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _guess(err: dict, fields) -> str:
    """For an unknown key, the closest known one; for a value outside a fixed set, the closest allowed."""
    if err.get("type") == "literal_error" and isinstance(err.get("input"), str):
        import re

        return did_you_mean(err["input"], re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", ""))))
    if err.get("type") != "extra_forbidden" or not err["loc"]:
        return ""
    return did_you_mean(err["loc"][-1], fields)


def load_recipe(path: str | Path) -> tuple[Recipe, list[Stage]]:
    file = read_yaml(path, what="recipe file", hint="pass the path of a YAML recipe, e.g. examples/basic.yaml")
    path, data, locate = file.path, file.data or {}, file.locate
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with a 'stages' list")
    problems: list[str] = []
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        stages = data.get("stages")
        stages = stages if isinstance(stages, list) else []
        # A bad entry of `stages` is reported by build() below, with its index and stage name.
        problems += [f"{locate(err['loc'])}: {_loc(err)}: {err['msg']}{_guess(err, Recipe.model_fields)}"
                     for err in e.errors() if not (stages and len(err["loc"]) > 1 and err["loc"][0] == "stages")]
        recipe = Recipe.model_construct(stages=stages, plugins=data.get("plugins") or [])
    recipe.base_dir = path.resolve().parent
    try:
        stages = recipe.build(str(path), require_plugins=True, locate=locate)
    except RecipeError as e:
        problems += e.problems
    if problems:
        raise RecipeError(f"{path} has {len(problems)} problem(s)", problems=problems,
                          hint="`sluice stages` lists every stage with its config fields")
    return recipe, stages
