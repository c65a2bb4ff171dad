"""Regularized (aging) evolution (Real et al., AAAI 2019; the default evolution of PyGlove, §1).

A population of the most recent ``population_size`` evaluated children. Each new child is a
mutation of the best of ``tournament_size`` members drawn at random; the oldest member dies when a
new one joins (aging), whatever its reward. The first ``population_size`` children are random.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError
from budgetnas.search.base import SearchAlgorithm, reward_of
from budgetnas.search.feasibility import Feasibility
from budgetnas.search.mutation import Mutator
from budgetnas.space import DNA, Spec

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(SearchAlgorithm):
    """Regularized evolution with aging and a one-decision mutation (Real et al. 2019).

    >>> algo = bn.RegularizedEvolution(population_size=100, tournament_size=10, seed=0)

    Mutation re-samples one active decision point and the sub-space it gates
    (:class:`~budgetnas.search.mutation.Mutator`). Under hard constraints, an infeasible mutant
    is re-drawn (up to ``max_mutation_attempts`` times, from the same parent), then a random
    feasible child is proposed instead; random children are drawn under the constraints
    (:class:`~budgetnas.search.feasibility.Feasibility`). One seed drives every draw.

    Parameters
    ----------
    population_size : int
        Members kept (PyGlove: 100).
    tournament_size : int
        Members compared to pick a parent (PyGlove: 10); at most ``population_size``.
    seed : int, optional
    max_mutation_attempts : int
        Mutants tried per proposal before a random feasible child is used.
    enumerate_limit, max_draws : int
        See :class:`~budgetnas.search.feasibility.Feasibility`.

    Raises
    ------
    SearchConfigError
        When ``tournament_size`` is not in 1..population_size.
    InfeasibleBudgetError
        From ``setup`` when no child fits the constraints.
    """

    def __init__(self, population_size: int = 100, tournament_size: int = 10,
                 seed: int | None = None, *, max_mutation_attempts: int = 100,
                 enumerate_limit: int = 100_000, max_draws: int = 2_000_000) -> None:
        super().__init__(seed)
        if population_size < 1 or not 1 <= tournament_size <= population_size:
            raise SearchConfigError(
                f"need 1 <= tournament_size <= population_size, got tournament_size="
                f"{tournament_size}, population_size={population_size}")
        self.population_size = int(population_size)
        self.tournament_size = int(tournament_size)
        self.max_mutation_attempts = int(max_mutation_attempts)
        self.enumerate_limit = int(enumerate_limit)
        self.max_draws = int(max_draws)
        self.population: deque[tuple[np.ndarray, float]] = deque()
        self.num_proposed = 0
        self.num_mutations_rejected = 0
        self.feasibility: Feasibility | None = None
        self._mutate: Mutator | None = None

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        super().setup(spec, constraints)
        self.feasibility = Feasibility(spec, constraints, enumerate_limit=self.enumerate_limit,
                                       max_draws=self.max_draws).analyse(self.rng)
        self._mutate = Mutator(spec)
        self.population = deque()
        self.num_proposed = 0
        self.num_mutations_rejected = 0

    def propose(self) -> DNA:
        spec = self._require_setup()
        assert self.feasibility is not None
        if self.num_proposed < self.population_size or not self.population:
            x = self.feasibility.sample_uniform(1, self.rng)[0]
        else:
            x = self._child()
        self.num_proposed += 1
        return spec.from_vector(x)

    def _child(self) -> np.ndarray:
        assert self.feasibility is not None and self._mutate is not None
        n = len(self.population)
        picks = self.rng.choice(n, size=min(self.tournament_size, n), replace=False)
        rewards = np.array([self.population[i][1] for i in picks])
        parent = self.population[int(picks[int(np.argmax(rewards))])][0]
        if not self.feasibility.constraints and not self.spec.groups:
            return self._mutate(parent, self.rng)
        for _ in range(self.max_mutation_attempts):
            child = self._mutate(parent, self.rng)
            if self.feasibility.feasible(child[None])[0]:
                return child
            self.num_mutations_rejected += 1
        return self.feasibility.sample_uniform(1, self.rng)[0]

    def feedback(self, dna: DNA, reward: float | Mapping[str, float]) -> None:
        spec = self._require_setup()
        self.population.append((spec.to_vector(dna), reward_of(reward)))
        while len(self.population) > self.population_size:
            self.population.popleft()  # aging: the oldest dies, not the worst

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "num_proposed": self.num_proposed,
                "num_mutations_rejected": self.num_mutations_rejected,
                "population": [[x.tolist(), r] for x, r in self.population]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        spec = self._require_setup()
        dtype = np.int64 if spec.is_choice_only else np.float64
        self.num_proposed = int(state["num_proposed"])
        self.num_mutations_rejected = int(state["num_mutations_rejected"])
        self.population = deque((np.asarray(x, dtype=dtype), float(r))
                                for x, r in state["population"])
