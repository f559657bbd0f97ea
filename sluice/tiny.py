"""Tiny Llama-style models with byte-level BPE tokenizers, built locally in about a second.

The one tiny-model module: tests, benchmarks, demos and ``sluice models tiny`` use it so nothing
is downloaded. Two ready-made kinds, plus the parts to build others:

* ``build_tiny_model`` — the training kind: the stock Qwen2.5 chat template as TRL ships it (one
  TRL knows how to patch with generation tags, so the template guard's patch path runs for real);
  what ``sluice models tiny`` writes, and what training, the eval gate and local synthesis load.
* ``build_tiny_chat_model`` — the synthesis kind: plain ChatML, a vocabulary that holds the words
  distilabel's task prompts need; distilabel's transformers backend and ``transformers serve``
  take it as they would a real instruct model.

Their replies are random text: they show the machinery works, not what a real model would say.

>>> from sluice.tiny import build_tiny_model
>>> path = build_tiny_model("/tmp/tiny")      # a folder AutoModelForCausalLM / AutoTokenizer load
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRAIN_CORPUS = [
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "system user assistant tool",
    "What is the capital of France? The capital of France is Paris.",
    "How do I reset my password? Open settings, choose security and click reset password.",
    "Please summarize this order. Your order has shipped and will arrive on Monday.",
    "the answer is 42. I cannot help with that request. Thanks, happy to help!",
    "Translate hello to Spanish: hola. Write a python function that adds two numbers.",
    "0 1 2 3 4 5 6 7 8 9 { } [ ] ( ) : ; , . ? ! ' \" - _ / @ # $ % & * + = < > |",
]
CHAT_CORPUS = [
    "system user assistant tool Rating: Rationale: Critique: Revision: #Given Prompt#: #Rewritten Prompt#:",
    "What is the capital of France? The capital of France is Paris. 1 2 3 4 5",
    "How do I reset my password? Open settings, choose security and click reset password.",
    "Please summarize this order. Your order has shipped and will arrive on Monday.",
    "0 1 2 3 4 5 6 7 8 9 { } [ ] ( ) : ; , . ? ! ' \" - _ / @ # $ % & * + = < > |",
]


def qwen_template() -> str:
    """The stock Qwen2.5 chat template as TRL ships it (no generation tags)."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()


def build_tokenizer(corpus: list[str] | None = None, template: str | None = None, vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on ``corpus`` (default: the training kind's), with ChatML
    special tokens and ``template`` (default: the stock Qwen2.5 template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((TRAIN_CORPUS if corpus is None else corpus) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL[1:])
    fast.chat_template = qwen_template() if template is None else template
    return fast


def build_chat_tokenizer(vocab_size: int = 384):
    """The synthesis kind's tokenizer: plain ChatML over the words distilabel's prompts use."""
    return build_tokenizer(CHAT_CORPUS, CHATML, vocab_size)


def build_model(path: str | Path, tokenizer, *, hidden_size: int, layers: int, max_positions: int,
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


def build_tiny_model(path: str | Path, *, hidden_size: int = 64, layers: int = 2, seed: int = 0,
                     template: str | None = None) -> Path:
    """The training kind (Qwen2.5 template), written to ``path``."""
    return build_model(path, build_tokenizer(template=template), hidden_size=hidden_size, layers=layers,
                       max_positions=1024, seed=seed)


def build_tiny_chat_model(path: str | Path, *, hidden_size: int = 32, layers: int = 1, seed: int = 0) -> Path:
    """The synthesis kind (plain ChatML), written to ``path``."""
    return build_model(path, build_chat_tokenizer(), hidden_size=hidden_size, layers=layers,
                       max_positions=2048, seed=seed)


def build_default(path: str | Path, *, hidden_size: int = 64, layers: int = 2) -> Path:
    """The tiny model `sluice models tiny` writes: the training kind."""
    return build_tiny_model(path, hidden_size=hidden_size, layers=layers)
