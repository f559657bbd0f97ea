"""The chat-template guard, run before any training step, and warnings on known anti-patterns.

``guard(tokenizer, sample_messages, assistant_only_loss=True)`` checks that

1. the tokenizer has a chat template,
2. it renders a real conversation from the dataset,
3. the template's family (ChatML, Gemma, Llama 3, Mistral, Phi-3, by its turn markers) is the one
   whose control tokens the tokenizer carries: a Gemma template on a ChatML vocabulary would feed
   the turn markers as plain text, and fails naming both,
4. what the trainer feeds is, token for token, what the model's own template renders,
5. with assistant-only loss, the assistant mask is non-empty and covers exactly the assistant turns
   (tool-call turns included; user, system and tool-result turns excluded). TRL builds that mask
   from ``{% generation %}`` tags. A known template without them (Llama 3, Qwen 2.5/3, Gemma,
   Phi-3, …) is patched with TRL's training variant; an unknown one fails with what to do.

``preformatted(rows, family)`` refuses training rows whose text already carries a family's turn
markers (data formatted for one template, to be wrapped again by another).

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
    family: str | None = None


# Turn markers by template family: the first opens a turn, all are control tokens of that family.
FAMILIES = {
    "ChatML": ("<|im_start|>", "<|im_end|>"),
    "Gemma": ("<start_of_turn>", "<end_of_turn>"),
    "Llama 3": ("<|start_header_id|>", "<|eot_id|>"),
    "Phi-3": ("<|user|>", "<|end|>"),
    "Mistral": ("[INST]", "[/INST]"),
}


def template_family(template: str) -> str | None:
    return next((f for f, marks in FAMILIES.items() if marks[0] in template), None)


def vocabulary_families(tokenizer) -> list[str]:
    """Families whose turn markers are all single added (control) tokens of this tokenizer."""
    added = tokenizer.get_added_vocab()
    return [f for f, marks in FAMILIES.items() if all(m in added for m in marks)]


def check_family(tokenizer, template: str) -> str | None:
    family = template_family(template)
    native = vocabulary_families(tokenizer)
    if family and native and family not in native:
        raise TemplateError(
            f"the chat template is {family} ({FAMILIES[family][0]}), but the tokenizer's control tokens are "
            f"{' / '.join(native)} ({FAMILIES[native[0]][0]}): the model would see its turn markers as plain text",
            hint=f"use the model's own {native[0]} template (tokenizer_config.json 'chat_template' of the model), "
                 "or train a tokenizer/model pair that match")
    return family


def preformatted(rows: list[dict], family: str | None) -> None:
    """Refuse rows whose message text already holds a template's turn markers (no content is quoted)."""
    for row in rows:
        msgs = [m for key in ("messages", "prompt", "chosen", "rejected", "completion") for m in row.get(key) or []]
        for j, m in enumerate(msgs):
            content = m.get("content") or ""
            found = next((f for f, marks in FAMILIES.items() if marks[0] in content), None)
            if found:
                against = f"the {family} chat template" if family else "the chat template"
                raise TemplateError(
                    f"row id {row.get('id')}: message {j} ({m.get('role')}) is already formatted with {found} turn "
                    f"markers ({FAMILIES[found][0]}), and {against} would wrap it again",
                    hint="store plain role/content messages (ingest the raw conversation, not the rendered prompt)")


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
    family = check_family(tokenizer, template)
    own_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not assistant_only_loss:
        return GuardResult(None, False, len(own_ids), len(own_ids), family)

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
    try:  # exactly what TRL's SFTTrainer does with a conversational row
        out = tokenizer.apply_chat_template(sample, chat_template=patched, return_dict=True,
                                            return_assistant_tokens_mask=True)
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    except Exception:  # transformers fails on empty {% generation %} spans instead of returning no mask
        ids, mask = [], []
    if not sum(mask):
        raise TemplateError(
            "the assistant-only loss mask is empty: no token of the sample would be trained on",
            hint="the {% generation %} tags must surround the assistant content; check the template, or set "
                 "assistant_only_loss=false")
    if ids != list(own_ids):
        at = next((i for i, (a, b) in enumerate(zip(ids, own_ids)) if a != b), min(len(ids), len(own_ids)))
        raise TemplateError(
            f"the training template feeds {len(ids)} tokens where the model's own template renders {len(own_ids)}; "
            f"they differ from token {at} on",
            hint="the {% generation %} variant must render the same text as the model's template; fix the patched "
                 "template or set assistant_only_loss=false")
    check_mask(tokenizer, sample, ids, mask)
    return GuardResult(patched, patched is not None, int(sum(mask)), len(mask), family)


def check_mask(tokenizer, sample: list[dict], ids: list[int], mask: list[int]) -> None:
    """Every assistant turn (tool calls included) inside the trained tokens; no other turn's text in them."""
    spans, cur = [], []
    for i, m in zip(ids, mask):
        if m:
            cur.append(i)
        elif cur:
            spans.append(tokenizer.decode(cur, clean_up_tokenization_spaces=False))
            cur = []
    if cur:
        spans.append(tokenizer.decode(cur, clean_up_tokenization_spaces=False))
    trained = "\n".join(spans)
    answers = [(m.get("content") or "").strip() for m in sample if m["role"] == "assistant"]
    for n, (m, content) in enumerate((m, (m.get("content") or "").strip()) for m in sample):
        if not content:
            continue
        if m["role"] == "assistant" and content not in trained:
            raise TemplateError(f"turn {n} (assistant) is not fully inside the assistant-only loss mask",
                                hint="the {% generation %} tags must surround every assistant turn, tool calls "
                                     "included")
        if m["role"] != "assistant" and content in trained and not any(content in a for a in answers):
            raise TemplateError(f"turn {n} ({m['role']}) is inside the assistant-only loss mask: the model would "
                                "be trained to write it",
                                hint="the {% generation %} tags must surround only the assistant turns")


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
