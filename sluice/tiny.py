"""Tiny Llama-style models with byte-level BPE tokenizers, built locally in about a second.

Tests, benchmarks and demos use them so nothing is downloaded. Each part passes its own
corpus (the words its prompts need as tokens) and chat template: see ``sluice.train.tiny``
(a stock template TRL patches) and ``sluice.synth.tiny`` (plain ChatML).
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(corpus: list[str], template: str, vocab_size: int):
    """A byte-level BPE tokenizer trained on ``corpus``, with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL[1:])
    fast.chat_template = template
    return fast


def build_tiny_model(path: str | Path, tokenizer, *, hidden_size: int, layers: int, max_positions: int,
                     seed: int = 0) -> Path:
    """Write a randomly initialised Llama-style model and ``tokenizer`` to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=max_positions, tie_word_embeddings=False, bos_token_id=None,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_default(path: str | Path, *, hidden_size: int = 64, layers: int = 2) -> Path:
    """The tiny model `sluice models tiny` writes: Llama-style, random weights, a ChatML (Qwen2.5)
    chat template. Training, the eval gate and the local synthesis backend all load it, offline.
    Its replies are random text: it shows the machinery works, not what a real model would say."""
    from sluice.train.tiny import build_tiny_model

    return build_tiny_model(path, hidden_size=hidden_size, layers=layers)
