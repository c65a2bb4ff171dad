"""A cost read from a table over the whole space (one row per child), O(1) per child.

Row i of the table is the child whose DNA vector has mixed-radix index i (the first decision is
the most significant digit), so pricing a batch is one integer dot product and one gather.

Example
-------
>>> import numpy as np
>>> cost = TableCost(np.array([10.0, 11.0, 20.0, 21.0]), num_choices=[2, 2], unit="ms")
>>> cost.batch(np.array([[1, 0], [0, 1]])).tolist()
[20.0, 11.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from budgetnas.cost.base import CostModel, as_batch, check_unit
from budgetnas.errors import CostError


def radix_strides(num_choices: Any) -> np.ndarray:
    """Mixed-radix place values (D,) int64: the last decision varies fastest."""
    nc = np.asarray(num_choices, dtype=np.int64)
    if nc.ndim != 1 or nc.size == 0 or np.any(nc < 1):
        raise CostError(f"num_choices must be a non-empty 1-D array of positive counts, got {nc}")
    if float(np.prod(nc.astype(np.float64))) > 2**62:
        raise CostError(f"the space has {np.prod(nc.astype(np.float64)):.3g} children; too many "
                        "for a full table (use a per-layer model: TableLatency, "
                        "LinearLatencyModel)")
    return np.concatenate([np.cumprod(nc[::-1])[::-1][1:], [1]]).astype(np.int64)


def mixed_radix_index(X: np.ndarray, num_choices: Any) -> np.ndarray:
    """Row index (n,) int64 of each DNA vector in a full table over the space.

    Raises
    ------
    CostError
        When a vector has an inactive (-1) or out-of-range decision: a full table indexes
        spaces without conditional decisions.
    """
    nc = np.asarray(num_choices, dtype=np.int64)
    X = as_batch(X, len(nc))
    if X.size and (X.min() < 0 or np.any(X >= nc)):
        row = int(np.argwhere((X < 0) | (X >= nc))[0, 0])
        raise CostError(f"DNA vector {X[row].tolist()} is outside a full table with choices "
                        f"{nc.tolist()} (inactive -1 decisions are not indexable)")
    return X @ radix_strides(nc)


class TableCost(CostModel):
    """A cost looked up in a full table over a space without conditional decisions.

    Parameters
    ----------
    values : np.ndarray (size,) or (size, k)
        Row i = cost of the child with mixed-radix index i; NaN marks children without a value.
    num_choices : array of int (D,)
        Choices per decision; ``prod(num_choices)`` must equal ``len(values)``.
    unit : str
    name : str
    column : int, optional
        For a 2-D table, the column priced (e.g. one device of a latency table).
    space : Space, optional
        For DNA -> vector conversion.

    Raises
    ------
    CostError
        On a size mismatch, or (in :meth:`batch`) when a priced child has no value (NaN).
    """

    def __init__(self, values: Any, num_choices: Any, unit: str, name: str = "cost", *,
                 column: int | None = None, space: Any = None) -> None:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 2:
            if column is None:
                raise CostError(f"a 2-D table of shape {arr.shape} needs column= (which column "
                                "to price)")
            arr = arr[:, column]
        elif arr.ndim != 1:
            raise CostError(f"expected a table of shape (size,) or (size, k), got {arr.shape}")
        self._strides = radix_strides(num_choices)
        self.num_choices = np.asarray(num_choices, dtype=np.int64)
        size = int(np.prod(self.num_choices))
        if len(arr) != size:
            raise CostError(f"table has {len(arr)} rows, but the space has {size} children "
                            f"(num_choices {self.num_choices.tolist()})")
        self.values = arr
        self.unit = check_unit(unit)
        self.name = name
        self.space = space
        self.num_decisions = len(self.num_choices)

    def batch(self, X: np.ndarray) -> np.ndarray:
        out = self.values[mixed_radix_index(X, self.num_choices)]
        if np.isnan(out).any():
            row = int(np.flatnonzero(np.isnan(out))[0])
            raise CostError(f"the table has no {self.name} for child "
                            f"{as_batch(X)[row].tolist()}")
        return out

    def min_cost(self) -> float | None:
        return float(np.nanmin(self.values))

    def argmin(self) -> np.ndarray:
        """DNA vector (D,) of the cheapest child."""
        i = int(np.nanargmin(self.values))
        return np.array(np.unravel_index(i, tuple(self.num_choices)), dtype=np.int64)
