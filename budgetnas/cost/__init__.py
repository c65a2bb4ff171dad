"""What an architecture costs: parameters, MACs/FLOPs, latency measured here, from lookup tables,
from a fitted linear model, or aggregated over several devices; and the constraints that bound it.

Every cost model prices a batch of DNA vectors (int64, (n, D), -1 = inactive) in one call:

>>> import numpy as np
>>> from budgetnas.cost import Constraint, FunctionCost
>>> cost = FunctionCost(lambda X: X.sum(axis=1) * 1.0, unit="ms", name="toy")
>>> Constraint(cost, max=2).feasible_batch(np.array([[0, 1], [2, 1]])).tolist()
[True, False]

Modules: ``base`` (CostModel, Constraint), ``counting`` (parameters, MACs, FLOPs of a module),
``latency`` (measured on this machine), ``table`` (lookup tables), ``proxylessnas`` (signatures of
the ProxylessNAS backbone), ``linear`` (TuNAS linear latency model), ``full_table`` (a cost per
child of a small space), ``multi`` (several devices). Torch is imported only where needed.
"""

from __future__ import annotations

from typing import Any

from budgetnas.cost.base import (
    UNITS,
    Constraint,
    CostModel,
    FunctionCost,
    as_batch,
    as_cost_model,
    feasible_all,
)
from budgetnas.cost.full_table import TableCost, mixed_radix_index
from budgetnas.cost.latency import (
    LatencyCache,
    LatencyResult,
    LatencySettings,
    MeasuredLatency,
    measure_latency,
)
from budgetnas.cost.linear import LayerFeatureSpec, LinearLatencyModel
from budgetnas.cost.multi import MultiDeviceCost, aggregate_ratios, device_table_costs
from budgetnas.cost.table import (
    LatencyTable,
    LayerSignature,
    TableEntry,
    TableLatency,
    build_table,
    load_proxylessnas_table,
    load_table,
)
from budgetnas.errors import LookupMissError

_COUNTING = ("count_parameters", "count_macs", "count_flops", "cost_report", "CostReport")


def __getattr__(name: str) -> Any:
    # counting imports torch; load it on first use so that pricing DNA stays torch-free
    if name in _COUNTING:
        from budgetnas.cost import counting

        return getattr(counting, name)
    raise AttributeError(f"module 'budgetnas.cost' has no attribute {name!r}")


__all__ = [
    "UNITS", "Constraint", "CostModel", "CostReport", "FunctionCost", "LatencyCache",
    "LatencyResult", "LatencySettings", "LatencyTable", "LayerFeatureSpec", "LayerSignature",
    "LinearLatencyModel", "LookupMissError", "MeasuredLatency", "MultiDeviceCost", "TableCost",
    "TableEntry", "TableLatency", "aggregate_ratios", "as_batch", "as_cost_model", "build_table",
    "cost_report", "count_flops", "count_macs", "count_parameters", "device_table_costs",
    "feasible_all", "load_proxylessnas_table", "load_table", "measure_latency",
    "mixed_radix_index",
]
