"""Hard constraints: impossible budgets fail at once naming the minimum; tiny feasible fractions
are found without endless loops; pruning and the chain dynamic programme are exact."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.cost import Constraint, FunctionCost
from budgetnas.errors import InfeasibleBudgetError
from budgetnas.search import (
    ChainCost,
    Feasibility,
    Grid,
    Mutator,
    NeuralPredictor,
    Random,
    RegularizedEvolution,
    Reinforce,
    TabNAS,
)
from budgetnas.search.feasibility import group_valid

FACTORIES = [
    lambda: RegularizedEvolution(population_size=10, tournament_size=3, seed=0),
    lambda: Reinforce("abs", seed=0),
    lambda: TabNAS(seed=0),
    lambda: NeuralPredictor(num_initial=5, seed=0),
    lambda: Random(seed=0),
    lambda: Grid(),
]


def widths_space(layers: int, choices: int) -> bn.Space:
    return bn.Space({"w": [bn.oneof(list(range(1, choices + 1)), name=f"l{i}")
                           for i in range(layers)]})


def mlp_params(widths: np.ndarray, d_in: int = 10) -> np.ndarray:
    """Parameters of an MLP d_in → widths... → 1: a chain cost (neighbouring layers multiply)."""
    W = np.concatenate([np.full((len(widths), 1), d_in), widths, np.ones((len(widths), 1))], 1)
    return ((W[:, :-1] + 1) * W[:, 1:]).sum(axis=1).astype(float)


@pytest.mark.parametrize("make", FACTORIES)
@pytest.mark.parametrize("layers,choices", [(3, 4), (7, 10)])  # enumerated; 10^7: structure
def test_impossible_budget_errors_at_once_with_the_minimum(make, layers, choices):
    space = widths_space(layers, choices)
    cost = FunctionCost(lambda X: mlp_params(X + 1), unit="parameters", name="params")
    smallest = mlp_params(np.ones((1, layers), dtype=int))[0]
    start = time.perf_counter()
    with pytest.raises(InfeasibleBudgetError) as info:
        bn.Study(space, make(), constraints=[Constraint(cost, max=smallest - 1)])
    assert time.perf_counter() - start < 5.0
    assert f"{smallest:.6g}" in str(info.value)  # names the smallest achievable cost


def test_model_min_cost_is_used_without_pricing():
    calls = []

    def fn(X):
        calls.append(len(X))
        return X.sum(axis=1).astype(float)

    cost = FunctionCost(fn, unit="ms", name="lat", min_cost=3.0)
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable lat is 3 ms"):
        RegularizedEvolution(seed=0).setup(widths_space(30, 5).spec, [Constraint(cost, max=2.0)])
    assert calls == []


def test_monotone_flag_gives_the_exact_minimum_of_a_non_additive_cost():
    space = widths_space(12, 6)  # 2e9 children, product cost: neither enumerable nor a chain
    cost = FunctionCost(lambda X: np.prod(X + 1.0, axis=1), unit="MACs", name="macs",
                        is_monotone=True)
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable macs is 1 MACs"):
        Feasibility(space.spec, [Constraint(cost, max=0.5)]).analyse(np.random.default_rng(0))
    feas = Feasibility(space.spec, [Constraint(cost, max=4.0)]).analyse(np.random.default_rng(0))
    # a child costs <= 4 only with every decision at most 3 (value 4): pruning keeps 0..3
    assert feas.allowed is not None and feas.allowed[:, :4].all() and not feas.allowed[:, 4:].any()
    # inside the box, 103 of 4^12 children fit (6e-6): rejection still finds some, in bounds
    X = feas.sample(3, np.random.default_rng(1))
    assert np.all(np.prod(X + 1.0, axis=1) <= 4.0)


def test_bounded_search_reports_smallest_found_for_a_black_box():
    space = widths_space(9, 8)  # 1.3e8 children, cost without structure or flags
    cost = FunctionCost(lambda X: 50.0 + np.abs(np.sin(X.sum(axis=1) * 1.3)) + (X[:, 0] * X[:, 1]),
                        unit="ms", name="lat")
    start = time.perf_counter()
    with pytest.raises(InfeasibleBudgetError, match="smallest costs found are lat 50"):
        Feasibility(space.spec, [Constraint(cost, max=10.0)]).analyse(np.random.default_rng(0))
    assert time.perf_counter() - start < 20.0


@pytest.mark.parametrize("make", FACTORIES)
def test_one_child_in_a_million_is_found_without_an_endless_loop(make):
    space = widths_space(6, 10)  # 10^6 children
    target = np.array([[3, 1, 4, 1, 5, 9]])
    # a black-box cost: zero only at `target`, large elsewhere; exactly one child fits
    cost = FunctionCost(lambda X: np.abs(X - target).sum(axis=1) * 7.0 + 1.0, unit="ms", name="lat")
    algo = make()
    algo.setup(space.spec, [Constraint(cost, max=1.0)])
    assert tuple(algo.propose()) == tuple(target[0])


@pytest.mark.parametrize("make", FACTORIES)
def test_tiny_fraction_of_a_huge_additive_space(make):
    space = widths_space(8, 10)  # 10^8 children, not enumerable
    w = np.array([1, 2, 3, 5, 8, 13, 21, 34, 55, 89], dtype=float)
    cost = FunctionCost(lambda X: w[X].sum(axis=1), unit="parameters", name="params")
    budget = 8 * 1 + 3  # about 1e-7 of the space fits
    algo = make()
    algo.setup(space.spec, [Constraint(cost, max=budget)])
    for _ in range(10):
        dna = algo.propose()
        assert w[np.array(dna)].sum() <= budget
        algo.feedback(dna, float(-np.sum(dna)))


def test_sampling_gives_up_with_the_estimated_fraction():
    space = widths_space(9, 8)
    cost = FunctionCost(lambda X: (X.sum(axis=1) != 17) * 100.0 + (X[:, 0] != 7) * 100.0,
                        unit="ms", name="lat")
    feas = Feasibility(space.spec, [Constraint(cost, max=0.0)], max_draws=50_000,
                       search_samples=200_000)
    feas.analyse(np.random.default_rng(0))  # random draws do find a few feasible children
    frac = feas.feasible(space.spec.sample_batch(400_000, np.random.default_rng(5))).mean()
    with pytest.raises(InfeasibleBudgetError, match="estimated feasible fraction"):
        feas.sample(10_000, np.random.default_rng(1))
    assert 0 < frac < 1e-3


def test_chain_cost_detection_and_dynamic_programme_match_brute_force():
    rng = np.random.default_rng(0)
    nc = np.array([4, 3, 5, 4])
    chain = ChainCost.detect(lambda X: mlp_params(X + 2, d_in=3), nc, rng)
    assert chain is not None and not chain.is_additive
    X = np.array(list(itertools.product(*[range(n) for n in nc])))
    true = mlp_params(X + 2, d_in=3)
    np.testing.assert_allclose(chain(X), true)
    x, smallest = chain.argmin()
    assert smallest == true.min() and mlp_params(x[None] + 2, d_in=3)[0] == smallest
    mg = chain.min_given()
    for d in range(len(nc)):
        for c in range(nc[d]):
            assert mg[d, c] == true[X[:, d] == c].min()
    score = np.where(np.arange(5)[None, :] < nc[:, None], rng.normal(size=(4, 5)), -np.inf)
    total = score[np.arange(4), X].sum(axis=1)
    for budget in (true.min(), np.median(true), true.max()):
        best = chain.best_under(score, budget)
        ok = true <= budget
        assert total[ok].max() == pytest.approx(score[np.arange(4), best].sum())
        assert mlp_params(best[None] + 2, d_in=3)[0] <= budget
    assert chain.best_under(score, true.min() - 1) is None
    assert ChainCost.detect(lambda X: np.prod(X + 1.0, axis=1), nc, rng) is None


def test_mutation_changes_exactly_one_decision_and_keeps_groups_valid():
    space = bn.Space({"a": bn.oneof([1, 2, 3]), "b": bn.oneof([4, 5]),
                      "m": bn.manyof(3, list("abcdef"), distinct=True, sorted=True)})
    mutate, rng = Mutator(space.spec), np.random.default_rng(0)
    x = space.to_vector([0, 0, 0, 1, 2])
    for _ in range(300):
        y = mutate(x, rng)
        assert group_valid(space.spec, y[None])[0]
        assert not np.array_equal(x, y)
        if not np.array_equal(x[:2], y[:2]):
            assert np.sum(x != y) == 1
        space.validate(space.from_vector(y))
        x = y


def test_mutation_resamples_the_subtree_it_activates():
    space = bn.Space({"op": bn.oneof([{"conv": bn.oneof([3, 5])},
                                      {"pool": bn.oneof(["max", "avg"]),
                                       "stride": bn.oneof([1, 2])}])})
    mutate, rng = Mutator(space.spec), np.random.default_rng(0)
    seen = set()
    x = space.to_vector([0, 1])
    for _ in range(400):
        x = mutate(x, rng)
        space.validate(space.from_vector(x))
        seen.add(tuple(space.from_vector(x)))
    assert len(seen) == space.size  # every child reachable


def test_reinforce_under_constraint_never_proposes_infeasible():
    space = widths_space(4, 20)
    cost = FunctionCost(lambda X: mlp_params(X + 1), unit="parameters", name="params")
    budget = float(np.percentile(mlp_params(space.spec.sample_batch(5000, np.random.default_rng(0)) + 1), 5))
    algo = Reinforce("abs", seed=0)
    algo.setup(space.spec, [Constraint(cost, max=budget)])
    X = algo.propose_batch(500)
    assert np.all(mlp_params(X + 1) <= budget)


def test_expensive_cost_is_not_enumerated():
    calls = []

    def fn(X):
        calls.append(len(X))
        return X.sum(axis=1).astype(float)

    cost = FunctionCost(fn, unit="ms", name="measured")
    cost.is_expensive = True
    feas = Feasibility(widths_space(3, 4).spec, [Constraint(cost, max=3.0)])
    feas.analyse(np.random.default_rng(0))
    assert sum(calls) <= 256 and feas.feasible_set is None


def test_measured_latency_is_flagged_expensive():
    from budgetnas.cost.latency import MeasuredLatency

    assert MeasuredLatency.is_expensive is True


@pytest.mark.parametrize("make", [lambda: Random(seed=0, max_rejections=20_000), lambda: Grid()])
def test_random_and_grid_check_the_budget_up_front_without_a_cost_model(make):
    # a constant cost above the budget over 10^6 children: setup fails before any proposal
    space = widths_space(6, 10)
    cost = FunctionCost(lambda X: (X.sum(axis=1) % 97 != 96) * 1.0 + 1.0, unit="ms", name="lat")
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable lat is 2 ms"):
        make().setup(space.spec, [Constraint(cost, max=1.5)])


def test_random_gives_up_on_a_tiny_fraction_with_the_estimate():
    # about 1 in 3e4 children fit, found by the up-front search; a block of 5,000 draws rarely
    # sees one: propose raises with the estimated fraction instead of looping
    space = widths_space(9, 8)
    cost = FunctionCost(lambda X: (X.sum(axis=1) != 17) * 100.0 + (X[:, 0] != 7) * 100.0,
                        unit="ms", name="lat")
    algo = Random(seed=0, max_rejections=5_000)
    algo.setup(space.spec, [Constraint(cost, max=0.0)])
    with pytest.raises(InfeasibleBudgetError, match="estimated feasible fraction"):
        for _ in range(20):
            algo.propose()


def test_random_under_a_budget_is_uniform_over_the_feasible_children():
    space = widths_space(3, 4)  # 64 children, enumerated
    cost = FunctionCost(lambda X: X.sum(axis=1).astype(float), unit="parameters", name="params")
    algo = Random(seed=3)
    algo.setup(space.spec, [Constraint(cost, max=3.0)])
    X = np.array([algo.propose() for _ in range(20_000)]) - 1  # widths 1..4 -> indices
    assert (X.sum(axis=1) <= 3).all()
    _, counts = np.unique(X, axis=0, return_counts=True)
    assert len(counts) == 20  # every feasible child (C(3+3, 3) = 20) appears, evenly
    assert counts.min() > 1000 * 0.85 and counts.max() < 1000 * 1.15


def test_grid_under_a_budget_walks_the_feasible_children_in_order_and_resumes():
    space = widths_space(4, 5)
    cost = FunctionCost(lambda X: X.sum(axis=1).astype(float), unit="parameters", name="params")
    X_all = np.array(list(space.spec.iter_vectors()))
    expected = [tuple(int(v) for v in x) for x in X_all[X_all.sum(axis=1) <= 4]]
    for limit in (100_000, 10):  # from the enumerated feasible set; by blocks of the iterator
        algo = Grid(block=7, enumerate_limit=limit)
        algo.setup(space.spec, [Constraint(cost, max=4.0)])
        got = [tuple(space.spec.to_vector(algo.propose())) for _ in range(20)]
        again = Grid(block=7, enumerate_limit=limit)
        again.setup(space.spec, [Constraint(cost, max=4.0)])
        again.load_state_dict(algo.state_dict())
        while True:
            try:
                got.append(tuple(space.spec.to_vector(again.propose())))
            except bn.SearchExhausted:
                break
        assert got == expected
