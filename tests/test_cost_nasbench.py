"""NAS-Bench-201 cell strings <-> DNA vectors, shared by its accuracy and latency tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetnas.errors import DataError
from budgetnas.nasbench import (
    NB201_EDGES,
    cellstr_to_vector,
    cellstrs_to_vectors,
    load_nb201_accuracy,
    load_nb201_latency,
    nb201_space,
    vector_to_cellstr,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nas"
ACC = DATA / "nb201_12epoch_accuracy.csv.gz"
LAT = DATA / "nb201_latency_27devices.csv.gz"


def test_cellstr_round_trip_and_order():
    s = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    v = cellstr_to_vector(s)
    assert v.tolist() == [3, 0, 1, 4, 2, 0]
    assert vector_to_cellstr(v) == s
    assert NB201_EDGES[4] == (3, 1)
    all_X = np.array(np.unravel_index(np.arange(5**6), (5,) * 6)).T
    np.testing.assert_array_equal(cellstrs_to_vectors(vector_to_cellstr(x) for x in all_X), all_X)
    space = nb201_space()
    assert space.size == 15625 and space.decision_points[2].name == "edge_2<-1"
    assert space.materialize(space.from_vector(v))["edges"][0] == "nor_conv_3x3"


@pytest.mark.parametrize("bad", ["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|none~0|+|none~0|none~1|",
                                 "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_bad_cellstr(bad):
    with pytest.raises(DataError, match="op|nodes|edge"):
        cellstr_to_vector(bad)


@pytest.mark.skipif(not (ACC.exists() and LAT.exists()), reason=f"shared data missing: {DATA}")
def test_both_tables_load_in_the_same_row_order():
    _, acc, metrics = load_nb201_accuracy(ACC, metrics=["cifar10-val", "cifar10-test"])
    _, lat, devices = load_nb201_latency(LAT, devices=["pixel3"])
    assert acc.shape == (15625, 2) and lat.shape == (15625, 1) and devices == ["pixel3"]
    # the all-"none" cell (row 0) is disconnected: chance accuracy on CIFAR-10
    assert acc[0, 0] == pytest.approx(10.0, abs=0.5)
    # the all-3x3-conv cell is the slowest of these single-op cells on the phone
    rows = [int(str(k) * 6, 5) for k in range(1, 5)]  # all skip, all 1x1, all 3x3, all pool
    assert int(np.argmax(lat[rows, 0])) == 2
    with pytest.raises(DataError, match="no columns"):
        load_nb201_latency(LAT, devices=["pixel9"])
    with pytest.raises(FileNotFoundError):
        load_nb201_latency(DATA / "missing.csv.gz")
