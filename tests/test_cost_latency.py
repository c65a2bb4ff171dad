"""Latency measured on this machine: distributions, both backends, the persistent cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from budgetnas.cost import (
    LatencyCache,
    LatencyResult,
    LatencySettings,
    MeasuredLatency,
    measure_latency,
)
from budgetnas.errors import CostError
from budgetnas.space import Space, oneof

SMALL = LatencySettings(input_size=(16,), warmup=2, repeats=7)


def mlp(width: int = 32) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, 4))


def test_torch_latency_is_a_distribution():
    net = mlp().train()
    res = measure_latency(net, SMALL)
    assert res.n == 7 and len(res.samples) == 7
    assert res.iqr_ms >= 0
    assert 0 < res.p10 <= res.median_ms <= res.p90
    assert res.median_ms == pytest.approx(float(np.median(res.samples)))
    assert res.mean == pytest.approx(float(np.mean(res.samples)))
    assert net.training  # restored after measuring in eval mode
    assert torch.get_num_threads() >= 1


def test_onnxruntime_latency():
    pytest.importorskip("onnxruntime")
    res = measure_latency(mlp(), LatencySettings(input_size=(16,), warmup=1, repeats=5,
                                                 backend="onnxruntime"))
    assert res.n == 5 and res.iqr_ms >= 0 and res.median_ms > 0


def test_settings_validate_and_round_trip():
    with pytest.raises(CostError, match="backend"):
        LatencySettings(backend="tflite")
    with pytest.raises(CostError, match="repeats"):
        LatencySettings(repeats=0)
    s = LatencySettings(batch_size=4, input_size=[3, 8, 8], threads=2)
    assert s.input_size == (3, 8, 8)
    assert LatencySettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    r = LatencyResult.from_samples([1.0, 2.0, 3.0, 4.0, 100.0], s)
    assert (r.median_ms, r.iqr_ms, r.n) == (3.0, 2.0, 5)
    assert LatencyResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_cache_persists_atomically_and_keys_on_settings(tmp_path):
    path = tmp_path / "lat.json"
    cache = LatencyCache(path)
    built = []

    def build(dna):
        built.append(tuple(dna))
        return mlp(8 * (dna[0] + 1))

    first = cache.measure((1,), SMALL, build)
    again = cache.measure((1,), SMALL, build)
    assert again == first and built == [(1,)]
    other = LatencySettings(input_size=(16,), warmup=2, repeats=3)
    assert cache.get((1,), other) is None
    assert ((1,), SMALL) in cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.json"]  # no temp file left
    reloaded = LatencyCache(path)
    assert len(reloaded) == 1 and reloaded.get((1,), SMALL) == first
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(CostError, match="not a budgetnas latency cache"):
        LatencyCache(tmp_path / "bad.json")


def test_measured_latency_cost_model_builds_per_child():
    space = Space({"width": oneof([8, 256])})
    cost = MeasuredLatency(lambda dna: mlp(space.materialize(dna)["width"]), space,
                           settings=LatencySettings(input_size=(16,), warmup=1, repeats=3))
    X = np.array([[0], [1], [0]])
    out = cost.batch(X)
    assert out.shape == (3,) and np.all(out > 0)
    assert out[0] == out[2]  # second pricing of child 0 is the cached result
    assert len(cost.cache) == 2
