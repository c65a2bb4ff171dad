"""The policy-gradient controller (numpy, analytic gradients) against torch autograd; rewards;
baseline; schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import budgetnas as bn
from budgetnas.errors import SearchConfigError
from budgetnas.search import CategoricalController, EMABaseline, tunas_schedule
from budgetnas.search.rewards import (
    absolute_reward,
    make_reward,
    mnas_hard_reward,
    mnas_soft_reward,
)


def conditional_space() -> bn.Space:
    return bn.Space({
        "op": bn.oneof([{"k": bn.oneof([3, 5, 7])}, {"pool": bn.oneof(["max", "avg"])}, "skip"]),
        "w": bn.oneof([8, 16, 32, 64]),
    })


def controller(space: bn.Space, **kw) -> CategoricalController:
    s = space.spec
    return CategoricalController(s.num_choices, s.parent, s.parent_choice, **kw)


def test_samples_are_valid_children_with_inactive_marked():
    space = conditional_space()
    ctrl = controller(space)
    X = ctrl.sample(2000, np.random.default_rng(0))
    assert X.dtype == np.int64 and X.shape == (2000, space.num_decisions)
    for row in X[:50]:
        space.validate(space.from_vector(row))
    np.testing.assert_array_equal(X < 0, ~space.active_mask(X))
    # zero logits: uniform per decision
    counts = np.bincount(X[:, 0], minlength=3) / 2000
    np.testing.assert_allclose(counts, 1 / 3, atol=0.04)


def test_log_prob_and_gradients_match_torch_autograd():
    space = conditional_space()
    rng = np.random.default_rng(1)
    ctrl = controller(space, entropy_weight=0.3)
    ctrl.logits = np.where(ctrl.valid, rng.normal(size=ctrl.logits.shape), 0.0)
    X = ctrl.sample(64, rng)
    w = rng.normal(size=64)
    logits = torch.tensor(ctrl.logits, requires_grad=True)
    lp = ctrl.log_prob_torch(X, logits)
    np.testing.assert_allclose(lp.detach().numpy(), ctrl.log_prob(X), rtol=1e-12)
    (lp * torch.as_tensor(w)).sum().backward()
    np.testing.assert_allclose(ctrl.score_grad(X, w), logits.grad.numpy(), atol=1e-12)
    # entropy gradient
    logits2 = torch.tensor(ctrl.logits, requires_grad=True)
    z = logits2.masked_fill(~torch.as_tensor(ctrl.valid), float("-inf"))
    valid = torch.as_tensor(ctrl.valid)
    L = torch.where(valid, torch.log_softmax(z, 1), torch.zeros_like(z))
    H = -(torch.softmax(z, 1) * L).sum()
    H.backward()
    assert H.item() == pytest.approx(ctrl.entropy())
    np.testing.assert_allclose(ctrl.entropy_grad(), logits2.grad.numpy(), atol=1e-12)


def test_update_equals_torch_adam_on_the_reinforce_loss():
    space = conditional_space()
    rng = np.random.default_rng(2)
    ctrl = controller(space, lr=0.05, betas=(0.0, 0.999), baseline_momentum=0.9)
    logits = torch.zeros(ctrl.logits.shape, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05, betas=(0.0, 0.999), eps=1e-8)
    base = EMABaseline(0.9)
    for _ in range(20):
        X = ctrl.sample(8, rng)
        R = rng.random(8)
        b = base.value if base.value is not None else R.mean()
        opt.zero_grad()
        loss = -((torch.as_tensor(R - b)) * ctrl.log_prob_torch(X, logits)).mean()
        loss.backward()
        opt.step()
        base.update(R.mean())
        ctrl.update(X, R)
    np.testing.assert_allclose(ctrl.logits, logits.detach().numpy(), atol=1e-9)


def test_bias_corrected_baseline():
    b = EMABaseline(0.9)
    assert b.value is None
    b.update(2.0)
    assert b.value == pytest.approx(2.0)  # no pull towards zero after one reward
    b.update(4.0)
    assert b.value == pytest.approx((0.9 * 0.1 * 2 + 0.1 * 4) / (0.9 * 0.1 + 0.1))


def test_delay_and_tunas_schedule():
    delay, sched = tunas_schedule(100, frozen_fraction=0.25, growth=10.0)
    assert delay == 25 and sched(25) == pytest.approx(1.0) and sched(100) == pytest.approx(10.0)
    ctrl = CategoricalController([3, 3], lr=0.1, delay_steps=delay, lr_schedule=sched)
    rng = np.random.default_rng(0)
    for _ in range(25):
        ctrl.update(ctrl.sample(4, rng), rng.random(4))
    assert np.all(ctrl.logits == 0.0) and ctrl.baseline.value is not None
    ctrl.update(ctrl.sample(4, rng), np.array([0.0, 1.0, 0.0, 1.0]))
    assert np.any(ctrl.logits != 0.0)
    assert ctrl.current_lr() == pytest.approx(0.1 * 10 ** (1 / 75))


def test_controller_learns_the_best_child():
    ctrl = CategoricalController([4, 4, 4], lr=0.1, betas=(0.9, 0.999))
    rng = np.random.default_rng(0)
    target = np.array([3, 0, 2])
    for _ in range(300):
        X = ctrl.sample(4, rng)
        ctrl.update(X, (X == target).sum(axis=1).astype(float))
    np.testing.assert_array_equal(ctrl.argmax(), target)


def test_rewards_values_and_beta_validation():
    assert absolute_reward(0.7, 120.0, 100.0, -0.1) == pytest.approx(0.68)
    assert absolute_reward(0.7, 80.0, 100.0, -0.1) == pytest.approx(0.68)  # symmetric
    assert mnas_soft_reward(0.7, 200.0, 100.0, -0.07) == pytest.approx(0.7 * 2 ** -0.07)
    assert mnas_soft_reward(0.7, 50.0, 100.0, -0.07) > 0.7  # a bonus under the target
    assert mnas_hard_reward(0.7, 50.0, 100.0, -0.07) == pytest.approx(0.7)
    assert mnas_hard_reward(0.7, 200.0, 100.0, -1.0) == pytest.approx(0.35)
    np.testing.assert_allclose(absolute_reward(np.array([0.5, 0.6]), np.array([100, 150]), 100),
                               [0.5, 0.55])
    for fn in (absolute_reward, mnas_soft_reward, mnas_hard_reward):
        with pytest.raises(SearchConfigError, match="beta < 0"):
            fn(0.7, 120.0, 100.0, 0.1)
    with pytest.raises(SearchConfigError, match="positive"):
        absolute_reward(0.7, 1.0, 0.0, -0.1)
    with pytest.raises(SearchConfigError, match="unknown reward"):
        make_reward("relu")
    with pytest.raises(SearchConfigError, match="beta < 0"):
        bn.search.Reinforce("mnas_hard", beta=0.5)


def test_state_dict_round_trip():
    ctrl = CategoricalController([3, 5], lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        ctrl.update(ctrl.sample(4, rng), rng.random(4))
    other = CategoricalController([3, 5], lr=0.1)
    other.load_state_dict(ctrl.state_dict())
    X = ctrl.sample(4, np.random.default_rng(1))
    R = np.arange(4.0)
    ctrl.update(X, R)
    other.update(X, R)
    np.testing.assert_array_equal(ctrl.logits, other.logits)
    with pytest.raises(SearchConfigError, match="different space"):
        CategoricalController([3, 4]).load_state_dict(ctrl.state_dict())
