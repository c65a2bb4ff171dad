"""The search-algorithm interface: algorithms see the spec and DNA, never the user's objects.

PyGlove's split (Peng et al. 2020, §3): ``setup(spec)``, ``propose() -> DNA``,
``feedback(dna, reward)``; plus ``state_dict`` / ``load_state_dict`` so that a run resumed from a
checkpoint continues exactly as the uninterrupted one. One seed drives every random stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.space import DNA, Spec

__all__ = ["SearchAlgorithm", "reward_of"]


class SearchAlgorithm(ABC):
    """Base class of every search algorithm.

    Parameters
    ----------
    seed : int, optional
        Seeds ``self.rng`` (a ``numpy.random.Generator``), the only random stream of the algorithm.

    Notes
    -----
    ``setup(spec, constraints)`` receives hard constraints: objects with ``feasible_batch(X)``
    (``X`` an int64 array ``(n, D)`` of DNA vectors → bool ``(n,)``), e.g.
    :class:`budgetnas.Constraint`. An algorithm that knows how should propose only feasible
    children; the :class:`budgetnas.Study` also rejects infeasible proposals before any training.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.spec: Spec | None = None
        self.constraints: list[Any] = []
        self.rng = np.random.default_rng(seed)

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        """Bind the algorithm to a space's spec (and hard constraints) before the first proposal."""
        self.spec = spec
        self.constraints = list(constraints)

    @abstractmethod
    def propose(self) -> DNA:
        """The next child to evaluate.

        Raises
        ------
        SearchExhausted
            When the algorithm has nothing left to propose (a finite space exhausted).
        """

    def feedback(self, dna: DNA, reward: float | Mapping[str, float]) -> None:
        """Tell the algorithm the reward (or metrics dict with ``"reward"``) of a proposed child."""
        return None  # stateless algorithms (random, grid) learn nothing from feedback

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: JSON-compatible values, arrays or tensors."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output into an algorithm already ``setup`` on the same spec."""
        self.rng.bit_generator.state = state["rng"]

    def _require_setup(self) -> Spec:
        if self.spec is None:
            raise RuntimeError(f"{type(self).__name__}.setup(spec) must be called before propose()")
        return self.spec

    def feasible_batch(self, X: np.ndarray) -> np.ndarray:
        """Which rows of ``X`` (shape ``(n, D)``) satisfy every constraint → bool ``(n,)``."""
        ok = np.ones(len(X), dtype=bool)
        for c in self.constraints:
            ok &= np.asarray(c.feasible_batch(X), dtype=bool)
        return ok


def reward_of(reward: float | Mapping[str, float]) -> float:
    """The scalar reward of a feedback value (a number, or a mapping with key ``"reward"``)."""
    if isinstance(reward, Mapping):
        if "reward" not in reward:
            raise KeyError(f"feedback metrics need a 'reward' key, got keys {sorted(reward)}")
        return float(reward["reward"])
    return float(reward)
