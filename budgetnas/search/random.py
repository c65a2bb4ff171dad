"""Random search: each decision uniform over its candidates (the baseline of every NAS paper)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import InfeasibleBudgetError
from budgetnas.search.base import SearchAlgorithm
from budgetnas.space import DNA, Spec

__all__ = ["Random"]


class Random(SearchAlgorithm):
    """Seeded uniform random search.

    Draws children in blocks of ``chunk`` as one integer array, so proposing costs a few
    microseconds. With constraints, infeasible rows of a block are dropped before they are
    proposed (rejection sampling on arrays).

    >>> algo = bn.Random(seed=0)
    """

    def __init__(self, seed: int | None = None, chunk: int = 256,
                 max_rejections: int = 1_000_000) -> None:
        super().__init__(seed)
        self.chunk = int(chunk)
        self.max_rejections = int(max_rejections)
        self._buffer = np.empty((0, 0))
        self._pos = 0

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        super().setup(spec, constraints)
        self._buffer = np.empty((0, spec.num_decisions))
        self._pos = 0

    def propose(self) -> DNA:
        spec = self._require_setup()
        drawn = 0
        while self._pos >= len(self._buffer):
            X = spec.sample_batch(self.chunk, self.rng)
            drawn += len(X)
            if self.constraints:
                X = X[self.feasible_batch(X)]
                if not len(X) and drawn >= self.max_rejections:
                    raise InfeasibleBudgetError(
                        f"{drawn:,} random children in a row were infeasible (estimated feasible "
                        f"fraction < {1 / drawn:.1e}); raise the budget or use an algorithm that "
                        "samples under the constraint (budgetnas.TabNAS)")
            self._buffer, self._pos = X, 0
        row = self._buffer[self._pos]
        self._pos += 1
        return spec.from_vector(row)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "buffer": self._buffer.tolist(), "pos": self._pos}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        spec = self._require_setup()
        dtype = np.int64 if spec.is_choice_only else np.float64
        self._buffer = np.asarray(state["buffer"], dtype=dtype).reshape(-1, spec.num_decisions)
        self._pos = int(state["pos"])
