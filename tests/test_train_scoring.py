"""Per-item scoring and the paired bootstrap shared by the eval gate and the experiments."""

from __future__ import annotations

import math

import pytest

from sluice.train.stats import paired_bootstrap


def test_bootstrap_gain_inside_the_noise_has_a_lower_bound_below_zero():
    ref = [0.0, 1.0] * 10
    cand = [1.0, 0.0] * 10  # same mean, every item changed
    ci = paired_bootstrap(ref, cand, seed=1)
    assert ci.mean == 0.0 and ci.low < 0 < ci.high


def test_bootstrap_consistent_gain_has_a_positive_lower_bound():
    ref = [0.1 * i for i in range(30)]
    cand = [x + 0.5 + (0.01 if i % 2 else -0.01) for i, x in enumerate(ref)]
    ci = paired_bootstrap(ref, cand)
    assert ci.low > 0.4 and ci.high < 0.6 and ci.n == 30
    assert paired_bootstrap(ref, cand).as_dict() == ci.as_dict()  # deterministic for a seed


def test_bootstrap_with_one_item_is_unbounded():
    ci = paired_bootstrap([0.0], [1.0])
    assert ci.low == -math.inf and ci.high == math.inf
    with pytest.raises(ValueError):
        paired_bootstrap([0.0], [1.0, 2.0])


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from sluice.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def test_reference_loglik_is_batch_invariant(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sluice.train.scoring import reference_loglik

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [[{"role": "user", "content": "hi there"}],
               [{"role": "user", "content": "what is two plus two, tell me please"}]]
    refs = ["hello", "four"]
    one = reference_loglik(model, tok, prompts, refs, batch_size=1)
    two = reference_loglik(model, tok, prompts, refs, batch_size=2)
    assert all(math.isfinite(x) and x < 0 for x in one)
    assert one == pytest.approx(two, abs=1e-4)
