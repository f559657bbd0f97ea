"""One YAML reader (sluice/yamlfile.py) for recipes, training configs, LLM files and review recipes:
a syntax error names FILE:LINE:COLUMN, a refused setting names FILE:LINE of its key."""

from __future__ import annotations

import pytest

from sluice.errors import RecipeError


def _recipe(path):
    from sluice.recipe import load_recipe

    return load_recipe(path)


def _train(path):
    from sluice.train.config import load_config

    return load_config("sft", yaml_path=path, data="d@v1", output_dir="out")


def _llm(path):
    from sluice.synth.runner import load_llm_file

    return load_llm_file(path)


READERS = {"recipe": _recipe, "train config": _train, "LLM file": _llm}
BAD_SETTING = {  # the refused key stands on line 3 of each
    "recipe": "name: r\nstages:\n  - stage: length\n    no_such_key: 1\n",
    "train config": "train:\n  model: tiny\n  lora_r: lots\n",
    "LLM file": "llm:\n  backend: transformers\n  no_such_key: 1\n",
}
BAD_LINE = {"recipe": 4, "train config": 3, "LLM file": 3}


@pytest.mark.parametrize("kind", READERS)
def test_a_yaml_syntax_error_names_file_line_and_column(kind, tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(RecipeError) as e:
        READERS[kind](path)
    assert str(e.value).startswith(f"{path}:3:1: not valid YAML (")


@pytest.mark.parametrize("kind", READERS)
def test_a_refused_setting_names_the_line_of_its_key(kind, tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(BAD_SETTING[kind])
    with pytest.raises(RecipeError) as e:
        READERS[kind](path)
    assert any(p.startswith(f"{path}:{BAD_LINE[kind]}: ") for p in e.value.problems), e.value.problems


@pytest.mark.parametrize("kind", READERS)
def test_a_missing_file_is_named(kind, tmp_path):
    with pytest.raises(RecipeError, match=f"at {tmp_path / 'none.yaml'}"):
        READERS[kind](tmp_path / "none.yaml")


def test_a_train_override_is_not_blamed_on_the_file(tmp_path):
    from sluice.train.config import load_config

    path = tmp_path / "f.yaml"
    path.write_text("train:\n  model: tiny\n  lora_r: 8\n")
    with pytest.raises(RecipeError) as e:
        load_config("sft", yaml_path=path, overrides=["lora_r=lots"], data="d@v1", output_dir="out")
    assert e.value.problems == [p for p in e.value.problems if not p.startswith(str(path))]
    assert any(p.startswith("lora_r: ") for p in e.value.problems)
