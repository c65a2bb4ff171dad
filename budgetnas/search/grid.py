"""Grid search: every child in enumeration order, then a clean stop."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import SearchExhausted, SpaceError
from budgetnas.search.base import SearchAlgorithm
from budgetnas.search.feasibility import Feasibility
from budgetnas.space import DNA, Spec

__all__ = ["Grid"]


class Grid(SearchAlgorithm):
    """Enumerate the space lazily in depth-first lexicographic order.

    With constraints, ``setup`` runs the shared up-front check
    (:class:`~budgetnas.search.feasibility.Feasibility`), so an impossible budget raises
    :class:`~budgetnas.errors.InfeasibleBudgetError` naming the smallest achievable cost before
    anything is enumerated; children are then checked in blocks of ``block`` and only feasible
    ones are proposed. Raises :class:`budgetnas.errors.SearchExhausted` from ``propose`` once
    every child has been enumerated (a finite loop, however small the feasible fraction); a
    :class:`budgetnas.Study` ends its loop cleanly on it.

    Parameters
    ----------
    block : int
        Children checked against the constraints per batch.
    enumerate_limit : int
        See :class:`~budgetnas.search.feasibility.Feasibility`.

    Raises
    ------
    SpaceError
        From ``setup`` on a space with floatv decision points.
    InfeasibleBudgetError
        From ``setup`` when no child fits.
    """

    def __init__(self, block: int = 1024, enumerate_limit: int = 100_000) -> None:
        super().__init__(seed=None)
        if block < 1:
            raise ValueError(f"block must be a positive integer, got {block!r}")
        self.block = int(block)
        self.enumerate_limit = int(enumerate_limit)
        self.feasibility: Feasibility | None = None
        self._iter: Iterator[DNA] | None = None
        self._count = 0  # children enumerated up to and including the last one proposed
        self._pending: deque[tuple[int, DNA]] = deque()  # checked feasible, not yet proposed

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        if not spec.is_choice_only:
            raise SpaceError(
                "grid search needs a finite space, but this one has floatv decision points "
                f"{[d.name for d in spec.decision_points if d.kind == 'float']}; replace them "
                "with oneof([...]) of a few values, or use Random")
        super().setup(spec, constraints)
        self.feasibility = None
        if self.constraints:  # no seed of its own: a fixed stream for the analysis
            self.feasibility = Feasibility(spec, self.constraints,
                                           enumerate_limit=self.enumerate_limit
                                           ).analyse(np.random.default_rng(0))
        self._start(0)

    def _start(self, count: int) -> None:
        assert self.spec is not None
        self._count, self._pending, self._next_index = count, deque(), count
        feas = self.feasibility
        if feas is not None and feas.uniform_over_feasible_set():
            # the feasible set is known: walk it in enumeration (mixed-radix) order, skipping
            # the rest of the space without visiting it
            fs = feas.feasible_set
            strides = np.concatenate([np.cumprod(self.spec.num_choices[::-1])[::-1][1:], [1]])
            index = fs @ strides.astype(np.int64)
            order = np.argsort(index, kind="stable")
            index, fs = index[order], fs[order]
            k = int(np.searchsorted(index, count))
            self._iter = iter(())
            self._pending = deque((int(i), x) for i, x in zip(index[k:], self.spec.from_vectors(fs[k:])))
            return
        self._iter = self.spec.iter_dna(start=count)

    def propose(self) -> DNA:
        self._require_setup()
        assert self._iter is not None
        if self.feasibility is None:
            for dna in self._iter:
                self._count += 1
                return dna
        else:
            while not self._pending:
                chunk = list(itertools.islice(self._iter, self.block))
                if not chunk:
                    break
                ok = self.feasibility.feasible(np.stack([self.spec.to_vector(d) for d in chunk]))
                first = self._next_index
                self._next_index += len(chunk)
                self._pending = deque((first + int(i), chunk[i]) for i in np.flatnonzero(ok))
            if self._pending:
                index, dna = self._pending.popleft()
                self._count = index + 1
                return dna
        raise SearchExhausted(f"grid search has enumerated all {self.spec.size:,} children")

    def state_dict(self) -> dict[str, Any]:
        return {"count": self._count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._require_setup()
        self._start(int(state["count"]))
