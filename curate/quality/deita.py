"""DEITA scorer backends (Liu et al., "What Makes Good Data for Alignment?", ICLR 2024).

A DEITA score is the expected value of the score the scorer model would write next, over the
probabilities of the tokens "1".."6" that follow the DEITA prompt (softmax restricted to those
six tokens): complexity on the instruction, quality on instruction + response. The prompts are
the ones the released scorers (hkust-nlp/deita-complexity-scorer, deita-quality-scorer) were
trained with, character for character — change them and the scores mean nothing.

Backends:
  * ``TransformersBackend`` — a causal LM by hub id or local path; batched forward passes
    (left padding, explicit position ids so a prompt scores the same in any batch), on CUDA
    when present.
  * ``OpenAIBackend`` — any OpenAI-compatible ``/v1/completions`` endpoint that returns
    ``logprobs`` (vLLM serving the scorers, for instance), through ``sluice.synth.llm``.

``heuristic_scores`` is *not* DEITA: a cheap, documented, offline stand-in on the same 1..6
scale, used when no scorer model is configured, and always reported under its own name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from sluice.errors import RecipeError, SluiceError

COMPLEXITY_PROMPT = ("You are a helpful assistant. Please identify the complexity score of the following user query. "
                     "\n##Query: {instruction}  \n##Complexity: ")
QUALITY_PROMPT = ("You are a helpful assistant. Please identify the quality score of the Response corresponding to "
                  "the Question. \n #Question#:\n{instruction}\n#Response#:\n{output} \n##Quality: ")
DIGITS = ("1", "2", "3", "4", "5", "6")


def complexity_prompt(instruction: str) -> str:
    return COMPLEXITY_PROMPT.format(instruction=instruction)


def quality_prompt(instruction: str, response: str) -> str:
    return QUALITY_PROMPT.format(instruction=instruction, output=response)


def expected_score(logits: Sequence[float | None]) -> float | None:
    """Σ k·softmax(logits)_k over the six score tokens; a missing token has probability 0."""
    present = [(k, x) for k, x in enumerate(logits, start=1) if x is not None and math.isfinite(x)]
    if not present:
        return None
    top = max(x for _, x in present)
    weights = [(k, math.exp(x - top)) for k, x in present]
    total = sum(w for _, w in weights)
    return sum(k * w for k, w in weights) / total


class TransformersBackend:
    """DEITA scores from a local or hub causal LM (the released scorers are Llama-based)."""

    def __init__(self, model: str, *, batch_size: int = 8, max_length: int = 2048, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
        except OSError as e:
            raise RecipeError(f"quality_score: cannot load the scorer model {model!r}: {e}",
                              hint="give a local path, or a hub id that is cached (HF_HUB_OFFLINE=1 forbids downloads), "
                                   "e.g. hkust-nlp/deita-quality-scorer") from None
        self.tokenizer.padding_side = "left"
        self.tokenizer.truncation_side = "left"  # keep the end of the prompt, where the score is asked for
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.score_ids = [self._token_id(d, model) for d in DIGITS]
        self.batch_size, self.max_length = batch_size, max_length

    def _token_id(self, digit: str, model: str) -> int:
        tid = self.tokenizer.convert_tokens_to_ids(digit)
        if tid is None or tid == self.tokenizer.unk_token_id:
            ids = self.tokenizer.encode(digit, add_special_tokens=False)
            if len(ids) != 1:
                raise RecipeError(f"quality_score: the tokenizer of {model!r} has no single token for {digit!r}",
                                  hint="DEITA scoring needs a model whose vocabulary holds the digits 1..6")
            tid = ids[0]
        return int(tid)

    def score(self, prompts: list[str]) -> list[float | None]:
        torch = self.torch
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[float | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.max_length).to(self.device)
            positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                    position_ids=positions).logits[:, -1, :]
            picked = logits[:, self.score_ids].float().cpu().tolist()
            for i, row in zip(idx, picked):
                out[i] = expected_score(row)
        return out


class OpenAIBackend:
    """DEITA scores from an OpenAI-compatible ``/v1/completions`` endpoint returning top logprobs,
    through the project's one LLM client (``sluice.synth.llm.CompletionClient``: the same key, retry
    and fatal rules as every other endpoint call)."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", batch_size: int = 8,
                 top_logprobs: int = 20, timeout: float = 120.0):
        from sluice.synth.llm import CompletionClient, LLMSpec

        spec = LLMSpec(backend="openai", model=model, base_url=base_url, api_key_env=api_key_env, timeout_s=timeout)
        self.client = CompletionClient(spec)
        self.model, self.batch_size, self.top_logprobs, self.base_url = model, batch_size, top_logprobs, base_url

    def score(self, prompts: list[str]) -> list[float | None]:
        from sluice.synth.llm import GenerationFailed

        out: list[float | None] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            try:
                tops = self.client.top_logprobs(chunk, self.top_logprobs)
            except GenerationFailed as e:  # the message names the endpoint and the cause, never the prompt
                raise SluiceError(f"quality_score: the endpoint {self.base_url} failed ({e.detail})",
                                  hint="check that it serves /v1/completions with logprobs for model "
                                       f"{self.model!r} (e.g. vLLM)") from None
            for top in tops:
                if not top:
                    raise SluiceError(f"quality_score: {self.base_url} returned no logprobs",
                                      hint="the endpoint must support `logprobs` on /v1/completions")
                out.append(expected_score(_digit_logprobs(top)))
        return out


def _digit_logprobs(top: dict[str, float]) -> list[float | None]:
    """Log-probabilities of "1".."6" among the top tokens ("1" and " 1" count as the same score)."""
    probs = dict.fromkeys(DIGITS, 0.0)
    for token, lp in top.items():
        token = token.strip()
        if token in probs:
            probs[token] += math.exp(lp)
    return [math.log(p) if p > 0 else None for p in probs.values()]


# -- the offline heuristic scorer (not DEITA) ---------------------------------------------------

HEURISTIC_NAME = "heuristic-v1"
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
# A word: a run of word characters, except that Chinese/Japanese characters (scripts written
# without spaces) count one each — `\w+` made a whole Chinese answer one "word" and ranked CJK
# rows last (BENCHMARKS.md, CJK check).
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_ASKS = re.compile(r"(?i)\b(explain|compare|why|how|step|must|should|at least|without|design|implement|prove|"
                   r"analy[sz]e|optimi[sz]e|write|constraints?|edge cases?)\b|[?？]")
_CODE = re.compile(r"```|`[^`]+`|\b(def|class|function|SELECT|import)\b|[=<>+*/^]\s*\d")
_STRUCTURE = re.compile(r"(?m)^\s*(?:[-*•]|\d+[.)、．）])\s?|```|\n\n")
_REFUSAL = re.compile(r"(?i)\bas an ai(?: language)? model\b|\bi(?:'m| am) sorry,? but i can|\bi can(?:no|')t help")


def word_count(text: str) -> int:
    """Words, with each Chinese/Japanese character counted as one."""
    return len(_WORD.findall(text))


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))


def heuristic_complexity(instruction: str) -> float:
    """1..6 from the instruction's length (log words), its asks and constraints, and code/maths in it."""
    words = _WORD.findall(instruction)
    length = _unit(math.log1p(len(words)) / math.log(200))
    asks = _unit(len(_ASKS.findall(instruction)) / 4)
    code = 1.0 if _CODE.search(instruction) else 0.0
    return 1.0 + 5.0 * (0.5 * length + 0.3 * asks + 0.2 * code)


def heuristic_quality(instruction: str, response: str) -> float:
    """1..6 from the response's length, structure, lexical variety, and absence of repetition and refusal."""
    words = [w.lower() for w in _WORD.findall(response)]
    if not words:
        return 1.0
    length = _unit(math.log1p(len(words)) / math.log(300))
    structure = _unit(len(_STRUCTURE.findall(response)) / 3)
    variety = len(set(words)) / len(words)
    grams = list(zip(words, words[1:], words[2:]))
    fresh = len(set(grams)) / len(grams) if grams else 1.0
    polite_no = 0.0 if _REFUSAL.search(response) else 1.0
    return 1.0 + 5.0 * (0.35 * length + 0.15 * structure + 0.1 * variety + 0.2 * fresh + 0.2 * polite_no)
