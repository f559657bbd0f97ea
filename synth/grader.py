"""An LLM judge that grades answers against references, and its calibration on human labels.

The eval gate (``sluice.train.gate``) and ``sluice train eval --calibrate`` use it. Each
judgment is distilabel's ``PrometheusEval`` task (absolute mode, with reference, a 1-5 rubric)
sent through a ``sluice.synth.llm.Backend``: the same clients, key handling (environment or key
file, never code), retries and egress guard as synthesis. Before any request, ``guard`` applies
the privacy rule: a non-loopback judge (``sluice.privacy.is_remote``) only sees a dataset whose
lineage holds a ``strong`` privacy certificate (``sluice.privacy.require_certified``), and never a
file without lineage, unless explicitly overridden.

A reply that does not parse is an error, counted and reported by reason
(``judge_unparseable``; a request that failed — an HTTP error status, a connection error — is a
``transport_error`` with its cause, never a parse failure) — never a score. Scores are
``(result - 1) / 4`` in 0-1.

Calibration compares the judge with human labels on the same items: exact agreement and
Cohen's kappa, with a warning when the judge disagrees on more than ``MAX_DISAGREEMENT`` of them.
It reports the parsed fraction and refuses to report agreement at all when fewer than
``MIN_PARSED_ITEMS`` judgments (or under ``MIN_PARSED_SHARE`` of the items) parsed.
Labels are the rubric's 1-5 scale, or pass/fail (true/false; the judge passes at ``PASS_AT``).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.errors import InputError

from .llm import GenerationFailed, LLMSpec

MAX_DISAGREEMENT = 0.20  # the seed guides' bar for trusting an LLM judge
MIN_PARSED_ITEMS = 10  # calibration reports no agreement on fewer parsed judgments than this
MIN_PARSED_SHARE = 0.9  # ... nor when fewer than this share of the labelled items parsed
PASS_AT = 4  # a judgment of 4 or 5 is a pass when labels are pass/fail
RUBRICS = ("helpfulness", "harmlessness", "honesty", "factual-validity", "reasoning")  # PrometheusEval's


@dataclass
class Judgments:
    results: list[int | None]  # 1-5, None where the judgment failed
    errors: Counter = field(default_factory=Counter)  # reason → count
    details: Counter = field(default_factory=Counter)  # cause → count (no reply text)

    @property
    def scores(self) -> list[float | None]:
        return [None if r is None else (r - 1) / 4 for r in self.results]

    def report(self) -> dict[str, Any]:
        return {"judged": sum(r is not None for r in self.results), "errors": dict(self.errors),
                "error_details": dict(self.details.most_common(3))}


def guard(spec: LLMSpec, store, *, version=None, what: str, allow_unredacted: bool = False) -> dict[str, Any]:
    """Refuse to send ``what`` to a non-loopback judge unless its lineage shows redaction.

    ``version`` is the dataset being sent (None: a file without lineage). Returns the privacy
    record for the results.
    """
    from sluice.privacy import require_certified

    record: dict[str, Any] = {"judge_endpoint": spec.base_url, "remote": spec.remote, "override": False}
    if not spec.remote:
        return record
    return {**record, **require_certified(version, store, action=f"send {what} to the judge at {spec.base_url}",
                                          override=allow_unredacted, what=what)}


def judge(items: list[dict[str, Any]], spec: LLMSpec, *, rubric: str = "helpfulness", backend=None) -> Judgments:
    """Grade ``items`` (``instruction``, ``generation``, ``reference``) with PrometheusEval.

    ``backend`` is a ready Backend (tests); otherwise one is built from ``spec`` and closed after.
    Runs under the egress guard: only the judge's host is contacted.
    """
    from .guard import egress_guard
    from .llm import build_backend
    from .tasks import make

    task = make("PrometheusEval", spec.model, mode="absolute", rubric=rubric, reference=True)
    with egress_guard([spec.host] if spec.host else []):
        own = backend is None
        backend = backend or build_backend(spec)
        try:
            return asyncio.run(_judge_all(task, items, backend))
        finally:
            if own:
                backend.close()


async def _judge_all(task, items, backend) -> Judgments:
    out = Judgments([])

    async def one(item):
        try:
            reply = await backend.chat(task.format_input(item))
        except GenerationFailed as e:  # the request itself failed (HTTP status, connection): not a parse failure
            return ("transport_error" if e.reason == "generation_failed" else e.reason), e.detail
        result = task.format_output(reply, item)["result"]
        return (result, None) if result is not None else ("judge_unparseable", "no '[RESULT] 1-5' in the reply")

    for value, detail in await asyncio.gather(*(one(it) for it in items)):
        if isinstance(value, int):
            out.results.append(value)
        else:
            out.results.append(None)
            out.errors[value] += 1
            out.details[detail] += 1
    return out


# -- calibration ------------------------------------------------------------------------------

def load_labels(path: str | Path) -> tuple[list[dict[str, Any]], list[int | bool]]:
    """JSONL rows ``{id, prompt (text or chat messages), answer, reference, label}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no labels file at {path}",
                         hint="JSONL, one item a line: {id, prompt, answer, reference, label (1-5 or true/false)}")
    items, labels = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt = row["prompt"]
            if isinstance(prompt, list):
                prompt = "\n".join(f"{m['role']}: {m['content']}" for m in prompt)
            item = {"instruction": str(prompt), "generation": str(row["answer"]), "reference": str(row["reference"])}
            label = row["label"]
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}:{n}: not a label row ({type(e).__name__}: {str(e)[:60]})",
                             hint="each line needs prompt, answer, reference and label") from None
        if not (isinstance(label, bool) or (isinstance(label, int) and 1 <= label <= 5)):
            raise InputError(f"{path}:{n}: field label must be 1-5 or true/false")
        items.append(item)
        labels.append(label)
    if not items:
        raise InputError(f"{path}: no labelled items")
    if len({isinstance(x, bool) for x in labels}) > 1:
        raise InputError(f"{path}: labels mix 1-5 scores and true/false; use one kind")
    return items, labels


def cohen_kappa(a: list, b: list) -> float:
    """Cohen's kappa of two raters over the same items."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else 0.0
    return (observed - expected) / (1 - expected)


def calibrate(labels: list[int | bool], judged: Judgments) -> dict[str, Any]:
    """Agreement and Cohen's kappa of the judge with human labels (failed judgments excluded, counted)."""
    binary = isinstance(labels[0], bool)
    pairs = [(h, (j >= PASS_AT) if binary else j) for h, j in zip(labels, judged.results) if j is not None]
    report: dict[str, Any] = {"items": len(labels), "scale": "pass/fail" if binary else "1-5", **judged.report()}
    report["parsed_fraction"] = len(pairs) / len(labels)
    if len(pairs) < MIN_PARSED_ITEMS or report["parsed_fraction"] < MIN_PARSED_SHARE:
        causes = ", ".join(f"{n} {why}" for why, n in sorted(judged.errors.items()))
        report.update(agreement=None, kappa=None, warning=(
            f"the judge's reply parsed for {len(pairs)} of {len(labels)} labelled items "
            f"({report['parsed_fraction']:.0%}; failed: {causes or 'none'}); agreement needs at least "
            f"{MIN_PARSED_ITEMS} parsed items and {MIN_PARSED_SHARE:.0%} of them, so none is reported"))
        return report
    human, machine = [h for h, _ in pairs], [m for _, m in pairs]
    agreement = sum(h == m for h, m in pairs) / len(pairs)
    report.update(agreement=agreement, kappa=cohen_kappa(human, machine), disagreement=1 - agreement,
                  max_disagreement=MAX_DISAGREEMENT)
    if 1 - agreement > MAX_DISAGREEMENT:
        report["warning"] = (f"the judge disagrees with the human labels on {1 - agreement:.0%} of "
                             f"{len(pairs)} items (limit {MAX_DISAGREEMENT:.0%}): do not trust its scores")
    return report


def calibrate_file(path: str | Path, spec: LLMSpec, store=None, *, rubric: str = "helpfulness",
                   allow_unredacted: bool = False, backend=None) -> dict[str, Any]:
    """Judge the labelled items of ``path`` and compare with their labels (see ``calibrate``)."""
    items, labels = load_labels(path)
    privacy = guard(spec, store, what=f"labelled items {Path(path).name}", allow_unredacted=allow_unredacted)
    report = calibrate(labels, judge(items, spec, rubric=rubric, backend=backend))
    return {**report, "labels": str(path), "rubric": rubric, "judge": spec.identity(), "privacy": privacy}
