"""The chat-template guard, run before any training step, and warnings on known anti-patterns.

``guard(tokenizer, sample_messages, assistant_only_loss=True)`` checks that

1. the tokenizer has a chat template,
2. it renders a real conversation from the dataset,
3. with assistant-only loss, the assistant mask is non-empty. TRL builds that mask from
   ``{% generation %}`` tags. A known template without them (Llama 3, Qwen 2.5/3, Gemma,
   Phi-3, …) is patched with TRL's training variant; an unknown one fails with what to do.

It returns the template to train with (the patched one, or None when the tokenizer's own is fine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sluice.errors import SluiceError


class TemplateError(SluiceError):
    """The chat template cannot be used for training as configured."""


@dataclass
class GuardResult:
    template: str | None  # patched template to use; None: the tokenizer's own
    patched: bool
    assistant_tokens: int
    total_tokens: int


def guard(tokenizer, sample: list[dict], *, assistant_only_loss: bool = True) -> GuardResult:
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    if not template:
        raise TemplateError(
            "the tokenizer has no chat template, so conversations cannot be rendered for training",
            hint="use an -Instruct/-Chat tokenizer, or set one: tokenizer.chat_template = open('t.jinja').read() "
                 "and save it with the model (a Jinja file with {% generation %} tags around assistant turns)")
    try:
        text = tokenizer.apply_chat_template(sample, tokenize=False)
    except Exception as e:  # jinja errors come in many types; the message says which line is wrong
        raise TemplateError("the chat template fails to render a conversation from the dataset",
                            problems=[f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"],
                            hint="fix the template (tokenizer_config.json 'chat_template') or choose another tokenizer"
                            ) from None
    if not text or not any((m.get("content") or "") and m["content"][:20] in text for m in sample):
        raise TemplateError("the chat template renders the conversation without its messages",
                            hint="the template must output each message's content; check its loop over messages")
    if not assistant_only_loss:
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        return GuardResult(None, False, n, n)

    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    patched = None
    if not has_generation_markers(template):
        try:
            patched = get_training_chat_template(tokenizer)
        except ValueError:
            raise TemplateError(
                "assistant-only loss needs {% generation %} tags in the chat template, and this template "
                "is not one sluice knows how to patch",
                hint="wrap the assistant turn in {% generation %}...{% endgeneration %} (including its "
                     "end-of-turn token) and save the template with the tokenizer, or set "
                     "assistant_only_loss=false to train on whole conversations") from None
    try:
        out = tokenizer.apply_chat_template(sample, chat_template=patched, return_dict=True,
                                            return_assistant_tokens_mask=True)
        mask = out["assistant_masks"]
    except Exception:  # transformers fails on empty {% generation %} spans instead of returning no mask
        mask = []
    if not sum(mask):
        raise TemplateError(
            "the assistant-only loss mask is empty: no token of the sample would be trained on",
            hint="the {% generation %} tags must surround the assistant content; check the template, or set "
                 "assistant_only_loss=false")
    return GuardResult(patched, patched is not None, int(sum(mask)), len(mask))


def anti_patterns(cfg, n_train: int, model_id: str) -> list[str]:
    """Known ways a LoRA run goes wrong; returned as warnings (the run still proceeds)."""
    warnings = []
    if n_train < 1000 and cfg.lora_r >= 64:
        warnings.append(f"{n_train} training rows with lora_r={cfg.lora_r}: a high rank on under 1k examples "
                        "mostly memorizes; r=8-16 is usually enough")
    if n_train < 1000 and cfg.num_train_epochs > 3:
        warnings.append(f"{n_train} training rows for {cfg.num_train_epochs:g} epochs: beyond 3 epochs small "
                        "sets overfit; prefer 1-3 epochs and early stopping")
    if cfg.method == "sft" and re.search(r"(instruct|chat|-it\b)", model_id, re.IGNORECASE) \
            and cfg.learning_rate > 1e-4:
        warnings.append(f"SFT of an instruction-tuned model ({model_id}) at learning_rate={cfg.learning_rate:g}: "
                        "raw chat data at a high rate erodes its instruction following; try 1e-5 to 5e-5 "
                        "or start from the base model")
    return warnings
