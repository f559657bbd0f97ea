"""Per-item scores of a model on golden items — the cheap, generation-free metric.

``reference_loglik`` is the mean log-probability per token of the reference answer given the
prompt, rendered with the model's own chat template (the same rendering training uses). It needs
one batched forward pass per item batch, so it is the metric of choice on CPU, where greedy
generation runs at a few tokens per second. Higher is better; it is comparable between two
models only when they share a tokenizer (a base model and its adapters do).
"""

from __future__ import annotations


def _encode(tokenizer, prompt: list[dict], reference: str) -> tuple[list[int], int]:
    """Token ids of prompt + reference answer and the index where the answer starts."""
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": reference}], tokenize=False)
    if not full.startswith(head):  # a template that rewrites earlier turns: fall back to plain concatenation
        full = head + reference + (tokenizer.eos_token or "")
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    return full_ids, min(len(head_ids), len(full_ids))


def reference_loglik(model, tokenizer, prompts: list[list[dict]], references: list[str], *,
                     batch_size: int = 8, max_length: int = 1024) -> list[float]:
    """Mean log-prob per reference token, one float per item (aligned with ``prompts``).

    Sequences longer than ``max_length`` keep their end (the answer) and lose the prompt's start.
    An item whose reference renders to no tokens scores ``nan`` (callers treat it as not computed).
    """
    import torch

    if len(prompts) != len(references):
        raise ValueError(f"{len(prompts)} prompts but {len(references)} references")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    encoded = []
    for p, r in zip(prompts, references):
        ids, start = _encode(tokenizer, p, r)
        cut = max(0, len(ids) - max_length)
        encoded.append((ids[cut:], max(0, start - cut)))
    # Longest first keeps padding small inside each batch; the result is put back in input order.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    scores = [float("nan")] * len(encoded)
    model.eval()
    device = getattr(model, "device", "cpu")
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        width = max(len(encoded[i][0]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        attention = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):  # right padding: positions stay those of an unpadded sequence
            ids = encoded[i][0]
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        target = input_ids[:, 1:].to(logp.device)
        token_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        for row, i in enumerate(idx):
            ids, start = encoded[i]
            lo, hi = max(start, 1) - 1, len(ids) - 1  # predictions of tokens start..len-1
            if hi > lo:
                scores[i] = float(token_lp[row, lo:hi].mean())
    return scores
