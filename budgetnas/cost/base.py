"""Cost models and constraints: the values every search algorithm and supernet trainer accepts.

A cost model prices children of a search space given as DNA vectors (``space.to_vector``): an int64
array of shape (n, D) with one column per decision point and -1 where a conditional decision is
inactive. Pricing a batch is array work wherever the model allows, because rejection sampling
(TabNAS, Yang et al. 2022, §3) prices thousands of candidates per controller step.

Example
-------
>>> import numpy as np
>>> widths = np.array([8, 16, 32])
>>> params = FunctionCost(lambda X: (widths[X] * 10).sum(axis=1), unit="parameters", name="toy")
>>> budget = Constraint(params, max=300)
>>> budget.feasible_batch(np.array([[0, 1], [2, 2]])).tolist()
[True, False]
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import CostError, InfeasibleBudgetError

UNITS = ("parameters", "MACs", "FLOPs", "ms", "ratio")
"""Units a cost model may report. ``ratio`` is a dimensionless cost/target (multi-device aggregates)."""


def check_unit(unit: str) -> str:
    """Return ``unit`` if it is one of :data:`UNITS`; raise :class:`CostError` otherwise."""
    if unit not in UNITS:
        raise CostError(f"unknown cost unit {unit!r}; expected one of {UNITS} "
                        "(say MACs for multiply-adds and FLOPs when counting both)")
    return unit


def as_batch(X: Any, num_decisions: int | None = None) -> np.ndarray:
    """Return ``X`` as a C-contiguous int64 array of shape (n, D); a single vector becomes (1, D).

    Raises
    ------
    CostError
        If ``X`` is not 1-D or 2-D integer-valued, or its width differs from ``num_decisions``.
    """
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise CostError(f"expected a batch of DNA vectors of shape (n, D), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        elif arr.size:
            raise CostError(f"DNA vectors must hold integer choice indices (-1 = inactive), "
                            f"got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if num_decisions is not None and arr.shape[1] != num_decisions:
        raise CostError(f"expected DNA vectors of width D={num_decisions} (one column per decision "
                        f"point), got width {arr.shape[1]}; build them with space.to_vector / "
                        "space.sample_batch of the space this cost model was made for")
    return arr


class CostModel(ABC):
    """What a child of a search space costs, priced from DNA vectors in batches.

    Subclasses implement :meth:`batch`. A single DNA is priced through ``space.to_vector`` when the
    model was given a space; without one, a DNA must already be a full vector (one entry per
    decision point, -1 for inactive ones), which holds for spaces without conditional decisions.

    Attributes
    ----------
    name : str
        Short name shown in constraints and reports.
    unit : str
        One of ``"parameters"``, ``"MACs"``, ``"FLOPs"``, ``"ms"``, ``"ratio"``.
    is_additive : bool
        True when the cost is a sum of per-decision (or per-layer) terms, so partial sums bound it.
    is_monotone : bool
        True when a larger choice index never lowers the cost with the other decisions fixed.
    is_expensive : bool
        True when pricing a child is slow (e.g. latency measured by running it), so the
        feasibility analysis never prices large batches of it.
    space : object or None
        The search space whose ``to_vector`` turns DNA into vectors.
    """

    name: str = "cost"
    unit: str = "ms"
    is_additive: bool = False
    is_monotone: bool = False
    is_expensive: bool = False
    space: Any = None
    num_decisions: int | None = None

    @abstractmethod
    def batch(self, X: np.ndarray) -> np.ndarray:
        """Price a batch of DNA vectors.

        Parameters
        ----------
        X : np.ndarray of int64, shape (n, D)
            DNA vectors, -1 where a decision is inactive.

        Returns
        -------
        np.ndarray of float64, shape (n,)
            The cost of each child, in ``self.unit``.
        """

    def to_vector(self, dna: Any) -> np.ndarray:
        """Turn one DNA into its vector (D,) with the model's space, or take it as a vector."""
        if self.space is not None and not isinstance(dna, np.ndarray):
            return np.asarray(self.space.to_vector(dna), dtype=np.int64)
        return as_batch(dna, self.num_decisions)[0]

    def __call__(self, dna: Any) -> float:
        """Price one child given as DNA (or as its vector); returns a float in ``self.unit``."""
        return float(self.batch(self.to_vector(dna)[None, :])[0])

    def min_cost(self) -> float | None:
        """The exact smallest cost over the space when the model can tell, else None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, unit={self.unit!r})"


class FunctionCost(CostModel):
    """A cost model from a Python callable: vectorised ``fn(X (n, D)) -> (n,)`` or per child.

    Parameters
    ----------
    fn : callable
        With ``vectorized=True`` (default) it maps an int64 array (n, D) to n costs. With
        ``vectorized=False`` it maps one DNA (``space.from_vector(row)`` when ``space`` is given,
        else the row as a tuple of ints) to a float, and is called once per row.
    unit : str
        The unit of the values ``fn`` returns.
    name : str, optional
        Defaults to the callable's ``__name__``.
    space : Space, optional
        Used to convert between DNA and vectors.
    min_cost : float, optional
        The exact smallest cost, when the caller knows it (e.g. from enumeration).
    is_additive, is_monotone : bool
        Flags a search algorithm may use to prune; set them only when they hold.

    Raises
    ------
    CostError
        When ``fn`` returns an array of the wrong shape, or the unit is unknown.
    """

    def __init__(self, fn: Callable[..., Any], unit: str, name: str | None = None, *,
                 vectorized: bool = True, space: Any = None, min_cost: float | None = None,
                 is_additive: bool = False, is_monotone: bool = False) -> None:
        if not callable(fn):
            raise CostError(f"FunctionCost needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.unit = check_unit(unit)
        self.name = name or getattr(fn, "__name__", "cost")
        self.vectorized = vectorized
        self.space = space
        if space is not None:
            self.num_decisions = int(getattr(space, "num_decisions", 0)) or None
        self._min_cost = min_cost
        self.is_additive = is_additive
        self.is_monotone = is_monotone

    def batch(self, X: np.ndarray) -> np.ndarray:
        X = as_batch(X, self.num_decisions)
        if self.vectorized:
            out = np.asarray(self.fn(X), dtype=np.float64).reshape(-1)
        else:
            out = np.fromiter((float(self.fn(self._row_dna(row))) for row in X),
                              dtype=np.float64, count=len(X))
        if out.shape != (len(X),):
            raise CostError(f"cost function {self.name!r} returned shape {out.shape} for a batch "
                            f"of {len(X)} children; expected ({len(X)},)")
        return out

    def __call__(self, dna: Any) -> float:
        if not self.vectorized and not isinstance(dna, np.ndarray):
            return float(self.fn(dna))  # no round trip through a vector
        return super().__call__(dna)

    def _row_dna(self, row: np.ndarray) -> Any:
        if self.space is not None:
            return self.space.from_vector(row)
        return tuple(int(v) for v in row)

    def min_cost(self) -> float | None:
        return self._min_cost


def as_cost_model(cost: Any, unit: str | None = None, name: str | None = None,
                  space: Any = None) -> CostModel:
    """Return ``cost`` as a :class:`CostModel`; a plain callable DNA -> float is wrapped per child.

    Raises
    ------
    CostError
        If ``cost`` is neither a CostModel nor callable, or a callable comes without a ``unit``.
    """
    if isinstance(cost, CostModel):
        return cost
    if callable(cost):
        if unit is None:
            raise CostError("a plain cost function needs its unit: pass unit='parameters' | "
                            "'MACs' | 'FLOPs' | 'ms' (or wrap it in FunctionCost)")
        return FunctionCost(cost, unit=unit, name=name, vectorized=False, space=space)
    raise CostError(f"expected a CostModel or a callable DNA -> float, got {type(cost).__name__}")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class Constraint:
    """A hard budget: the child's cost must be at most ``max`` (inclusive).

    Parameters
    ----------
    cost : CostModel or callable
        The cost to bound; a callable DNA -> float needs ``unit``.
    max : float
        The budget T0, in the cost's unit.
    name : str, optional
        Defaults to the cost's name.
    unit : str, optional
        Only for a plain callable ``cost``.

    Raises
    ------
    CostError
        If ``max`` is not a finite number.

    Notes
    -----
    TabNAS (Yang et al. 2022, §3) rejects every child outside the feasible set {y : cost(y) <= T0};
    ``ratio`` is TuNAS's T/T0 (Bender et al. 2020, §3.2), the input of its absolute-value reward.
    """

    def __init__(self, cost: Any, max: float, name: str | None = None,
                 unit: str | None = None) -> None:
        self.cost = as_cost_model(cost, unit=unit)
        try:
            budget = float(max)
        except (TypeError, ValueError):
            raise CostError(f"a constraint's max must be a number, got {max!r}") from None
        if not math.isfinite(budget):
            raise CostError(f"a constraint's max must be finite, got {max!r}")
        self.max = budget
        self.name = name or self.cost.name

    @property
    def unit(self) -> str:
        """The unit of the cost and of ``max``."""
        return self.cost.unit

    def feasible(self, dna: Any) -> bool:
        """True when the child's cost is at most ``max``."""
        return bool(self.cost(dna) <= self.max)

    def feasible_batch(self, X: np.ndarray) -> np.ndarray:
        """Bool array (n,): which rows of X (int64, shape (n, D)) fit the budget."""
        return self.cost.batch(X) <= self.max

    def margin(self, dna: Any) -> float:
        """``max - cost`` in the cost's unit: positive inside the budget, negative outside."""
        return self.max - self.cost(dna)

    def margin_batch(self, X: np.ndarray) -> np.ndarray:
        """``max - cost`` for a batch (n,), float64."""
        return self.max - self.cost.batch(X)

    def ratio(self, dna: Any) -> float:
        """``cost / max`` (TuNAS's T/T0); <= 1 inside the budget."""
        return self.cost(dna) / self.max

    def ratio_batch(self, X: np.ndarray) -> np.ndarray:
        """``cost / max`` for a batch (n,), float64."""
        return self.cost.batch(X) / self.max

    def check_achievable(self) -> None:
        """Raise :class:`InfeasibleBudgetError` when the model knows no child fits the budget."""
        smallest = self.cost.min_cost()
        if smallest is not None and smallest > self.max:
            raise InfeasibleBudgetError(
                f"no child fits {self!r}: the smallest achievable {self.name} is "
                f"{_fmt(smallest)} {self.unit}; raise max to at least that or shrink the space")

    def __repr__(self) -> str:
        return f"Constraint({self.name} ≤ {_fmt(self.max)} {self.unit})"


def feasible_all(constraints: Iterable[Constraint], X: np.ndarray) -> np.ndarray:
    """Bool array (n,): rows of X (int64, (n, D)) that satisfy every constraint.

    Each constraint prices only the rows still feasible, so a cheap first constraint spares an
    expensive later one. An empty list of constraints accepts every row.
    """
    X = as_batch(X)
    ok = np.ones(len(X), dtype=bool)
    for constraint in constraints:
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            break
        ok[idx] = constraint.feasible_batch(X[idx])
    return ok


def constraints_repr(constraints: Sequence[Constraint]) -> str:
    """One line listing constraints, e.g. ``params ≤ 25 parameters, latency ≤ 84 ms``."""
    return ", ".join(repr(c)[len("Constraint("):-1] for c in constraints)
