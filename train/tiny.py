"""A tiny Llama-style model and byte-level tokenizer, built locally in about a second.

Tests, benchmarks and smoke runs use it so nothing is downloaded. The tokenizer carries the
Qwen2.5 chat template (ChatML), one of the templates TRL knows how to patch with generation
tags, so the template guard's patch path is exercised for real.

>>> from sluice.train.tiny import build_tiny_model
>>> path = build_tiny_model("/tmp/tiny")      # a folder AutoModelForCausalLM / AutoTokenizer load
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL[1:])
    fast.chat_template = chat_template() if template is None else template
    return fast


def build_tiny_model(path: str | Path, *, hidden_size: int = 64, layers: int = 2, seed: int = 0,
                     template: str | None = None) -> Path:
    """Write a randomly initialised Llama-style model and its tokenizer to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer(template=template)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, tie_word_embeddings=False,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
