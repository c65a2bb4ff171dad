"""Random, Grid and Dedup: seeded reproducibility, exact resume from a state_dict, clean stops."""

from __future__ import annotations

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.errors import InfeasibleBudgetError, SearchExhausted, SpaceError
from tests.algorithm_checks import (
    check_exhaustion,
    check_resume,
    check_same_seed,
    conditional_finite_space,
    run_proposals,
    standard_spaces,
    twelve_decision_space,
)

ALGORITHMS = {
    "random": (lambda seed: bn.Random(seed=seed), True),
    "random_chunk7": (lambda seed: bn.Random(seed=seed, chunk=7), True),
    "grid": (lambda seed: bn.Grid(), False),
    "dedup_random": (lambda seed: bn.Dedup(bn.Random(seed=seed)), True),
}
CASES = [(a, s) for a in ALGORITHMS for s in standard_spaces()
         if not (a == "grid" and s == "conditional_float")]


@pytest.mark.parametrize(("algo", "space_name"), CASES)
def test_same_seed_same_first_1000_proposals(algo, space_name):
    make, seeded = ALGORITHMS[algo]
    space = standard_spaces()[space_name]
    proposals = check_same_seed(make, space, n=1000, seed=3, seed_matters=seeded)
    never_repeats = algo in ("grid", "dedup_random")
    assert len(proposals) == (min(1000, space.size) if never_repeats else 1000)


@pytest.mark.parametrize(("algo", "space_name"), CASES)
def test_state_dict_mid_run_continues_exactly(algo, space_name):
    make, _ = ALGORITHMS[algo]
    check_resume(make, standard_spaces()[space_name], n=1000)


@pytest.mark.parametrize("split", [0, 1, 255, 256, 257, 600])
def test_random_resume_at_buffer_edges(split):
    # the block of 256 is re-created from the rng state it was drawn with, not stored
    check_resume(lambda s: bn.Random(seed=s), twelve_decision_space(), n=700, split=split)
    state = bn.Random(seed=0)
    state.setup(twelve_decision_space().spec)
    run_proposals(state, split)
    assert "buffer" not in state.state_dict()


def test_random_is_uniform_per_decision():
    space = twelve_decision_space()
    algo = bn.Random(seed=0)
    algo.setup(space.spec)
    X = np.array(run_proposals(algo, 12_000))
    for d, m in enumerate(space.num_choices):
        counts = np.bincount(X[:, d], minlength=m)
        assert counts.min() > 12_000 / m * 0.9 and counts.max() < 12_000 / m * 1.1


def test_random_constraint_and_infeasible_budget():
    space = twelve_decision_space()

    class SmallKernels:  # kernel index 0 (3x3) in every block
        def feasible_batch(self, X):
            return (X[:, [0, 3, 6, 9]] == 0).all(axis=1)

    algo = bn.Random(seed=1)
    algo.setup(space.spec, [SmallKernels()])
    assert all(d[0] == d[3] == d[6] == d[9] == 0 for d in run_proposals(algo, 300))

    class Nothing:
        def feasible_batch(self, X):
            return np.zeros(len(X), dtype=bool)

    algo = bn.Random(seed=1, max_rejections=5_000)
    with pytest.raises(InfeasibleBudgetError, match="bounded search"):
        algo.setup(space.spec, [Nothing()])  # up front, before any proposal


def test_grid_enumerates_in_order_and_stops_cleanly():
    space = conditional_finite_space()
    seen = check_exhaustion(lambda s: bn.Grid(), space)
    assert seen == [tuple(d) for d in space.iter_dna()]
    assert seen[0] == (0, 0, 0, 0) and seen[-1] == (2, 1, 1)


def test_grid_resume_skips_fast_on_a_product_space():
    space = twelve_decision_space()
    grid = bn.Grid()
    grid.setup(space.spec)
    grid.load_state_dict({"count": space.size - 2})
    assert grid.propose() == bn.DNA([2, 2, 3] * 3 + [2, 2, 2])
    assert grid.propose() == bn.DNA([2, 2, 3] * 4)
    with pytest.raises(SearchExhausted, match="1,679,616"):
        grid.propose()


def test_grid_refuses_a_float_space_at_setup():
    with pytest.raises(SpaceError, match="dropout"):
        bn.Grid().setup(standard_spaces()["conditional_float"].spec)


def test_dedup_random_exhausts_a_finite_space_without_spinning():
    space = conditional_finite_space()
    check_exhaustion(lambda s: bn.Dedup(bn.Random(seed=s)), space, seed=5)


def test_dedup_gives_up_after_max_attempts_when_only_repeats_remain():
    space = bn.Space({"a": bn.oneof([1, 2, 3, 4])})

    class OnlyFirstTwo:
        def feasible_batch(self, X):
            return X[:, 0] < 2

    algo = bn.Dedup(bn.Random(seed=0), max_attempts=50)
    algo.setup(space.spec, [OnlyFirstTwo()])
    assert sorted(run_proposals(algo, 2)) == [(0,), (1,)]
    with pytest.raises(SearchExhausted, match="last 50 proposals were repeats"):
        algo.propose()


def test_dedup_keys_on_decisions_only():
    # equal decisions from different containers are one child
    space = bn.Space({"a": bn.oneof([1, 2, 3])})

    class Repeater(bn.SearchAlgorithm):
        def __init__(self):
            super().__init__(seed=0)
            self.out = [bn.DNA([1]), bn.DNA((1,)), bn.DNA.from_json("[1]"), bn.DNA([2])]

        def propose(self):
            return self.out.pop(0)

    algo = bn.Dedup(Repeater())
    algo.setup(space.spec)
    assert algo.propose() == (1,)
    assert algo.propose() == (2,)


def test_dedup_state_restores_seen_set():
    space = conditional_finite_space()
    a = bn.Dedup(bn.Random(seed=2))
    a.setup(space.spec)
    first = run_proposals(a, 20)
    b = bn.Dedup(bn.Random(seed=99))
    b.setup(space.spec)
    b.load_state_dict(a.state_dict())
    rest = run_proposals(b, 16)
    assert len(set(first + rest)) == 36
    with pytest.raises(SearchExhausted):
        b.propose()


def test_propose_before_setup_is_a_clear_error():
    with pytest.raises(RuntimeError, match="setup"):
        bn.Random(seed=0).propose()
