"""A tiny random chat model with its tokenizer, built locally in about a second.

Tests, the benchmark and demos use it so nothing is downloaded: it speaks ChatML through a
chat template, so distilabel's transformers backend and ``transformers serve`` both take it
as they would a real instruct model. Its replies are random text.

>>> from sluice.synth.tiny import build_tiny_chat_model
>>> path = build_tiny_chat_model("/tmp/tiny-chat")     # a folder AutoModelForCausalLM loads
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL[1:])
    fast.chat_template = CHATML
    return fast


def build_tiny_chat_model(path: str | Path, *, hidden_size: int = 32, layers: int = 1, seed: int = 0) -> Path:
    """Write a randomly initialised Llama-style model and its ChatML tokenizer to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=False, bos_token_id=None,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
