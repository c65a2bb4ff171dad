"""Deduplication: never propose the same child twice, keyed on the decisions alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from budgetnas.errors import SearchExhausted
from budgetnas.search.base import SearchAlgorithm
from budgetnas.space import DNA, Spec

__all__ = ["Dedup"]


class Dedup(SearchAlgorithm):
    """Wrap an algorithm so that each child is proposed at most once.

    Identity is the DNA's decisions (PyGlove hashes metadata too, so its dedup misses repeats of
    regularized evolution, papers.md §1). Stops cleanly instead of spinning: raises
    :class:`budgetnas.errors.SearchExhausted` when every child of a finite space has been seen,
    or after ``max_attempts`` consecutive repeats.

    Parameters
    ----------
    algorithm : SearchAlgorithm
        The wrapped algorithm; it receives feedback for every child it proposed.
    max_attempts : int
        Consecutive duplicate proposals tolerated before giving up.

    Notes
    -----
    ``state_dict`` lists every child seen, in order, so it grows with the run.
    """

    def __init__(self, algorithm: SearchAlgorithm, max_attempts: int = 1000) -> None:
        super().__init__(seed=None)
        self.algorithm = algorithm
        self.max_attempts = int(max_attempts)
        self._seen: dict[DNA, None] = {}  # an insertion-ordered set: a deterministic state

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        super().setup(spec, constraints)
        self.algorithm.setup(spec, constraints)
        self._seen = {}

    def propose(self) -> DNA:
        spec = self._require_setup()
        for _ in range(self.max_attempts):
            if len(self._seen) >= spec.size:
                break
            dna = self.algorithm.propose()
            if dna not in self._seen:
                self._seen[dna] = None
                return dna
        raise SearchExhausted(
            f"no unseen child: {len(self._seen):,} of {spec.size:,} seen and the last "
            f"{self.max_attempts} proposals were repeats")

    def feedback(self, dna: DNA, reward: float | Mapping[str, float]) -> None:
        self.algorithm.feedback(dna, reward)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.algorithm.state_dict(), "seen": [list(d) for d in self._seen]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.algorithm.load_state_dict(state["inner"])
        self._seen = dict.fromkeys(DNA(d) for d in state["seen"])
