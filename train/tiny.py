"""A tiny Llama-style model and byte-level tokenizer, built locally in about a second.

Tests, benchmarks and smoke runs use it so nothing is downloaded. The tokenizer carries the
Qwen2.5 chat template (ChatML), one of the templates TRL knows how to patch with generation
tags, so the template guard's patch path is exercised for real.

>>> from sluice.train.tiny import build_tiny_model
>>> path = build_tiny_model("/tmp/tiny")      # a folder AutoModelForCausalLM / AutoTokenizer load
"""

from __future__ import annotations

from pathlib import Path

from sluice import tiny

_CORPUS = [
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "system user assistant tool",
    "What is the capital of France? The capital of France is Paris.",
    "How do I reset my password? Open settings, choose security and click reset password.",
    "Please summarize this order. Your order has shipped and will arrive on Monday.",
    "the answer is 42. I cannot help with that request. Thanks, happy to help!",
    "Translate hello to Spanish: hola. Write a python function that adds two numbers.",
    "0 1 2 3 4 5 6 7 8 9 { } [ ] ( ) : ; , . ? ! ' \" - _ / @ # $ % & * + = < > |",
]


def chat_template() -> str:
    """The stock Qwen2.5 chat template as TRL ships it (no generation tags)."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()


def build_tokenizer(vocab_size: int = 512, template: str | None = None):
    """A byte-level BPE tokenizer trained on a few sentences, with ChatML special tokens."""
    return tiny.build_tokenizer(_CORPUS, chat_template() if template is None else template, vocab_size)


def build_tiny_model(path: str | Path, *, hidden_size: int = 64, layers: int = 2, seed: int = 0,
                     template: str | None = None) -> Path:
    """Write a randomly initialised Llama-style model and its tokenizer to ``path``."""
    return tiny.build_tiny_model(path, build_tokenizer(template=template), hidden_size=hidden_size, layers=layers,
                                 max_positions=1024, seed=seed)
