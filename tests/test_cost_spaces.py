"""Pricing children of the registered conv spaces (budgetnas.cost.space_costs)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.cost import LatencySettings, LookupMissError, count_macs, count_parameters
from budgetnas.cost.space_costs import ConvSpaceCosts, arch_records, layer_module, table_signature
from budgetnas.errors import CostError
from budgetnas.spaces import describe_layers, get_space, list_spaces

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PIXEL1 = DATA / "nas" / "proxylessnas_pixel1_trim.yaml"


@pytest.fixture(scope="module")
def mnv3():
    space = get_space("mobilenetv3_like")
    return space, ConvSpaceCosts(space, input_size=64, num_classes=200)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n == "mobiledet" else n  # ~5 s to tabulate
    for n in list_spaces(kind="conv")])
def test_batched_params_and_macs_equal_the_spaces_per_layer_sums(name):
    space = get_space(name)
    costs = ConvSpaceCosts(space, input_size=48, num_classes=10, width_mult=0.5)
    X = space.sample_batch(40, np.random.default_rng(3))
    params, macs = costs.params_cost().batch(X), costs.macs_cost().batch(X)
    for x, p, m in zip(X, params, macs):
        infos = describe_layers(space.materialize(space.from_vector(x)), 48, 10, width_mult=0.5)
        assert p == sum(i.params for i in infos)
        assert m == sum(i.macs for i in infos)
        assert [r.info for r in costs.records(x)] == infos
    np.testing.assert_array_equal(costs.flops_cost().batch(X), 2 * macs)


def test_batched_counts_equal_the_built_modules(mnv3):
    space, costs = mnv3
    X = space.sample_batch(2, np.random.default_rng(0))
    for x, p, m in zip(X, costs.params_cost().batch(X), costs.macs_cost().batch(X)):
        model = costs.build(x)
        assert p == count_parameters(model)
        assert m == count_macs(model, (1, 3, 64, 64))


def test_linear_features_of_a_child_are_its_layers_one_hot_counts(mnv3):
    space, costs = mnv3
    model = costs.linear_model()
    X = space.sample_batch(20, np.random.default_rng(1))
    F = model.features(X).toarray()
    groups = [p.name for p in costs.positions]
    assert len(set(groups)) == len(groups)  # one group per layer position
    for x, row in zip(X, F):
        infos = describe_layers(space.materialize(space.from_vector(x)), 64, 200)
        got = Counter()
        for k in np.flatnonzero(row):
            got[model.feature_names_[k][1:]] += int(row[k])
        assert set(row.tolist()) <= {0.0, 1.0}  # each position sets at most one feature
        assert got == Counter((i.op_key, i.in_filters, i.out_filters) for i in infos)
        assert row.sum() == len(infos)


def test_body_features_agree_with_the_spaces_own_layer_features(mnv3):
    """The spaces' ``layer_features`` and ours describe every body layer identically."""
    from budgetnas.cost import LinearLatencyModel

    space, costs = mnv3
    theirs = LinearLatencyModel(space.layer_features(), space=space)
    ours = costs.linear_model()
    X = space.sample_batch(20, np.random.default_rng(2))
    head = {"head_pre", "head_post", "classifier"}
    for a, b in zip(theirs.features(X).toarray(), ours.features(X).toarray()):
        fa = Counter(theirs.feature_names_[k][1:] for k in np.flatnonzero(a)
                     if theirs.feature_names_[k][1] not in head)
        fb = Counter(ours.feature_names_[k][1:] for k in np.flatnonzero(b)
                     if ours.feature_names_[k][1] not in head)
        assert fa == fb


def test_linear_features_represent_per_layer_macs_exactly(mnv3):
    # MACs are additive over layers and a layer's MACs follow from (position, op, in, out), so
    # a coefficient per feature reproduces every child's MACs: the features lose nothing
    space, costs = mnv3
    model = costs.linear_model()
    index = {name: k for k, name in enumerate(model.feature_names_)}
    coef = np.full(model.n_features_, np.nan)
    for pos, (start, size) in zip(costs.positions, zip(costs.lookup.offsets, costs.lookup.sizes)):
        for rec in costs.records_table()[start:start + size]:
            if rec is None:
                continue
            k = index[(pos.name, rec.info.op_key, rec.info.in_filters, rec.info.out_filters)]
            assert np.isnan(coef[k]) or coef[k] == rec.info.macs
            coef[k] = rec.info.macs
    X = space.sample_batch(500, np.random.default_rng(4))
    F = model.features(X)
    np.testing.assert_array_equal(F @ np.nan_to_num(coef), costs.macs_cost().batch(X))


@pytest.fixture(scope="module")
def small_table():
    """A real table: the layers of two children of a narrow MobileNetV3-like space at 32x32."""
    space = get_space("mobilenetv3_like")
    costs = ConvSpaceCosts(space, input_size=32, num_classes=10, width_mult=0.25)
    X = space.sample_batch(3, np.random.default_rng(7))
    table = costs.build_table(LatencySettings(warmup=1, repeats=3), X=X[:2])
    return space, costs, X, table


def test_table_sum_of_a_child_is_the_sum_of_its_layers_entries(small_table):
    space, costs, X, table = small_table
    assert table.meta["input_size"] == 32 and table.meta["signature_style"] == "full"
    priced = costs.table_latency(table).batch(X[:2])
    for x, total in zip(X[:2], priced):
        sigs = costs.signatures(x)
        arch = space.materialize(space.from_vector(x))
        assert sigs == [table_signature(r) for r in arch_records(arch, 32, 10, width_mult=0.25)]
        assert total == pytest.approx(sum(table[s].mean_ms for s in sigs), rel=1e-12)
        assert all(table[s].count == 3 and table[s].mean_ms > 0 for s in sigs)


def test_table_miss_names_the_missing_signature(small_table):
    space, costs, X, table = small_table
    missing = [s for s in costs.signatures(X[2]) if s not in table]
    assert missing, "the third child should have a layer the first two lack"
    with pytest.raises(LookupMissError, match="no latency for signature"):
        costs.table_latency(table).batch(X[2:])
    try:
        costs.table_latency(table).batch(X[2:])
    except LookupMissError as exc:
        assert any(s in str(exc) for s in missing)


def test_layer_modules_chain_into_the_whole_network(mnv3):
    space, costs = mnv3
    x = space.sample_batch(1, np.random.default_rng(8))[0]
    recs = costs.records(x)
    torch.manual_seed(0)
    h = torch.randn(1, 3, 64, 64)
    total = 0
    for rec in recs:
        module, shape = layer_module(rec)
        assert tuple(h.shape[1:]) == shape
        module.eval()
        with torch.no_grad():
            h = module(h)
        total += count_parameters(module)
    assert tuple(h.shape) == (1, 200)
    assert total == costs.params_cost()(x)
    assert recs[-3].info.kind == "head_pre" and recs[-3].pool


def test_proxylessnas_style_is_ambiguous_for_a_searched_stem_kernel(mnv3):
    _, costs = mnv3
    with pytest.raises(CostError, match="stands for two different layers"):
        costs.factories(style="proxylessnas")


@pytest.mark.skipif(not PIXEL1.exists(), reason=f"shared data missing: {PIXEL1}")
def test_registered_proxylessnas_space_prices_with_the_pixel1_table():
    from budgetnas.cost import load_table
    from budgetnas.cost.proxylessnas import mobilenet_v2_like_vector, proxylessnas_table_latency

    table = load_table(PIXEL1)
    space = get_space("proxylessnas")
    costs = ConvSpaceCosts(space, input_size=224, num_classes=1000)
    tl = costs.table_latency(table, style="proxylessnas")
    x = np.full(space.num_decisions, 1, dtype=np.int64)  # every layer kernel 3, expansion 6
    assert space.materialize(space.from_vector(x)).blocks[2].layers[0].expansion == 6.0
    reference = proxylessnas_table_latency(table).batch(mobilenet_v2_like_vector()[None])[0]
    assert tl(x) == pytest.approx(reference, rel=1e-12)
    assert tl(x) == pytest.approx(126.77, abs=0.01)


def test_measured_latency_uses_the_costs_input_size(mnv3):
    space, costs = mnv3
    ml = costs.measured_latency(LatencySettings(warmup=1, repeats=3))
    assert ml.settings.input_size == (3, 64, 64)
    x = space.sample_batch(1, np.random.default_rng(9))[0]
    res = ml.result(space.from_vector(x))
    assert res.n == 3 and res.median_ms > 0 and res.iqr_ms >= 0
    assert ml.batch(x[None])[0] == res.median_ms  # cached: same value again
