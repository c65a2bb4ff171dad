"""TuNAS linear latency model: exact recovery on additive latencies, solvers, real NB201 data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import budgetnas.cost.linear as linear_mod
from budgetnas.cost import LayerFeatureSpec, LinearLatencyModel
from budgetnas.errors import CostError
from budgetnas.space import Space, oneof

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NB201 = DATA / "nas" / "nb201_latency_27devices.csv.gz"
OPS = ("k3", "k5", "k7")
WIDTHS = (8, 16, 24)
L = 4


def chain_space() -> Space:
    return Space({"layers": [{"op": oneof(list(OPS)), "width": oneof(list(WIDTHS))}
                             for _ in range(L)]})


def chain_layers(space: Space, group=None) -> list[LayerFeatureSpec]:
    """Layer j: op j, input = width of layer j-1 (3 for the first), output = width j."""
    names = [dp.name for dp in space.decision_points]
    op = [names.index(f"layers[{j}].op") for j in range(L)]
    width = [names.index(f"layers[{j}].width") for j in range(L)]
    specs = [LayerFeatureSpec((op[0], width[0]), lambda v: (OPS[v[0]], 3, WIDTHS[v[1]]), group)]
    for j in range(1, L):
        specs.append(LayerFeatureSpec((op[j], width[j - 1], width[j]),
                                      lambda v: (OPS[v[0]], WIDTHS[v[1]], WIDTHS[v[2]]), group))
    return specs


def true_latency(model: LinearLatencyModel, coef: np.ndarray, intercept: float, X: np.ndarray):
    return np.asarray(model.features(X) @ coef).reshape(-1) + intercept


def test_recovers_exact_coefficients_on_variable_depth_chain():
    # A depth decision makes the layer count vary: then every coefficient is identifiable
    # (with a fixed depth, shifting cost between the cin=3 and the other features is invisible).
    space = Space({"depth": oneof([1, 2, 3, 4]),
                   "layers": [{"op": oneof(list(OPS)), "width": oneof(list(WIDTHS))}
                              for _ in range(L)]})
    names = [dp.name for dp in space.decision_points]
    depth = names.index("depth")

    def spec(j):
        op, w = names.index(f"layers[{j}].op"), names.index(f"layers[{j}].width")
        if j == 0:
            return LayerFeatureSpec((op, w), lambda v: (OPS[v[0]], 3, WIDTHS[v[1]]), "ibn")
        prev = names.index(f"layers[{j - 1}].width")
        return LayerFeatureSpec((depth, op, prev, w), lambda v, j=j: None if j > v[0] else (
            OPS[v[1]], WIDTHS[v[2]], WIDTHS[v[3]]), "ibn")

    model = LinearLatencyModel([spec(j) for j in range(L)], space=space, fit_intercept=False)
    # one group: output ⊗ input (3 and the widths) ⊗ op = 3 * 4 * 3 features
    assert model.n_features_ == 36
    rng = np.random.default_rng(0)
    coef = rng.uniform(0.1, 2.0, model.n_features_)
    X = space.sample_batch(400, rng)
    model.fit(X, true_latency(model, coef, 0.0, X))
    assert model.seen_features_.all()
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9, atol=1e-9)
    assert model.intercept_ == 0.0


def test_per_layer_model_predicts_additive_latency_exactly():
    space = chain_space()
    model = LinearLatencyModel(chain_layers(space), space=space)
    assert model.n_features_ == 3 * 3 * 1 + 3 * (3 * 3 * 3)
    rng = np.random.default_rng(1)
    coef = rng.uniform(0.1, 2.0, model.n_features_)
    X, X_test = space.sample_batch(600, rng), space.sample_batch(300, rng)
    model.fit(X, true_latency(model, coef, 5.0, X))
    y_test = true_latency(model, coef, 5.0, X_test)
    np.testing.assert_allclose(model.predict_batch(X_test), y_test, rtol=1e-9)
    np.testing.assert_allclose(model.predict_features(model.features(X_test)), y_test, rtol=1e-9)
    m = model.evaluate(X_test, y_test)
    assert m["mape"] < 1e-9 and m["r2"] > 1 - 1e-12 and m["kendall_tau"] == pytest.approx(1.0)
    assert model(space.from_vector(X_test[0])) == pytest.approx(y_test[0])
    assert model.min_cost() is None  # layers share width decisions: not separable


def test_sparse_solver_matches_dense(monkeypatch):
    space = chain_space()
    rng = np.random.default_rng(2)
    dense = LinearLatencyModel(chain_layers(space), space=space)
    coef = rng.uniform(0.1, 2.0, dense.n_features_)
    X = space.sample_batch(500, rng)
    y = true_latency(dense, coef, 1.0, X)
    dense.fit(X, y)
    monkeypatch.setattr(linear_mod, "DENSE_SOLVE_MAX_FEATURES", 0)
    sparse = LinearLatencyModel(chain_layers(space), space=space).fit(dense.features(X), y)
    X_test = space.sample_batch(200, rng)
    np.testing.assert_allclose(sparse.predict_batch(X_test), dense.predict_batch(X_test),
                               rtol=1e-6)


def test_skipped_layers_and_exact_min():
    # decision j: op of layer j, choice 3 = skip (no feature); layers are disjoint -> separable
    layers = [LayerFeatureSpec((j,), lambda v: None if v[0] == 3 else (OPS[v[0]], 16, 16))
              for j in range(3)]
    model = LinearLatencyModel(layers, num_choices=[4, 4, 4])
    X = np.array(np.meshgrid(*[range(4)] * 3, indexing="ij")).reshape(3, -1).T
    coef = np.arange(1, model.n_features_ + 1, dtype=float)
    y = true_latency(model, coef, 0.5, X)
    model.fit(X, y)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9)  # identifiable thanks to skips
    assert model.intercept_ == pytest.approx(0.5)
    assert model.min_cost() == pytest.approx(y.min()) == pytest.approx(0.5)


def test_errors():
    space = chain_space()
    model = LinearLatencyModel(chain_layers(space), space=space)
    with pytest.raises(CostError, match="not fitted"):
        model.predict_batch(space.sample_batch(2, np.random.default_rng(0)))
    with pytest.raises(CostError, match="rows but y"):
        model.fit(space.sample_batch(3, np.random.default_rng(0)), [1.0, 2.0])
    with pytest.raises(CostError, match="width"):
        model.fit(np.zeros((2, 5)), [1.0, 2.0])
    with pytest.raises(CostError, match="out_filters"):
        LinearLatencyModel([LayerFeatureSpec((0,), lambda v: "op")], num_choices=[2])


@pytest.mark.skipif(not NB201.exists(), reason=f"shared data missing: {NB201}")
def test_nb201_latency_fit_on_300_cells():
    from budgetnas.nasbench import NB201_OPS, load_nb201_latency, nb201_space

    _, table, devices = load_nb201_latency(NB201, devices=["pixel3", "fpga"])
    space = nb201_space()
    all_X = np.array(np.unravel_index(np.arange(len(table)), (5,) * 6)).T
    idx = np.random.default_rng(0).permutation(len(table))
    train, test = idx[:300], idx[300:]
    layers = [LayerFeatureSpec((e,), lambda v: (NB201_OPS[v[0]], 16, 16)) for e in range(6)]
    pixel3 = LinearLatencyModel(layers, space=space).fit(all_X[train], table[train, 0])
    m = pixel3.evaluate(all_X[test], table[test, 0])
    # measured on 15,325 held-out cells (see benchmarks/results/cost_linear_nb201.md)
    assert m["r2"] > 0.87 and m["kendall_tau"] > 0.78 and m["mdape"] < 0.15
    fpga = LinearLatencyModel(layers, space=space).fit(all_X[train], table[train, 1])
    m = fpga.evaluate(all_X[test], table[test, 1])
    assert m["r2"] > 0.9999 and m["mape"] < 1e-3  # the FPGA column is additive over edges
