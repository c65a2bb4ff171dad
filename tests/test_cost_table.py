"""Latency lookup tables: the ProxylessNAS Pixel 1 table, misses, per-layer pricing, building."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.cost import (
    LatencySettings,
    LatencyTable,
    LayerSignature,
    TableEntry,
    TableLatency,
    build_table,
    load_table,
)
from budgetnas.cost import proxylessnas as pn
from budgetnas.cost.table import _parse_two_level_yaml, distinct_signatures
from budgetnas.errors import BudgetNASError, LookupMissError
from budgetnas.space import Space, oneof

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
YAML = DATA / "nas" / "proxylessnas_pixel1_trim.yaml"
needs_data = pytest.mark.skipif(not YAML.exists(), reason=f"shared data missing: {YAML}")
KEY = "expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0"


@pytest.fixture(scope="module")
def pixel1() -> LatencyTable:
    return load_table(YAML)


@needs_data
def test_proxylessnas_yaml_loads_72_entries(pixel1):
    assert len(pixel1) == 72
    assert pixel1[KEY].mean_ms == pytest.approx(5.726016393442624)
    assert pixel1[KEY].count == 183
    assert pixel1["Logits-input:7x7x1280-output:1000"].mean_ms == pytest.approx(0.9348261327713382)
    assert pixel1["Conv-input:224x224x3-output:112x112x32"].var == pytest.approx(0.1562765530967112)


@needs_data
def test_small_yaml_parser_agrees_with_file(pixel1):
    raw = _parse_two_level_yaml(YAML.read_text(), str(YAML))
    assert len(raw) == 72 and raw[KEY] == {"count": 183, "mean": pixel1[KEY].mean_ms,
                                           "var": pixel1[KEY].var}


@needs_data
def test_lookup_miss_names_signature_and_nearest(pixel1):
    missing = KEY.replace("kernel:5", "kernel:9")
    with pytest.raises(LookupMissError) as info:
        pixel1[missing]
    msg = str(info.value)
    assert missing in msg and KEY in msg  # the nearest one differs in a single digit
    assert isinstance(info.value, KeyError) and isinstance(info.value, BudgetNASError)


@needs_data
def test_mobilenet_v2_like_chain_sums_to_plausible_latency(pixel1):
    cost = pn.proxylessnas_table_latency(pixel1)
    sigs = pn.proxylessnas_signatures([(3, 6)] * 21)
    assert len(sigs) == 25 and all(s in pixel1 for s in sigs)
    total = cost(pn.mobilenet_v2_like_vector())
    assert total == pytest.approx(sum(pixel1[s].mean_ms for s in sigs))
    # Pixel 1, ms: ProxylessNAS-mobile is reported at 78 ms; TuNAS targets 84 ms in this space.
    assert total == pytest.approx(126.7656, abs=1e-3)
    smallest = cost.min_cost()  # k3e3 first layers, everything else skipped
    firsts = [(3, 3) if j in pn.FIRST_OF_STAGE else None for j in range(21)]
    assert smallest == pytest.approx(pixel1.latency(pn.proxylessnas_signatures(firsts)))
    assert 30 < smallest < 84 < total < 150


@needs_data
def test_per_layer_pricing_equals_row_by_row_sum(pixel1):
    cost = pn.proxylessnas_table_latency(pixel1)
    nc = pn.proxylessnas_num_choices()
    X = np.floor(np.random.default_rng(0).random((200, 21)) * nc).astype(np.int64)
    expected = [pixel1.latency(pn.proxylessnas_signatures(
        [None if c == pn.SKIP else pn.OPS[c] for c in row])) for row in X]
    np.testing.assert_allclose(cost.batch(X), expected, rtol=1e-12)
    generic = TableLatency(pixel1, signatures_fn=lambda v: pn.proxylessnas_signatures(
        [None if c == pn.SKIP else pn.OPS[c] for c in v]), num_choices=nc)
    np.testing.assert_allclose(generic.batch(X), expected, rtol=1e-12)


def _chain_table():
    # layer j: kernel decision j, input width from decision 2 for layer 1
    table = LatencyTable({f"k{k}-w{w}": TableEntry(mean_ms=k * 0.1 + w * 0.01)
                          for k in (3, 5) for w in (8, 16)})
    layers = [LayerSignature((0,), lambda v: f"k{(3, 5)[v[0]]}-w8"),
              LayerSignature((1, 2), lambda v: f"k{(3, 5)[v[0]]}-w{(8, 16)[v[1]]}")]
    return table, layers


def test_table_latency_on_space_and_exact_min():
    table, layers = _chain_table()
    space = Space({"k0": oneof([3, 5]), "k1": oneof([3, 5]), "w": oneof([8, 16])})
    cost = TableLatency(table, layers, space=space)
    all_X = np.array(list(itertools.product(range(2), repeat=3)))
    prices = cost.batch(all_X)
    assert cost.min_cost() == pytest.approx(prices.min()) == pytest.approx(2 * (0.3 + 0.08))
    dna = space.from_vector(np.array([1, 0, 1]))
    assert cost(dna) == pytest.approx(0.5 + 0.08 + 0.3 + 0.16)
    assert cost.signatures(dna) == ["k5-w8", "k3-w16"]
    assert distinct_signatures(layers, space.num_choices) == sorted(table)


def test_table_latency_miss_raises_at_pricing():
    table, layers = _chain_table()
    del table.entries["k5-w16"]
    cost = TableLatency(table, layers, num_choices=[2, 2, 2])
    assert cost.batch(np.array([[1, 1, 0]]))[0] == pytest.approx(0.58 + 0.58)  # k5-w8 twice
    with pytest.raises(LookupMissError, match="'k5-w16'"):
        cost.batch(np.array([[0, 0, 0], [0, 1, 1]]))


def test_build_table_measures_and_round_trips(tmp_path):
    def conv(k):
        return lambda: (torch.nn.Conv2d(4, 4, k, padding=k // 2), (4, 8, 8))

    settings = LatencySettings(input_size=(4, 8, 8), warmup=1, repeats=4)
    table = build_table({"k1": conv(1), "k3": conv(3)}, settings)
    assert sorted(table) == ["k1", "k3"]
    assert table["k3"].count == 4 and table["k3"].iqr_ms >= 0 and table["k3"].mean_ms > 0
    assert table.meta["settings"]["repeats"] == 4
    table.save(tmp_path / "t.json")
    again = load_table(tmp_path / "t.json")
    assert again.entries == table.entries and again.meta["settings"] == settings.to_dict()
    (tmp_path / "flat.json").write_text('{"a": {"mean_ms": 1.5, "iqr_ms": 0.1, "count": 3}}')
    assert load_table(tmp_path / "flat.json")["a"] == TableEntry(1.5, 0.1, 3)


@needs_data
def test_proxylessnas_modules_build_for_every_signature(pixel1):
    for sig in pixel1:
        p = pn.parse_signature(sig)
        if p["kind"] == "expanded_conv" and p["stride"] == 2:  # the shape-changing ones
            module, size = pn.proxylessnas_module(sig)
            with torch.inference_mode():
                y = module.eval()(torch.zeros(1, *size))
            h, w, c = p["output"]
            assert tuple(y.shape) == (1, c, h, w), sig
