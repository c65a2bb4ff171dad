"""One architecture for several devices: per-device latency ratios and their aggregate.

For devices h with cost models L_h and targets T_h, a child's ratios are r_h = L_h / T_h
(dimensionless; <= 1 means within that device's target). The aggregate is the arithmetic mean
(average case), the geometric mean, or the maximum (worst case) over devices; it can enter a
reward (e.g. TuNAS's |r - 1|) or a constraint ``aggregate <= 1``. The per-device hard constraints
∀h: L_h <= T_h come from :meth:`MultiDeviceCost.constraints`.

Example
-------
>>> import numpy as np
>>> from budgetnas.cost.base import FunctionCost
>>> a = FunctionCost(lambda X: X[:, 0] * 1.0, unit="ms", name="a")
>>> b = FunctionCost(lambda X: X[:, 0] * 4.0, unit="ms", name="b")
>>> multi = MultiDeviceCost({"a": a, "b": b}, targets={"a": 2.0, "b": 4.0}, aggregate="max")
>>> multi.batch(np.array([[1], [2]])).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.cost.base import Constraint, CostModel, as_batch
from budgetnas.cost.full_table import TableCost, mixed_radix_index
from budgetnas.errors import CostError

AGGREGATES = ("mean", "geomean", "max")


def aggregate_ratios(R: np.ndarray, how: str) -> np.ndarray:
    """Aggregate per-device ratios R (n, H) into (n,): ``mean``, ``geomean`` or ``max``.

    Raises
    ------
    CostError
        On an unknown aggregate, or ``geomean`` of a non-positive ratio.
    """
    R = np.asarray(R, dtype=np.float64)
    if how == "mean":
        return R.mean(axis=1)
    if how == "max":
        return R.max(axis=1)
    if how == "geomean":
        if np.any(R <= 0):
            raise CostError("the geometric mean needs positive per-device ratios; got a ratio "
                            "<= 0 (use aggregate='mean' or 'max')")
        return np.exp(np.log(R).mean(axis=1))
    raise CostError(f"unknown aggregate {how!r}; expected one of {AGGREGATES}")


class MultiDeviceCost(CostModel):
    """Aggregate of per-device cost ratios L_h / T_h (unit ``ratio``).

    Parameters
    ----------
    costs : mapping of device name to CostModel
        One cost model per device, all in the same unit (usually ms).
    targets : mapping of device name to float, or sequence in ``costs`` order
        Per-device target T_h (> 0), in that unit.
    aggregate : {"mean", "geomean", "max"}
        Average case (arithmetic or geometric mean) or worst case.
    name : str

    Raises
    ------
    CostError
        On a missing or non-positive target, mixed units, or an unknown aggregate.

    Notes
    -----
    Multi-hardware models (Chu et al., arXiv 2008.08178, §3): normalise each device's latency by
    its target and optimise the average (MultiHW-AVG) or the worst case (MultiHW-MAX). Which mean
    the paper uses is unverified, so both are offered.
    """

    unit = "ratio"

    def __init__(self, costs: Mapping[str, CostModel], targets: Mapping[str, float] |
                 Sequence[float], aggregate: str = "mean", name: str = "multi_hw") -> None:
        if not costs:
            raise CostError("MultiDeviceCost needs at least one device's cost model")
        if aggregate not in AGGREGATES:
            raise CostError(f"unknown aggregate {aggregate!r}; expected one of {AGGREGATES}")
        self.devices = list(costs)
        self.costs = dict(costs)
        units = {c.unit for c in self.costs.values()}
        if len(units) > 1:
            raise CostError(f"per-device costs must share one unit, got {sorted(units)}")
        self.device_unit = units.pop()
        if isinstance(targets, Mapping):
            missing = [d for d in self.devices if d not in targets]
            if missing:
                raise CostError(f"no target for devices {missing}; targets given for "
                                f"{list(targets)}")
            t = [float(targets[d]) for d in self.devices]
        else:
            t = [float(v) for v in targets]
            if len(t) != len(self.devices):
                raise CostError(f"{len(t)} targets for {len(self.devices)} devices")
        self.targets = np.asarray(t, dtype=np.float64)
        if np.any(~np.isfinite(self.targets)) or np.any(self.targets <= 0):
            raise CostError(f"targets must be positive and finite, got {self.targets.tolist()}")
        self.aggregate = aggregate
        self.name = name
        spaces = {id(c.space): c.space for c in self.costs.values() if c.space is not None}
        self.space = next(iter(spaces.values()), None)
        widths = {c.num_decisions for c in self.costs.values() if c.num_decisions is not None}
        self.num_decisions = widths.pop() if len(widths) == 1 else None
        self.is_monotone = all(c.is_monotone for c in self.costs.values())
        self.is_additive = aggregate == "mean" and all(c.is_additive for c in self.costs.values())

    def costs_batch(self, X: np.ndarray) -> np.ndarray:
        """Per-device costs (n, H) in the devices' unit."""
        X = as_batch(X, self.num_decisions)
        tables = self._shared_tables()
        if tables is not None:  # one index computation for all devices
            out = tables[mixed_radix_index(X, self.costs[self.devices[0]].num_choices)]
            if np.isnan(out).any():
                row, col = np.argwhere(np.isnan(out))[0]
                raise CostError(f"the table of device {self.devices[col]!r} has no value for "
                                f"child {X[row].tolist()}")
            return out
        return np.stack([self.costs[d].batch(X) for d in self.devices], axis=1)

    def _shared_tables(self) -> np.ndarray | None:
        """(size, H) stacked full tables when every device is a TableCost over one space."""
        if not hasattr(self, "_tables"):
            costs = [self.costs[d] for d in self.devices]
            same = all(isinstance(c, TableCost) for c in costs) and all(
                np.array_equal(c.num_choices, costs[0].num_choices) for c in costs)
            self._tables = np.stack([c.values for c in costs], axis=1) if same else None
        return self._tables

    def ratios_batch(self, X: np.ndarray) -> np.ndarray:
        """Per-device ratios r_h = L_h / T_h, shape (n, H)."""
        return self.costs_batch(X) / self.targets

    def batch(self, X: np.ndarray) -> np.ndarray:
        return aggregate_ratios(self.ratios_batch(X), self.aggregate)

    def ratios(self, dna: Any) -> dict[str, float]:
        """Per-device ratios of one child, by device name."""
        r = self.ratios_batch(self.to_vector(dna)[None, :])[0]
        return dict(zip(self.devices, r.tolist()))

    def constraints(self) -> list[Constraint]:
        """One hard constraint per device, L_h <= T_h (all must hold)."""
        return [Constraint(self.costs[d], t, name=f"{self.costs[d].name}[{d}]")
                for d, t in zip(self.devices, self.targets.tolist())]

    def min_cost(self) -> float | None:
        tables = self._shared_tables()
        if tables is None:
            return None
        # a full table enumerates the space: the exact minimum is one pass
        return float(np.nanmin(aggregate_ratios(tables / self.targets, self.aggregate)))

    def __repr__(self) -> str:
        return (f"MultiDeviceCost({self.aggregate} over {len(self.devices)} devices: "
                f"{self.devices})")


def device_table_costs(table: np.ndarray, devices: Sequence[str], num_choices: Any,
                       unit: str = "ms", space: Any = None) -> dict[str, TableCost]:
    """One :class:`TableCost` per column of a full table (size, H), keyed by device name."""
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(devices):
        raise CostError(f"expected a table (size, {len(devices)}) for devices {list(devices)}, "
                        f"got shape {table.shape}")
    return {d: TableCost(table, num_choices, unit=unit, name=f"latency[{d}]", column=h,
                         space=space)
            for h, d in enumerate(devices)}
