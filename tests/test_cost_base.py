"""CostModel, FunctionCost, Constraint and feasible_all on hand-computable costs."""

from __future__ import annotations

import numpy as np
import pytest

from budgetnas.cost import Constraint, CostModel, FunctionCost, as_cost_model, feasible_all
from budgetnas.errors import CostError, InfeasibleBudgetError
from budgetnas.space import Space, oneof

WIDTHS = np.array([2, 3, 4])


def tabnas_params(X: np.ndarray) -> np.ndarray:
    """TabNAS toy (papers.md §2): params(h1, h2) = 3·h1 + h1·h2 + h2 + h2 + 1."""
    h1, h2 = WIDTHS[X[:, 0]], WIDTHS[X[:, 1]]
    return (3 * h1 + h1 * h2 + 2 * h2 + 1).astype(np.float64)


@pytest.fixture
def space() -> Space:
    return Space({"h1": oneof([2, 3, 4]), "h2": oneof([2, 3, 4])})


def test_constraint_batch_matches_tabnas_feasible_set(space):
    cost = FunctionCost(tabnas_params, unit="parameters", name="params", space=space)
    budget = Constraint(cost, max=25)
    X = np.array([[a, b] for a in range(3) for b in range(3)])
    feasible = {(int(WIDTHS[a]), int(WIDTHS[b])) for a, b in X[budget.feasible_batch(X)]}
    assert feasible == {(2, 2), (2, 3), (2, 4), (3, 2), (3, 3), (4, 2)}
    assert budget.margin_batch(X).tolist() == (25 - tabnas_params(X)).tolist()
    np.testing.assert_allclose(budget.ratio_batch(X), tabnas_params(X) / 25)
    assert repr(budget) == "Constraint(params ≤ 25 parameters)"


def test_single_dna_goes_through_space_to_vector(space):
    cost = FunctionCost(tabnas_params, unit="parameters", space=space)
    dna = space.from_vector(np.array([2, 0]))  # 4-2: 12 + 8 + 4 + 1
    assert cost(dna) == 25.0
    assert Constraint(cost, 25).feasible(dna)
    assert not Constraint(cost, 24.5).feasible(dna)
    assert Constraint(cost, 30).margin(dna) == 5.0


def test_plain_callable_is_adapted_per_child(space):
    def params(dna):
        h1, h2 = (int(WIDTHS[i]) for i in dna)
        return 3 * h1 + h1 * h2 + 2 * h2 + 1

    c = Constraint(params, max=25, unit="parameters")
    X = np.array([[2, 0], [2, 1]])
    assert c.feasible_batch(X).tolist() == [True, False]
    assert c.feasible((2, 0))
    with pytest.raises(CostError, match="needs its unit"):
        as_cost_model(params)


def test_feasible_all_is_the_conjunction_and_skips_rows(space):
    calls = []

    def second(X):
        calls.append(len(X))
        return X[:, 1].astype(float)

    a = Constraint(FunctionCost(tabnas_params, unit="parameters"), 25)
    b = Constraint(FunctionCost(second, unit="MACs"), 0)  # h2 must be width 2
    X = np.array([[a_, b_] for a_ in range(3) for b_ in range(3)])
    ok = feasible_all([a, b], X)
    assert ok.tolist() == [True, False, False, True, False, False, True, False, False]
    assert calls == [6]  # the second constraint priced only the 6 rows the first accepted
    assert feasible_all([], X).all()


def test_errors_and_min_cost():
    with pytest.raises(CostError, match="unknown cost unit"):
        FunctionCost(tabnas_params, unit="seconds")
    bad = FunctionCost(lambda X: np.zeros(3), unit="ms", name="bad")
    with pytest.raises(CostError, match="returned shape"):
        bad.batch(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(CostError, match="integer"):
        bad.batch(np.full((2, 2), 0.5))
    cost = FunctionCost(tabnas_params, unit="parameters", min_cost=17.0)
    Constraint(cost, 17).check_achievable()
    with pytest.raises(InfeasibleBudgetError, match="smallest achievable .* is 17 parameters"):
        Constraint(cost, 16).check_achievable()
    with pytest.raises(CostError, match="finite"):
        Constraint(cost, float("inf"))
    assert issubclass(FunctionCost, CostModel)
