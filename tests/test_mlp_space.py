"""The MLP search space: structure, DNA <-> widths, the analytic parameter count, budgets."""

from __future__ import annotations

import numpy as np
import pytest

from budgetnas.cost import Constraint, CostModel
from budgetnas.errors import InfeasibleBudgetError, InvalidDNAError, SpaceError
from budgetnas.spaces.mlp import DEFAULT_DEPTHS, DEFAULT_WIDTHS, MLPSpace
from budgetnas.tabular.train import build_mlp


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_default_widths_are_twenty_increasing_from_8_to_512():
    assert len(DEFAULT_WIDTHS) == 20
    assert DEFAULT_WIDTHS[0] == 8 and DEFAULT_WIDTHS[-1] == 512
    assert all(b > a for a, b in zip(DEFAULT_WIDTHS, DEFAULT_WIDTHS[1:]))
    ratios = np.array(DEFAULT_WIDTHS[1:]) / np.array(DEFAULT_WIDTHS[:-1])
    assert 1.1 <= ratios.min() and ratios.max() <= 1.5  # roughly geometric
    assert DEFAULT_DEPTHS == (1, 2, 3, 4)


def test_default_space_structure_and_conditional_widths():
    space = MLPSpace(n_in=93, n_out=1)
    assert space.size == 20 + 20**2 + 20**3 + 20**4
    assert space.num_decisions == 1 + 1 + 2 + 3 + 4
    spec = space.spec
    assert spec.names[0] == "depth"
    d3w2 = spec["width2@depth3"]
    assert d3w2.parent == 0 and d3w2.parent_choice == 2  # active only at depth 3
    vec = space.vector_of([64, 32])
    assert vec[0] == 1 and (vec[space.columns[1]] >= 0).all()
    assert (vec[np.concatenate([space.columns[0], space.columns[2], space.columns[3]])] == -1).all()


def test_toy_space_of_the_paper_counts_and_feasible_set():
    # papers.md §2: input 2, output 1, widths {2, 3, 4} in two layers, budget 25.
    space = MLPSpace(n_in=2, n_out=1, widths=[2, 3, 4], depths=[2])
    X = space.all_vectors()
    params = space.params_batch(X)
    for vec, p in zip(X, params):
        h1, h2 = space.widths_of(vec)
        assert p == 3 * h1 + h1 * h2 + h2 + h2 + 1
    feasible = {space.widths_of(v) for v in X[params <= 25]}
    assert feasible == {(2, 2), (2, 3), (2, 4), (3, 2), (3, 3), (4, 2)}


def test_param_count_matches_the_built_network():
    space = MLPSpace(n_in=93, n_out=3)
    X = space.spec.sample_batch(40, np.random.default_rng(0))
    counts = space.params_batch(X)
    for vec, count in zip(X, counts):
        assert count == n_params(build_mlp(93, space.widths_of(vec), 3))


def test_widths_dna_round_trip_and_enumeration():
    space = MLPSpace(n_in=5, n_out=2, widths=[4, 8, 16], depths=[1, 3])
    X = space.all_vectors()
    assert X.shape == (3 + 27, space.num_decisions)
    assert np.array_equal(X, np.array(list(space.spec.iter_vectors())))
    for vec in X:
        widths = space.widths_of(vec)
        dna = space.dna_of(widths)
        assert space.space.materialize(dna) == list(widths)
        assert np.array_equal(space.space.to_vector(dna), vec)


def test_min_max_params_and_the_budget_errors():
    space = MLPSpace(n_in=16, n_out=26, widths=[8, 16, 32], depths=[1, 2])
    params = space.params_batch(space.all_vectors())
    assert space.min_params() == params.min() == 17 * 8 + 9 * 26
    assert space.max_params() == params.max()
    with pytest.raises(InfeasibleBudgetError, match=f"{space.min_params():,}"):
        space.constraint(space.min_params() - 1)
    budget = space.constraint(1000)
    assert np.array_equal(budget.feasible_batch(space.all_vectors()), params <= 1000)


def test_param_cost_is_a_cost_model_in_parameters():
    space = MLPSpace(n_in=10, n_out=1)
    cost = space.param_cost()
    assert isinstance(cost, CostModel) and cost.unit == "parameters"
    assert cost.min_cost() == space.min_params()
    assert cost(space.dna_of([8])) == 11 * 8 + 9
    assert Constraint(cost, max=100).feasible(space.dna_of([8]))


def test_feasible_max_widths_agree_with_enumeration():
    space = MLPSpace(n_in=30, n_out=4, widths=[8, 16, 32, 64, 128], depths=[1, 2, 3])
    X = space.all_vectors()
    params = space.params_batch(X)
    for budget in (500, 2000, 9000):
        W = space.widths_batch(X[params <= budget])
        expected = tuple(int(W[:, k].max()) if (W[:, k] > 0).any() else 8 for k in range(3))
        assert space.feasible_max_widths(budget) == expected


def test_bad_spaces_and_dna_are_rejected_with_clear_messages():
    with pytest.raises(SpaceError, match="strictly increasing"):
        MLPSpace(4, 1, widths=[16, 8])
    with pytest.raises(SpaceError, match="empty"):
        MLPSpace(4, 1, depths=[])
    with pytest.raises(SpaceError, match="n_in"):
        MLPSpace(0, 1)
    space = MLPSpace(4, 1, widths=[8, 16], depths=[1, 2])
    with pytest.raises(InvalidDNAError, match="candidates"):
        space.dna_of([12])
    with pytest.raises(InvalidDNAError, match="depth 3"):
        space.dna_of([8, 8, 8])
