"""A tiny random chat model with its tokenizer, built locally in about a second.

Tests, the benchmark and demos use it so nothing is downloaded: it speaks ChatML through a
chat template, so distilabel's transformers backend and ``transformers serve`` both take it
as they would a real instruct model. Its replies are random text.

>>> from sluice.synth.tiny import build_tiny_chat_model
>>> path = build_tiny_chat_model("/tmp/tiny-chat")     # a folder AutoModelForCausalLM loads
"""

from __future__ import annotations

from pathlib import Path

from sluice import tiny

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    "system user assistant tool Rating: Rationale: Critique: Revision: #Given Prompt#: #Rewritten Prompt#:",
    "What is the capital of France? The capital of France is Paris. 1 2 3 4 5",
    "How do I reset my password? Open settings, choose security and click reset password.",
    "Please summarize this order. Your order has shipped and will arrive on Monday.",
    "0 1 2 3 4 5 6 7 8 9 { } [ ] ( ) : ; , . ? ! ' \" - _ / @ # $ % & * + = < > |",
]


def build_tokenizer(vocab_size: int = 384):
    return tiny.build_tokenizer(_CORPUS, CHATML, vocab_size)


def build_tiny_chat_model(path: str | Path, *, hidden_size: int = 32, layers: int = 1, seed: int = 0) -> Path:
    """Write a randomly initialised Llama-style model and its ChatML tokenizer to ``path``."""
    return tiny.build_tiny_model(path, build_tokenizer(), hidden_size=hidden_size, layers=layers,
                                 max_positions=2048, seed=seed)
