"""Per-layer lookup arrays over the few decisions each layer depends on (shared by tables and the
linear model): a child's cost is one gather of shape (n, L) and a row sum."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import CostError

MAX_COMBOS_PER_LAYER = 1_000_000


class LayerLookup:
    """Maps a batch of DNA vectors to one flat index per layer into a concatenation of tables.

    Layer j depends on decisions ``deps[j]``; each decision d takes values -1 (inactive) or
    0..num_choices[d]-1, stored in slot value+1, so layer j has prod(num_choices[d] + 1) combos.
    """

    def __init__(self, deps: Sequence[Sequence[int]], num_choices: np.ndarray) -> None:
        num_choices = np.asarray(num_choices, dtype=np.int64)
        self.num_choices = num_choices
        self.deps = [tuple(int(d) for d in dep) for dep in deps]
        D = len(num_choices)
        sizes, strides = [], []
        for j, dep in enumerate(self.deps):
            for d in dep:
                if not 0 <= d < D:
                    raise CostError(f"layer {j} depends on decision {d}, but the space has "
                                    f"decisions 0..{D - 1}")
                if num_choices[d] < 1:
                    raise CostError(f"layer {j} depends on decision {d}, which is not a choice "
                                    "(floatv decisions cannot index a lookup table)")
            radix = [int(num_choices[d]) + 1 for d in dep]
            size = int(np.prod(radix, dtype=np.int64)) if radix else 1
            if size > MAX_COMBOS_PER_LAYER:
                raise CostError(f"layer {j} depends on decisions {dep} with {size} joint choices "
                                f"(> {MAX_COMBOS_PER_LAYER}); describe it with fewer decisions")
            # row-major strides: the last dependency varies fastest
            st = np.cumprod([1, *radix[::-1]])[:-1][::-1] if radix else np.zeros(0, np.int64)
            sizes.append(size)
            strides.append(np.asarray(st, dtype=np.int64))
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.total = int(self.sizes.sum())
        kmax = max((len(dep) for dep in self.deps), default=0)
        L = len(self.deps)
        self._dep = np.zeros((L, kmax), dtype=np.int64)
        self._stride = np.zeros((L, kmax), dtype=np.int64)
        for j, (dep, st) in enumerate(zip(self.deps, strides)):
            self._dep[j, : len(dep)] = dep
            self._stride[j, : len(dep)] = st

    @property
    def num_layers(self) -> int:
        return len(self.deps)

    def combos(self, j: int) -> Iterator[tuple[int, tuple[int, ...]]]:
        """(flat index, decision values with -1 for inactive) for every combo of layer j."""
        ranges = [range(-1, int(self.num_choices[d])) for d in self.deps[j]]
        for k, values in enumerate(itertools.product(*ranges)):
            yield int(self.offsets[j]) + k, values

    def tabulate(self, fn: Callable[[int, tuple[int, ...]], Any]) -> list[Any]:
        """``fn(layer, values)`` for every combo of every layer, in flat-index order."""
        return [fn(j, values) for j in range(self.num_layers) for _, values in self.combos(j)]

    def index(self, X: np.ndarray) -> np.ndarray:
        """Flat indices (n, L) int64 of each row's combo in each layer."""
        idx = np.broadcast_to(self.offsets, (len(X), self.num_layers)).copy()
        for k in range(self._dep.shape[1]):
            idx += (X[:, self._dep[:, k]] + 1) * self._stride[:, k]
        return idx

    def separable_min(self, values: np.ndarray, parent: np.ndarray | None) -> float | None:
        """Exact min of the row sum when no decision is conditional and layers share no decision.

        Then every combination of active values is a valid child and the layers' minima can be
        taken independently; otherwise return None (the caller cannot tell cheaply).
        """
        if parent is not None and np.any(np.asarray(parent) >= 0):
            return None
        seen: set[int] = set()
        for dep in self.deps:
            if seen & set(dep):
                return None
            seen |= set(dep)
        total = 0.0
        for j in range(self.num_layers):
            active = [int(self.offsets[j]) + k for k, (_, vals) in enumerate(self.combos(j))
                      if all(v >= 0 for v in vals)]
            layer = values[active]
            if np.any(np.isnan(layer)):
                return None
            total += float(layer.min())
        return total
