"""Grid search: every child in enumeration order, then a clean stop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from budgetnas.errors import SearchExhausted, SpaceError
from budgetnas.search.base import SearchAlgorithm
from budgetnas.space import DNA, Spec

__all__ = ["Grid"]


class Grid(SearchAlgorithm):
    """Enumerate the space lazily in depth-first lexicographic order.

    Raises :class:`budgetnas.errors.SearchExhausted` from ``propose`` once every child has been
    proposed; a :class:`budgetnas.Study` ends its loop cleanly on it.
    """

    def __init__(self) -> None:
        super().__init__(seed=None)
        self._iter: Iterator[DNA] | None = None
        self._count = 0

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        if not spec.is_choice_only:
            raise SpaceError(
                "grid search needs a finite space, but this one has floatv decision points "
                f"{[d.name for d in spec.decision_points if d.kind == 'float']}; replace them "
                "with oneof([...]) of a few values, or use Random")
        super().setup(spec, constraints)
        self._iter, self._count = spec.iter_dna(), 0

    def propose(self) -> DNA:
        self._require_setup()
        assert self._iter is not None
        for dna in self._iter:
            self._count += 1
            if not self.constraints or self.feasible_batch(self.spec.to_vector(dna)[None])[0]:
                return dna
        raise SearchExhausted(f"grid search has enumerated all {self.spec.size:,} children")

    def state_dict(self) -> dict[str, Any]:
        return {"count": self._count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        spec = self._require_setup()
        self._count = int(state["count"])
        self._iter = spec.iter_dna(start=self._count)
