"""Every search algorithm: seeded reproducibility, exact continuation after a state_dict round
trip through JSON, feasible proposals only, and the Study loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.cost import Constraint, FunctionCost
from budgetnas.errors import SearchConfigError
from budgetnas.search import (
    Dedup,
    Grid,
    NeuralPredictor,
    Random,
    RegularizedEvolution,
    Reinforce,
    TabNAS,
)

WIDTHS = np.array([8, 16, 24, 32, 48, 64])


def make_space() -> bn.Space:
    return bn.Space({"w": [bn.oneof(list(WIDTHS), name=f"w{i}") for i in range(5)]})


def cost_fn(X: np.ndarray) -> np.ndarray:
    return WIDTHS[X].sum(axis=1).astype(float)


def quality(X: np.ndarray) -> np.ndarray:
    # a deterministic, non-separable landscape
    W = WIDTHS[X]
    return np.sin(W[:, 0] / 7.0) + np.cos(W[:, 1] * W[:, 2] / 300.0) + 0.01 * W[:, 3] - 0.002 * W[:, 4]


ALGOS = {
    "random": lambda s: Random(seed=s),
    "grid": lambda s: Grid(),
    "dedup_random": lambda s: Dedup(Random(seed=s)),
    "evolution": lambda s: RegularizedEvolution(population_size=20, tournament_size=5, seed=s),
    "reinforce_abs": lambda s: Reinforce("abs", seed=s, lr=0.05),
    "reinforce_mnas": lambda s: Reinforce("mnas_soft", seed=s, batch_size=3),
    "tabnas_exact": lambda s: TabNAS(seed=s, pv="exact"),
    "tabnas_mc": lambda s: TabNAS(seed=s, pv="mc", exact_threshold=10, num_mc_samples=64),
    "tabnas_mc_sum": lambda s: TabNAS(seed=s, pv="mc_sum", exact_threshold=10,
                                      num_mc_samples=64),
    "predictor": lambda s: NeuralPredictor(num_initial=20, num_candidates=300, top_k=150,
                                           epochs=15, hidden=(16,), seed=s),
}


def constraint() -> Constraint:
    return Constraint(FunctionCost(cost_fn, unit="parameters", name="width_sum"), max=170)


def run(algo, n: int, space: bn.Space, start: int = 0) -> list[tuple[int, ...]]:
    out = []
    for _ in range(n):
        dna = algo.propose()
        x = space.to_vector(dna)
        algo.feedback(dna, float(quality(x[None])[0]))
        out.append(tuple(dna))
    return out


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "predictor"
                                  else n for n in sorted(ALGOS)])
def test_same_seed_same_first_1000_proposals(name):
    space = make_space()
    runs = []
    for _ in range(2):
        algo = ALGOS[name](7)
        algo.setup(space.spec, [constraint()])
        runs.append(run(algo, 1000, space))
    assert runs[0] == runs[1]
    X = np.array([space.to_vector(d) for d in runs[0]])
    assert np.all(cost_fn(X) <= 170), "an infeasible child was proposed"
    if name not in ("grid",):
        other = ALGOS[name](8)
        other.setup(space.spec, [constraint()])
        assert run(other, 50, space) != runs[0][:50], "the seed does not change the proposals"


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_state_dict_round_trip_continues_exactly(name):
    space = make_space()
    full = ALGOS[name](3)
    full.setup(space.spec, [constraint()])
    expected = run(full, 260, space)

    first = ALGOS[name](3)
    first.setup(space.spec, [constraint()])
    head = run(first, 130, space)
    state = json.loads(json.dumps(first.state_dict()))  # what a SQL store keeps
    resumed = ALGOS[name](999)  # a different seed: the state must override it
    resumed.setup(space.spec, [constraint()])
    resumed.load_state_dict(state)
    tail = run(resumed, 130, space)
    assert head + tail == expected


@pytest.mark.parametrize("name", ["evolution", "reinforce_abs", "tabnas_exact", "predictor"])
def test_study_with_constraints_trains_feasible_children_only(name):
    space = make_space()
    study = bn.Study(space, ALGOS[name](0), constraints=[constraint()])

    def objective(trial):
        x = space.to_vector(trial.dna)[None]
        assert cost_fn(x)[0] <= 170
        return float(quality(x)[0])

    study.optimize(objective, n_trials=60)
    assert len(study.completed_trials()) == 60
    assert study.n_rejected == 0  # the algorithms propose feasible children themselves


def test_learning_algorithms_beat_random_on_average():
    space = make_space()
    X_all = np.array(list(space.spec.iter_vectors()))
    ok = cost_fn(X_all) <= 170
    best = quality(X_all[ok]).max()

    def regret(factory) -> float:
        out = []
        for seed in range(6):
            algo = factory(seed)
            algo.setup(space.spec, [constraint()])
            dnas = run(algo, 200, space)
            out.append(best - quality(np.array([space.to_vector(d) for d in dnas])).max())
        return float(np.mean(out))

    r_random = regret(ALGOS["random"])
    assert regret(ALGOS["evolution"]) < r_random
    assert regret(ALGOS["tabnas_exact"]) < r_random


def test_evolution_rejects_bad_tournament():
    with pytest.raises(SearchConfigError, match="tournament_size"):
        RegularizedEvolution(population_size=5, tournament_size=10)


def test_evolution_ages_out_the_oldest_not_the_worst():
    space = make_space()
    algo = RegularizedEvolution(population_size=3, tournament_size=2, seed=0)
    algo.setup(space.spec)
    rewards = [10.0, 0.0, 1.0, 2.0]
    for r in rewards:
        algo.feedback(algo.propose(), r)
    assert [r for _, r in algo.population] == [0.0, 1.0, 2.0]  # the best (10.0) was oldest


def test_evolution_on_conditional_space_with_floats():
    space = bn.Space({
        "block": bn.oneof([{"kind": "conv", "k": bn.oneof([3, 5, 7])},
                           {"kind": "mlp", "lr": bn.floatv(1e-4, 1e-1, scale="log")}]),
        "pick": bn.manyof(2, ["a", "b", "c", "d"], distinct=True, sorted=True),
    })
    algo = RegularizedEvolution(population_size=5, tournament_size=2, seed=1)
    algo.setup(space.spec)
    for i in range(200):
        dna = algo.propose()
        child = space.materialize(dna)  # validates the DNA
        assert sorted(set(child["pick"])) == child["pick"]
        algo.feedback(dna, float(i % 7))


def test_controllers_reject_float_spaces():
    space = bn.Space({"lr": bn.floatv(0.1, 1.0), "w": bn.oneof([1, 2])})
    with pytest.raises(SearchConfigError, match="floatv"):
        TabNAS(seed=0).setup(space.spec)


def test_reinforce_needs_cost_and_target_for_a_shaped_reward():
    with pytest.raises(SearchConfigError, match="target"):
        Reinforce("abs", seed=0).setup(make_space().spec)


def test_public_names():
    for name in ("RegularizedEvolution", "Reinforce", "TabNAS", "NeuralPredictor"):
        assert hasattr(bn.search, name)
