"""Multi-device aggregation, full-table costs, and NAS-Bench-201's 27 latency columns."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from budgetnas.cost import (
    Constraint,
    FunctionCost,
    MultiDeviceCost,
    TableCost,
    aggregate_ratios,
    device_table_costs,
    feasible_all,
    mixed_radix_index,
)
from budgetnas.errors import CostError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nas"
LAT = DATA / "nb201_latency_27devices.csv.gz"
needs_data = pytest.mark.skipif(not LAT.exists(), reason=f"shared data missing: {LAT}")


def two_devices(aggregate: str) -> MultiDeviceCost:
    # child x = (a, b): device "cpu" costs 10·a ms, device "phone" costs 20·b ms
    cpu = FunctionCost(lambda X: 10.0 * X[:, 0], unit="ms", name="cpu_ms")
    phone = FunctionCost(lambda X: 20.0 * X[:, 1], unit="ms", name="phone_ms")
    return MultiDeviceCost({"cpu": cpu, "phone": phone}, {"cpu": 20.0, "phone": 40.0}, aggregate)


def test_aggregates_on_hand_example():
    X = np.array([[1, 4], [2, 2], [4, 1]])  # ratios: (0.5, 2), (1, 1), (2, 0.5)
    np.testing.assert_allclose(two_devices("mean").ratios_batch(X),
                               [[0.5, 2.0], [1.0, 1.0], [2.0, 0.5]])
    np.testing.assert_allclose(two_devices("mean").batch(X), [1.25, 1.0, 1.25])
    np.testing.assert_allclose(two_devices("geomean").batch(X), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(two_devices("max").batch(X), [2.0, 1.0, 2.0])
    multi = two_devices("max")
    assert multi.ratios(np.array([1, 4])) == {"cpu": 0.5, "phone": 2.0}
    cons = multi.constraints()
    assert [repr(c) for c in cons] == ["Constraint(cpu_ms[cpu] ≤ 20 ms)",
                                       "Constraint(phone_ms[phone] ≤ 40 ms)"]
    assert feasible_all(cons, X).tolist() == [False, True, False]
    assert Constraint(multi, 1.0).feasible_batch(X).tolist() == [False, True, False]


def test_aggregate_errors():
    with pytest.raises(CostError, match="geometric mean"):
        aggregate_ratios(np.array([[0.0, 1.0]]), "geomean")
    with pytest.raises(CostError, match="unknown aggregate"):
        two_devices("median")
    cpu = FunctionCost(lambda X: X[:, 0] * 1.0, unit="ms")
    with pytest.raises(CostError, match="no target for devices"):
        MultiDeviceCost({"cpu": cpu, "gpu": cpu}, {"cpu": 1.0})
    with pytest.raises(CostError, match="share one unit"):
        MultiDeviceCost({"cpu": cpu, "p": FunctionCost(lambda X: X[:, 0], unit="parameters")},
                        [1.0, 1.0])


def test_table_cost_mixed_radix():
    values = np.arange(24, dtype=float) * 1.5
    cost = TableCost(values, num_choices=[2, 3, 4], unit="MACs", name="macs")
    X = np.array([[0, 0, 0], [1, 2, 3], [0, 1, 2]])
    assert mixed_radix_index(X, [2, 3, 4]).tolist() == [0, 23, 6]
    assert cost.batch(X).tolist() == [0.0, 34.5, 9.0]
    assert cost.min_cost() == 0.0 and cost.argmin().tolist() == [0, 0, 0]
    with pytest.raises(CostError, match="inactive"):
        cost.batch(np.array([[0, -1, 0]]))
    with pytest.raises(CostError, match="24 children"):
        TableCost(values[:5], [2, 3, 4], unit="ms")


@needs_data
def test_nb201_27_devices():
    from budgetnas.nasbench import load_nb201_latency, nb201_space

    ops, table, devices = load_nb201_latency(LAT)
    assert table.shape == (15625, 27) and len(devices) == 27 and ops[3] == "nor_conv_3x3"
    space = nb201_space()
    costs = device_table_costs(table, devices, space.num_choices, space=space)
    # a row of the raw file, priced through its cell string -> DNA -> table index
    with gzip.open(LAT, "rt") as f:
        raw = pd.read_csv(f, nrows=3)
    from budgetnas.nasbench import cellstr_to_vector

    for _, row in raw.iterrows():
        v = cellstr_to_vector(row["arch_str"])
        for d in ("pixel3", "fpga", "gold_6226", "titanxp_256"):
            assert costs[d](v) == pytest.approx(row[d])

    picked = ["pixel3", "gold_6226", "1080ti_1"]
    targets = {d: float(np.median(table[:, devices.index(d)])) for d in picked}
    X = np.array(np.unravel_index(np.arange(15625), (5,) * 6)).T
    R = table[:, [devices.index(d) for d in picked]] / np.array([targets[d] for d in picked])
    for how, expect in (("mean", R.mean(1)), ("max", R.max(1)),
                        ("geomean", np.exp(np.log(R).mean(1)))):
        multi = MultiDeviceCost({d: costs[d] for d in picked}, targets, aggregate=how)
        np.testing.assert_allclose(multi.batch(X), expect)
        assert multi.min_cost() == pytest.approx(expect.min())
    hard = feasible_all(multi.constraints(), X)
    assert hard.sum() == int((R <= 1).all(axis=1).sum())
    assert 0 < hard.sum() < 15625 / 2  # each device alone admits half the cells
