"""The TabNAS search space of feed-forward networks: a depth, then one width per hidden layer.

TabNAS (Yang et al., NeurIPS 2022, §3) searches the widths of an MLP under a hard budget on its
number of parameters (weights + biases). Here the depth is a decision too: ``depth`` picks a
branch, and each branch holds its own width decisions, so the widths of a deeper network are
*conditional* on the depth (``width2@depth3`` is active only when the depth is 3). A factorised
controller then learns one width distribution per (depth, layer), which is TabNAS's
fixed-depth policy for each depth.

The default width list has 20 values from 8 to 512: a roughly geometric series (ratio about
1.25, as in the 20-width list of a third-party TabNAS port, papers.md §2 *(unverified)*) rounded
to multiples of 8 above 16 and of 4 below, so that every width is a hardware-friendly size:
8, 12, 16, 20, 24, 32, 40, 48, 56, 64, 80, 96, 128, 160, 192, 256, 320, 384, 448, 512.

Example
-------
>>> from budgetnas.spaces.mlp import MLPSpace
>>> space = MLPSpace(n_in=2, n_out=1, widths=[2, 3, 4], depths=[2])
>>> space.size, space.widths_of([0, 2, 0])
(9, (4, 2))
>>> space.params([0, 2, 0])  # (2+1)*4 + (4+1)*2 + (2+1)*1: papers.md §2's toy 4-2
25
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from budgetnas.cost.base import Constraint, CostModel, as_batch
from budgetnas.errors import InfeasibleBudgetError, InvalidDNAError, SpaceError
from budgetnas.space import DNA, Space, oneof

__all__ = ["DEFAULT_DEPTHS", "DEFAULT_WIDTHS", "MLPParams", "MLPSpace"]

#: Hidden-layer widths searched by default (20 values, 8 to 512, ratio about 1.25).
DEFAULT_WIDTHS: tuple[int, ...] = (8, 12, 16, 20, 24, 32, 40, 48, 56, 64, 80, 96, 128, 160, 192,
                                   256, 320, 384, 448, 512)
#: Numbers of hidden layers searched by default.
DEFAULT_DEPTHS: tuple[int, ...] = (1, 2, 3, 4)


class MLPSpace:
    """The MLP search space: ``depth`` in ``depths``, then a width from ``widths`` per hidden layer.

    Decision points, in DNA-vector order: ``depth`` (column 0), then for each depth ``d`` its
    ``width1@depth{d}`` … ``width{d}@depth{d}``; the widths of the depths not chosen are
    inactive (-1 in the vector). A child materialises to its list of hidden widths.

    Parameters
    ----------
    n_in : int
        Input features of the network (after preprocessing).
    n_out : int
        Output units (1 for binary / regression, K for K classes).
    widths : sequence of int
        Candidate widths, strictly increasing positive integers.
    depths : sequence of int
        Candidate numbers of hidden layers, strictly increasing, each >= 1.

    Attributes
    ----------
    space : budgetnas.Space
        The symbolic space; ``space.spec`` is what search algorithms see.
    width_values : np.ndarray
        int64, shape ``(len(widths),)``.
    max_depth : int

    Raises
    ------
    SpaceError
        If a list is empty, not strictly increasing, or holds a non-positive value.

    See Also
    --------
    budgetnas.supernet.mlp.MLPSupernet : runs any child of this space with shared weights.
    """

    def __init__(self, n_in: int, n_out: int, widths: Sequence[int] = DEFAULT_WIDTHS,
                 depths: Sequence[int] = DEFAULT_DEPTHS) -> None:
        self.n_in, self.n_out = _positive(n_in, "n_in"), _positive(n_out, "n_out")
        self.widths = _increasing(widths, "widths", minimum=1)
        self.depths = _increasing(depths, "depths", minimum=1)
        self.width_values = np.asarray(self.widths, dtype=np.int64)
        self.max_depth = self.depths[-1]
        branches = [[oneof(list(self.widths), name=f"width{k + 1}@depth{d}") for k in range(d)]
                    for d in self.depths]
        self.space = Space(oneof(branches, name="depth"))
        # Column of the DNA vector holding layer k's width for the i-th depth.
        self.columns: list[np.ndarray] = []
        col = 1
        for d in self.depths:
            self.columns.append(np.arange(col, col + d, dtype=np.int64))
            col += d

    # ------------------------------------------------------------------ views
    @property
    def spec(self):
        """The spec of decision points (what search algorithms see)."""
        return self.space.spec

    @property
    def num_decisions(self) -> int:
        return self.space.num_decisions

    @property
    def size(self) -> int:
        """Number of children: ``sum(len(widths) ** d for d in depths)``."""
        return int(self.space.size)

    def __repr__(self) -> str:
        return (f"MLPSpace(n_in={self.n_in}, n_out={self.n_out}, widths={list(self.widths)}, "
                f"depths={list(self.depths)}, size={self.size:,})")

    # ------------------------------------------------------------------ DNA <-> widths
    def widths_of(self, dna: Sequence[int] | np.ndarray) -> tuple[int, ...]:
        """The hidden widths of one child, e.g. ``(64, 32)``.

        Parameters
        ----------
        dna : DNA, sequence of int, or np.ndarray of shape ``(D,)``
            A DNA (active decisions only) or a full DNA vector (-1 for inactive decisions).

        Raises
        ------
        InvalidDNAError
            If ``dna`` is not a child of this space.
        """
        vec = self._vector(dna)
        return tuple(int(w) for w in self.widths_batch(vec[None])[0] if w > 0)

    def widths_batch(self, X: np.ndarray) -> np.ndarray:
        """Hidden widths of a batch of DNA vectors: int64 ``(n, max_depth)``, 0 past the depth.

        Parameters
        ----------
        X : np.ndarray of int, shape ``(n, D)``
            DNA vectors (``spec.to_vector`` / ``spec.sample_batch``).

        Raises
        ------
        CostError
            If ``X`` is not an integer array of width D.
        """
        X = as_batch(X, self.num_decisions)
        out = np.zeros((len(X), self.max_depth), dtype=np.int64)
        depth_idx = X[:, 0]
        for i, cols in enumerate(self.columns):
            rows = np.flatnonzero(depth_idx == i)
            if rows.size:
                out[rows, : len(cols)] = self.width_values[X[np.ix_(rows, cols)]]
        return out

    def dna_of(self, widths: Sequence[int]) -> DNA:
        """The DNA of the child with these hidden widths (the inverse of :meth:`widths_of`).

        Raises
        ------
        InvalidDNAError
            If the depth or a width is not a candidate of this space; the message lists them.
        """
        widths = [int(w) for w in widths]
        if len(widths) not in self.depths:
            raise InvalidDNAError(f"an MLP of depth {len(widths)} is not in this space; depths: "
                                  f"{list(self.depths)}")
        index = {w: i for i, w in enumerate(self.widths)}
        bad = [w for w in widths if w not in index]
        if bad:
            raise InvalidDNAError(f"widths {bad} are not candidates of this space; candidates: "
                                  f"{list(self.widths)}")
        return DNA([self.depths.index(len(widths)), *(index[w] for w in widths)])

    def vector_of(self, widths: Sequence[int]) -> np.ndarray:
        """The DNA vector (int64, shape ``(D,)``) of the child with these hidden widths."""
        return self.space.to_vector(self.dna_of(widths))

    # ------------------------------------------------------------------ cost
    def params_batch(self, X: np.ndarray) -> np.ndarray:
        """Parameters (weights + biases) of each child: int64 ``(n,)``, TabNAS's resource (§3).

        A child with hidden widths ``w_1..w_d`` has ``sum((a + 1) * b)`` over consecutive sizes
        ``(a, b)`` of ``[n_in, w_1, ..., w_d, n_out]`` parameters, as ``nn.Linear`` layers with
        bias (the network of :func:`budgetnas.tabular.train.build_mlp`).
        """
        W = self.widths_batch(X)
        total = np.zeros(len(W), dtype=np.int64)
        prev = np.full(len(W), self.n_in, dtype=np.int64)
        for k in range(self.max_depth):
            w = W[:, k]
            live = w > 0
            total += np.where(live, (prev + 1) * w, 0)
            prev = np.where(live, w, prev)
        return total + (prev + 1) * self.n_out

    def params(self, dna: Sequence[int] | np.ndarray) -> int:
        """Parameters (weights + biases) of one child."""
        return int(self.params_batch(self._vector(dna)[None])[0])

    def param_cost(self) -> MLPParams:
        """The analytic parameter count as a :class:`~budgetnas.cost.CostModel` (unit ``parameters``)."""
        return MLPParams(self)

    def min_params(self) -> int:
        """The fewest parameters of any child (every layer at the smallest width, best depth)."""
        return int(min(self.params_batch(self._extreme_vectors(0))))

    def max_params(self) -> int:
        """The most parameters of any child (every layer at the largest width, best depth)."""
        return int(max(self.params_batch(self._extreme_vectors(len(self.widths) - 1))))

    def constraint(self, max_params: float) -> Constraint:
        """A hard constraint ``params <= max_params``.

        Raises
        ------
        InfeasibleBudgetError
            If ``max_params`` is below :meth:`min_params` (the message names the minimum).
        """
        budget = Constraint(self.param_cost(), max=max_params, name="params")
        budget.check_achievable()
        return budget

    def feasible_max_widths(self, max_params: float) -> tuple[int, ...]:
        """Per hidden layer, the largest width that any child within ``max_params`` uses.

        Used to size a supernet: units beyond these widths could never be trained or used by a
        feasible child. Shape ``(max_depth,)``; a layer that no feasible child has gets the
        smallest width. Exact: the count grows with each width, so the widest feasible width of
        layer k at depth d is found with every other layer at the smallest width.

        Raises
        ------
        InfeasibleBudgetError
            If no child fits ``max_params``.
        """
        if self.min_params() > max_params:
            raise InfeasibleBudgetError(self._below_min_message(max_params))
        best = np.full(self.max_depth, self.widths[0], dtype=np.int64)
        D, m = self.num_decisions, len(self.widths)
        for i, cols in enumerate(self.columns):
            for k, col in enumerate(cols):
                X = np.full((m, D), -1, dtype=np.int64)
                X[:, 0] = i
                X[:, cols] = 0
                X[:, col] = np.arange(m)
                ok = self.params_batch(X) <= max_params
                if ok.any():
                    best[k] = max(best[k], self.widths[int(np.flatnonzero(ok).max())])
        return tuple(int(w) for w in best)

    # ------------------------------------------------------------------ enumeration
    def all_vectors(self) -> np.ndarray:
        """Every child as a DNA vector: int64 ``(size, D)``, depth by depth, lexicographic.

        Built with array operations (no per-child Python), e.g. 168,420 rows for the default
        space in a few milliseconds.
        """
        m, D = len(self.widths), self.num_decisions
        blocks = []
        for i, cols in enumerate(self.columns):
            grid = np.indices((m,) * len(cols)).reshape(len(cols), -1).T
            X = np.full((len(grid), D), -1, dtype=np.int64)
            X[:, 0] = i
            X[:, cols] = grid
            blocks.append(X)
        return np.concatenate(blocks)

    def _extreme_vectors(self, choice: int) -> np.ndarray:
        X = np.full((len(self.depths), self.num_decisions), -1, dtype=np.int64)
        for i, cols in enumerate(self.columns):
            X[i, 0] = i
            X[i, cols] = choice
        return X

    def _below_min_message(self, max_params: float) -> str:
        return (f"no MLP of this space fits max_params={max_params:,.0f}: the smallest child "
                f"has {self.min_params():,} parameters (n_in={self.n_in}, n_out={self.n_out}, "
                f"smallest width {self.widths[0]}); raise the budget to at least that")

    def _vector(self, dna: Sequence[int] | np.ndarray) -> np.ndarray:
        if isinstance(dna, np.ndarray) and dna.shape == (self.num_decisions,):
            return dna.astype(np.int64)
        return self.space.to_vector(list(dna))


class MLPParams(CostModel):
    """Analytic parameter count of the children of an :class:`MLPSpace`, priced in batches.

    ``batch(X)`` maps DNA vectors (int64, ``(n, D)``) to parameters (float64, ``(n,)``) with
    array arithmetic, fast enough for rejection sampling (TabNAS, Yang et al. 2022, §3.2).

    Parameters
    ----------
    space : MLPSpace
    """

    name = "params"
    unit = "parameters"
    is_monotone = True  # a larger width index never lowers the count

    def __init__(self, space: MLPSpace) -> None:
        self.mlp_space = space
        self.space = space.space
        self.num_decisions = space.num_decisions

    def batch(self, X: np.ndarray) -> np.ndarray:
        return self.mlp_space.params_batch(X).astype(np.float64)

    def min_cost(self) -> float:
        return float(self.mlp_space.min_params())

    def max_cost(self) -> float:
        """The largest parameter count in the space."""
        return float(self.mlp_space.max_params())


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise SpaceError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _increasing(values: Iterable[int], what: str, minimum: int) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out:
        raise SpaceError(f"{what} is empty; give at least one value")
    if any(v < minimum for v in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise SpaceError(f"{what} must be strictly increasing integers >= {minimum}, got {list(out)}")
    return out
