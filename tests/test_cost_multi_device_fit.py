"""Per-device latency models of a conv space (budgetnas.cost.multi_device_fit)."""

from __future__ import annotations

import numpy as np
import pytest

from budgetnas.cost.multi_device_fit import (
    Device,
    DeviceFit,
    default_devices,
    fit_device_models,
    latency_model,
    measure_devices,
    spearman_matrix,
)
from budgetnas.cost.space_costs import ConvSpaceCosts
from budgetnas.errors import CostError
from budgetnas.spaces import get_space


@pytest.fixture(scope="module")
def costs() -> ConvSpaceCosts:
    return ConvSpaceCosts(get_space("multihw"), input_size=28, num_classes=10, in_channels=1,
                          width_mult=0.25)


@pytest.fixture(scope="module")
def proxyless() -> ConvSpaceCosts:
    # fixed filter counts: MACs and parameters are exact sums of per-op layer terms
    return ConvSpaceCosts(get_space("proxylessnas"), input_size=28, num_classes=10,
                          in_channels=1, width_mult=0.25)


def test_device_validation() -> None:
    with pytest.raises(CostError, match="backend"):
        Device("x", backend="tflite")
    with pytest.raises(CostError, match="threads=1"):
        Device("x", threads=2)  # thread CPU time would miss the other thread
    assert Device("x", threads=2, clock="wall").threads == 2
    with pytest.raises(CostError, match="clock"):
        Device("x", clock="cycles")
    with pytest.raises(CostError, match="batch_size"):
        Device("x", batch_size=0)
    assert [d.name for d in default_devices()] == ["torch_b1", "onnxrt_b1", "torch_b64"]
    assert "ms per image" in default_devices()[2].describe()


def test_spearman_matrix() -> None:
    a = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    S = spearman_matrix(np.stack([a, a**3, -a], axis=1))
    np.testing.assert_allclose(S, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    with pytest.raises(CostError, match="n >= 3"):
        spearman_matrix(np.ones((2, 2)))


def test_measure_devices_orders_smallest_below_largest(costs: ConvSpaceCosts) -> None:
    space = costs.space
    X = np.stack([space.to_vector(space.smallest()), space.to_vector(space.largest())])
    devices = [Device("eager", repeats=5, warmup=1),
               Device("ort", "onnxruntime", repeats=5, warmup=1),
               Device("eager_b8", batch_size=8, per_example=True, repeats=3, warmup=1)]
    ms = measure_devices(costs.build, X, devices, (1, 28, 28))
    assert ms.shape == (2, 3) and np.all(np.isfinite(ms)) and np.all(ms > 0)
    # the largest child has ~10x the MACs and twice the layers: slower on every target
    assert np.all(ms[1] > ms[0])
    with pytest.raises(CostError, match="distinct names"):
        measure_devices(costs.build, X, [devices[0], devices[0]], (1, 28, 28))


def _synthetic_fit(costs: ConvSpaceCosts, n: int = 200) -> tuple[DeviceFit, np.ndarray]:
    """Two "devices" whose latencies are exact linear models over the space's features: one
    priced by MACs, one by parameters (so the fits must recover them)."""
    space = costs.space
    X = space.sample_batch(n, np.random.default_rng(0))
    Y = np.stack([costs.macs_cost().batch(X) / 1e6, costs.params_cost().batch(X) / 1e5], axis=1)
    models = {}
    for h, name in enumerate(["macs_dev", "params_dev"]):
        models[name] = latency_model(costs, "stage", alpha=1e-6).fit(X[:150], Y[:150, h])
    devices = [Device("macs_dev"), Device("params_dev")]
    metrics = {d: models[d].evaluate(X[150:], Y[150:, h]) for h, d in enumerate(models)}
    return DeviceFit(devices, models, X[:150], Y[:150], X[150:], Y[150:], metrics), Y


def test_stage_features_share_same_resolution_layers(proxyless: ConvSpaceCosts) -> None:
    stage, position = latency_model(proxyless, "stage"), latency_model(proxyless, "position")
    assert stage.n_features_ < position.n_features_
    groups = {name[0] for name in stage.feature_names_}
    assert "blocks[2].rest" in groups and "blocks[2].layers[1]" not in groups
    assert "blocks[2].layers[0]" in groups  # the strided first layer keeps its own costs
    with pytest.raises(CostError, match="features"):
        latency_model(proxyless, "global")


def test_device_fit_targets_and_aggregates(proxyless: ConvSpaceCosts) -> None:
    costs = proxyless
    fit, Y = _synthetic_fit(costs)
    # MACs and parameters are sums of per-layer terms that the stage features one-hot encode
    assert fit.metrics["macs_dev"]["mape"] < 1e-6
    assert fit.metrics["params_dev"]["mape"] < 1e-6
    targets = fit.quantile_targets(0.5, n_samples=5000)
    pred = fit.predict(fit.test_X)
    assert pred.shape == (50, 2)
    # the median child sits at ratio ~1 on every device
    all_pred = fit.predict(costs.space.sample_batch(5000, np.random.default_rng(1)))
    for h, name in enumerate(fit.names):
        assert abs(np.mean(all_pred[:, h] <= targets[name]) - 0.5) < 0.05
    R = pred / np.array([targets["macs_dev"], targets["params_dev"]])
    np.testing.assert_allclose(fit.multi_cost(targets, "mean").batch(fit.test_X), R.mean(1))
    np.testing.assert_allclose(fit.multi_cost(targets, "max").batch(fit.test_X), R.max(1))
    single = fit.multi_cost(targets, "mean", devices=["params_dev"])
    np.testing.assert_allclose(single.batch(fit.test_X), R[:, 1])
    S = fit.rank_correlation()
    assert S.shape == (2, 2) and S[0, 1] < 0.99  # MACs and parameters rank children differently
    with pytest.raises(CostError, match="no fitted model"):
        fit.multi_cost(targets, "max", devices=["gpu"])
    with pytest.raises(CostError, match="quantile"):
        fit.quantile_targets(1.5)


def test_fit_device_models_measures_and_fits(proxyless: ConvSpaceCosts) -> None:
    costs = proxyless
    fit = fit_device_models(costs, [Device("eager", repeats=3, warmup=1)], n_children=8,
                            n_test=3, alpha=1.0)
    assert fit.train_ms.shape == (8, 1) and fit.test_ms.shape == (3, 1)
    space = costs.space
    np.testing.assert_array_equal(fit.train_X[0], space.to_vector(space.smallest()))
    np.testing.assert_array_equal(fit.train_X[1], space.to_vector(space.largest()))
    assert set(fit.metrics["eager"]) >= {"mape", "kendall_tau"}
    assert np.all(np.isfinite(fit.predict(fit.test_X)))
    with pytest.raises(CostError, match="n_test"):
        fit_device_models(costs, [Device("eager")], n_children=8, n_test=2)
