"""TabNAS: the toy example of papers.md §2, the P(V) correction (exact vs Monte-Carlo), and the
final pick (exact, dynamic programme, sampling)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.cost import Constraint, FunctionCost
from budgetnas.errors import SearchConfigError
from budgetnas.search import Reinforce, TabNAS

WIDTHS = np.array([2, 3, 4])
LOSS = np.array([[0.9, 0.9, 0.66], [0.9, 0.66, 0.3], [0.6, 0.3, 0.1]])  # row h1, column h2


def toy_space() -> bn.Space:
    return bn.Space({"h1": bn.oneof([2, 3, 4]), "h2": bn.oneof([2, 3, 4])})


def toy_params(X: np.ndarray) -> np.ndarray:
    h1, h2 = WIDTHS[X[:, 0]], WIDTHS[X[:, 1]]
    return (3 * h1 + h1 * h2 + h2 + h2 + 1).astype(float)


def toy_constraint() -> Constraint:
    return Constraint(FunctionCost(toy_params, unit="parameters", name="params"), max=25)


def run_toy(algo, steps: int = 500):
    space = toy_space()
    algo.setup(space.spec, [toy_constraint()] if isinstance(algo, TabNAS) else [])
    for _ in range(steps):
        dna = algo.propose()
        algo.feedback(dna, 1.0 - LOSS[dna[0], dna[1]])
    return algo


def test_toy_feasible_set_is_the_papers():
    algo = TabNAS(seed=0)
    algo.setup(toy_space().spec, [toy_constraint()])
    got = {tuple(WIDTHS[x]) for x in algo.feasibility.feasible_set}
    assert got == {(2, 2), (2, 3), (2, 4), (3, 2), (3, 3), (4, 2)}


@pytest.mark.slow
def test_toy_rejection_finds_the_bottleneck_and_absolute_reward_does_not():
    reps = 24
    rejection = np.mean([tuple(run_toy(TabNAS(seed=r)).most_probable_feasible()) == (2, 0)
                         for r in range(reps)])
    cost = FunctionCost(toy_params, unit="parameters", name="params")
    absolute = np.mean([tuple(run_toy(Reinforce("abs", cost=cost, target=25, beta=-0.5,
                                                lr=0.05, betas=(0.9, 0.999),
                                                baseline_momentum=0.9, seed=r)).argmax_dna())
                        == (2, 0) for r in range(reps)])
    assert rejection >= 0.6  # paper and re-simulation: 65-77 % (500 repetitions)
    assert absolute <= 0.25


def _mlp_params(X: np.ndarray) -> np.ndarray:
    w = 8 * (X + 1)
    d = np.concatenate([np.full((len(X), 1), 10), w, np.ones((len(X), 1), dtype=np.int64)], 1)
    return ((d[:, :-1] + 1) * d[:, 1:]).sum(axis=1).astype(float)


def mlp_space(layers: int = 3, widths: int = 6) -> bn.Space:
    return bn.Space({"w": [bn.oneof(list(range(widths)), name=f"l{i}") for i in range(layers)]})


def test_monte_carlo_correction_matches_the_exact_one():
    space = mlp_space()
    con = Constraint(FunctionCost(_mlp_params, unit="parameters", name="params"), max=1500)
    exact = TabNAS(seed=0, pv="exact")
    exact.setup(space.spec, [con])
    rng = np.random.default_rng(3)
    logits = np.where(exact.controller.valid, rng.normal(size=exact.controller.logits.shape), 0)
    exact.controller.logits = logits
    g_exact = exact._correction()
    for mode in ("mc", "mc_sum"):
        mc = TabNAS(seed=1, pv=mode, exact_threshold=10, num_mc_samples=200_000)
        mc.setup(space.spec, [con])
        mc.controller.logits = logits
        g_mc = mc._correction()
        if mode == "mc":
            np.testing.assert_allclose(g_mc, g_exact, atol=0.01)
            assert mc.pv_ == pytest.approx(exact.pv_, rel=0.02)
        else:  # the notebook's estimator is a different quantity (no 1/N): not ∇ log P(V)
            assert mc.pv_ > 1.0 > exact.pv_


def test_most_probable_feasible_exact_dp_and_sampling_agree_with_brute_force():
    space = mlp_space(layers=4, widths=8)
    con = Constraint(FunctionCost(_mlp_params, unit="parameters", name="params"), max=2500)
    X = np.array(list(itertools.product(range(8), repeat=4)))
    ok = _mlp_params(X) <= 2500
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 8)) * 2
    picks = {}
    for name, kw in {"exact": dict(pv="exact"),
                     "dp": dict(pv="mc", exact_threshold=10),
                     }.items():
        algo = TabNAS(seed=0, **kw)
        algo.setup(space.spec, [con])
        if name == "dp":  # not enumerated: the chain structure must do it alone
            assert algo.feasibility.feasible_set is None
            assert algo.feasibility.chains[0] is not None
        algo.controller.logits = logits
        picks[name] = tuple(algo.most_probable_feasible())
    lp = TabNAS(seed=0)
    lp.setup(space.spec, [con])
    lp.controller.logits = logits
    scores = lp.controller.log_prob(X)
    truth = tuple(X[ok][np.argmax(scores[ok])])
    assert picks["exact"] == truth
    assert picks["dp"] == truth


def test_dynamic_programme_on_a_space_too_big_to_enumerate():
    space = mlp_space(layers=6, widths=20)  # 6.4e7 children
    con = Constraint(FunctionCost(_mlp_params, unit="parameters", name="params"), max=20_000)
    algo = TabNAS(seed=0)
    algo.setup(space.spec, [con])
    assert algo.feasibility.chains[0] is not None and algo.feasibility.feasible_set is None
    rng = np.random.default_rng(1)
    algo.controller.logits = rng.normal(size=algo.controller.logits.shape)
    best = np.array(algo.most_probable_feasible())
    assert _mlp_params(best[None])[0] <= 20_000
    # no feasible sample is more probable than the dynamic programme's pick
    X = algo.controller.sample(200_000, rng)
    X = X[_mlp_params(X) <= 20_000]
    assert algo.controller.log_prob(X).max() <= algo.controller.log_prob(best[None])[0] + 1e-12


def test_exact_mode_refuses_a_big_space():
    with pytest.raises(SearchConfigError, match="exact_threshold"):
        TabNAS(pv="exact", exact_threshold=100).setup(mlp_space(4, 8).spec, [])


def test_own_budget_and_batch_api():
    space = mlp_space()
    algo = TabNAS(cost=FunctionCost(_mlp_params, unit="parameters"), max=1200, seed=0,
                  batch_size=4)
    algo.setup(space.spec)
    X = algo.propose_batch(64)
    assert np.all(_mlp_params(X) <= 1200)
    info = algo.feedback_batch(X, -_mlp_params(X) / 1000)
    assert 0 < algo.pv_ < 1 and set(info) == {"baseline", "advantage", "lr"}
