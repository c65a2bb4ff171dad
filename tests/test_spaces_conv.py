"""Every registered image search space, tested the way timm tests every registered model.

For each space: its smallest child, its largest and 20 seeded random children build, run forward
and backward at 32×32 (width multiplier 0.25, batch 2), every parameter gets a finite gradient,
the output has no NaN, the analytic parameter count equals the module's, the text form parses
back to the same child, and the DNA round-trips.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.cost.counting import count_macs, count_parameters
from budgetnas.errors import ArchitectureError, InvalidDNAError, SpaceError
from budgetnas.spaces import (
    BlockSpec,
    ConvArch,
    HeadSpec,
    LayerSpec,
    build_model,
    count_arch_macs,
    count_arch_params,
    describe_layers,
    from_string,
    get_space,
    layer_signatures,
    list_spaces,
    register_space,
    to_string,
)

CONV_SPACES = list_spaces(kind="conv")
N_RANDOM = 20
INPUT = 32
WIDTH = 0.25
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: extra threads only add contention (10x slower on a loaded 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _children(name: str) -> list[tuple[str, object]]:
    space = get_space(name)
    rng = np.random.default_rng(sum(map(ord, name)))  # seeded per space
    out = [("smallest", space.smallest()), ("largest", space.largest())]
    out += [(f"random{i}", space.sample(rng)) for i in range(N_RANDOM)]
    return out


def test_registry_lists_the_image_spaces():
    assert CONV_SPACES == ["mobiledet", "mobiledet_ibn", "mobilenetv3_like",
                           "mobilenetv3_like_condconv", "multihw", "proxylessnas"]


@pytest.mark.parametrize("name", CONV_SPACES)
def test_children_build_train_and_count(name):
    torch.manual_seed(0)
    space = get_space(name)
    for label, dna in _children(name):
        arch = space.materialize(dna)
        model = build_model(arch, num_classes=7, in_channels=3, width_mult=WIDTH)
        model.train()
        x = torch.randn(2, 3, INPUT, INPUT)
        out = model(x)
        assert out.shape == (2, 7), label
        assert torch.isfinite(out).all(), f"{name} {label}: non-finite output"
        out.square().mean().backward()
        for pname, p in model.named_parameters():
            assert p.grad is not None, f"{name} {label}: {pname} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{name} {label}: {pname} has a NaN gradient"
        assert count_arch_params(arch, 7, 3, WIDTH) == count_parameters(model), label
        assert space.encode(arch) == dna
        assert from_string(to_string(arch)) == arch
        assert space.from_string(to_string(arch)) == dna


@pytest.mark.parametrize("name", CONV_SPACES)
def test_smallest_is_smaller_than_every_sampled_child_and_largest_larger(name):
    space = get_space(name)
    lo, hi = space.params(space.smallest()), space.params(space.largest())
    sampled = [space.params(dna) for _, dna in _children(name)[2:]]
    assert lo <= min(sampled) and hi >= max(sampled)
    assert lo < hi


@pytest.mark.parametrize("name", CONV_SPACES)
def test_analytic_macs_equal_flop_counter_on_extremes(name):
    space = get_space(name)
    for dna in (space.smallest(), space.largest()):
        arch = space.materialize(dna)
        model = build_model(arch, num_classes=10, in_channels=1, width_mult=WIDTH)
        assert count_arch_macs(arch, 28, 10, 1, WIDTH) == count_macs(model, (1, 1, 28, 28))


@pytest.mark.parametrize("name", CONV_SPACES)
def test_any_input_size_and_channels(name):
    space = get_space(name)
    model = space.build(space.smallest(), num_classes=3, in_channels=1, width_mult=WIDTH).eval()
    for size in (1, 17, 28, 45):
        assert model(torch.zeros(1, 1, size, size)).shape == (1, 3)
    feats = space.build(space.smallest(), num_classes=0, width_mult=WIDTH).eval()
    assert feats(torch.zeros(2, 3, 20, 20)).shape == (2, feats.num_features)


@pytest.mark.parametrize("name", CONV_SPACES)
def test_layer_description_matches_the_module(name):
    """Shapes in the description are those the module produces (checked with forward hooks)."""
    space = get_space(name)
    arch = space.materialize(space.sample(np.random.default_rng(3)))
    infos = describe_layers(arch, 40, 5, 3, WIDTH)
    model = build_model(arch, 5, 3, WIDTH).eval()
    shapes = []
    for block in model.blocks:
        for layer in block:
            layer.register_forward_hook(lambda m, i, o: shapes.append((i[0].shape, o.shape)))
    model(torch.zeros(1, 3, 40, 40))
    body = [i for i in infos if i.block >= 0]
    assert len(body) == len(shapes) == arch.num_layers
    for info, (si, so) in zip(body, shapes):
        assert tuple(si[1:]) == (info.in_filters, *info.in_size)
        assert tuple(so[1:]) == (info.out_filters, *info.out_size)
    assert sum(i.params for i in infos) == count_parameters(model)


def test_proxylessnas_layout_and_signatures_match_the_cost_module_and_table():
    from budgetnas.cost import proxylessnas as cp

    space = get_space("proxylessnas")
    assert space.num_choices.tolist() == cp.proxylessnas_num_choices().tolist()
    table = (DATA / "nas" / "proxylessnas_pixel1_trim.yaml")
    known = None
    if table.exists():
        known = {line.rstrip(":\n") for line in table.read_text().splitlines()
                 if line and not line.startswith(" ")}
    rng = np.random.default_rng(0)
    for _ in range(10):
        dna = space.sample(rng)
        vec = space.to_vector(dna)
        ops = [None if c == cp.SKIP else cp.OPS[c] for c in vec]
        sigs = layer_signatures(space.materialize(dna), 224)
        assert sigs == cp.proxylessnas_signatures(ops)
        if known is not None:
            assert set(sigs) <= known


def test_layer_features_reproduce_described_layers():
    """LayerFeature.describe gives each present layer's (op, in, out) from the decisions alone."""
    for name in ("mobilenetv3_like_condconv", "mobiledet"):
        space = get_space(name)
        feats = space.layer_features()
        rng = np.random.default_rng(1)
        for _ in range(5):
            dna = space.sample(rng)
            vec = space.to_vector(dna)
            got = [f.describe(tuple(int(vec[d]) for d in f.deps)) for f in feats]
            got = [(g[0] if g[0].startswith("head") else g[0].split("_")[0], g[1], g[2])
                   for g in got if g is not None]
            want = [(i.kind, i.in_filters, i.out_filters)
                    for i in describe_layers(space.materialize(dna), 32) if i.kind != "classifier"]
            assert got == want


def _pixel1_table() -> dict[str, float]:
    path = DATA / "nas" / "proxylessnas_pixel1_trim.yaml"
    if not path.exists():
        pytest.skip(f"shared data folder missing: {path}")
    table, key = {}, None
    for line in path.read_text().splitlines():
        if not line.startswith(" "):
            key = line.rstrip(":")
        elif line.strip().startswith("mean:"):
            table[key] = float(line.split(":")[1])
    return table


def test_tunas_linear_model_on_layer_features_recovers_pixel1_table_latency():
    """TuNAS's linear model (one-hot op x in x out per layer) fitted on 400 children priced by the
    ProxylessNAS Pixel 1 table predicts 100 unseen children exactly (the table is additive)."""
    from budgetnas.cost.linear import LinearLatencyModel

    table = _pixel1_table()
    space = get_space("proxylessnas")
    rng = np.random.default_rng(0)

    def latency(X):
        return np.array([sum(table[s] for s in layer_signatures(
            space.materialize(space.from_vector(x)), 224)) for x in X])

    X, X_new = space.sample_batch(400, rng), space.sample_batch(100, rng)
    model = LinearLatencyModel(space.layer_features(), space=space).fit(X, latency(X))
    y_new = latency(X_new)
    assert 60 < y_new.mean() < 200  # ms on a Pixel 1
    np.testing.assert_allclose(model.predict_batch(X_new), y_new, atol=1e-6)


def test_condconv_experts_are_decisions_and_grow_parameters():
    space = get_space("mobilenetv3_like_condconv")
    dps = [d for d in space.decision_points if d.path.endswith("experts")]
    assert [d.candidates for d in dps] == [(1, 2, 4, 8)] * 2
    arch = space.materialize(space.largest())
    assert [b.experts for b in arch.blocks[-2:]] == [8, 8]
    one = arch.replace(blocks=arch.blocks[:-2] + tuple(
        BlockSpec(b.filters, b.stride, b.layers, 1) for b in arch.blocks[-2:]))
    p8, p1 = count_arch_params(arch), count_arch_params(one)
    m8, m1 = count_arch_macs(arch), count_arch_macs(one)
    assert p8 > 3 * p1 and m8 < 1.2 * m1  # params grow ~n×, MACs barely (CondConv §3)


def test_tunas_value_lists():
    space = get_space("mobilenetv3_like")
    cands = {d.path: d.candidates for d in space.decision_points}
    assert cands["blocks[0].filters"] == (8, 16, 24, 32)
    assert cands["blocks[5].filters"] == (128, 160, 192, 256, 320, 384, 512)
    assert cands["blocks[0].layers[0].kernel"] == (3, 5)
    assert cands["blocks[1].layers[0].expansion"] == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert cands["blocks[1].layers[0].se"] == (False, True)
    acts = [layer.act for b in space.materialize(space.largest()).blocks for layer in b.layers
            if layer is not None and layer.op == "ir"]
    assert acts[:9] == ["relu"] * 9 and set(acts[9:]) == {"hswish"}
    multi = get_space("multihw").materialize(get_space("multihw").largest())
    layers = [x for b in multi.blocks for x in b.layers if x is not None]
    assert {x.act for x in layers} == {"relu"} and not any(x.se for x in layers)
    assert max(x.kernel for x in layers) == 5


def test_string_form_reads_well_and_rejects_garbage():
    arch = ConvArch((BlockSpec(16, 2, (LayerSpec("conv", 3, act="hswish"), None)),
                     BlockSpec(24, 1, (LayerSpec("tucker", 5, act="relu6", in_ratio=0.25,
                                                 out_ratio=0.75),
                                       LayerSpec("fused", 3, 8.0, True, "relu6")), 4)),
                    HeadSpec(0, 0, False, "relu6"))
    text = to_string(arch)
    assert text == ("s2_c16: cn_k3_nhs skip | s1_c24_cc4: tk_k5_i0.25_o0.75_nr6 "
                    "er_k3_e8_se0.25_nr6 | head_nr6")
    assert from_string(text) == arch
    for bad in ("", "s2_c16: cn_k3_nhs", "s2_c16: zz_k3_nre | head_nre",
                "s2_c16: cn_k3_q7_nre | head_nre", "x: cn_k3_nre | head_nre",
                "s2_c16: cn_k3_nre | head_p9_nxx"):
        with pytest.raises(ArchitectureError):
            from_string(bad)


def test_errors_are_specific():
    with pytest.raises(SpaceError, match="did you mean"):
        get_space("proxylesnas")
    with pytest.raises(SpaceError, match="already registered"):
        register_space("proxylessnas")(lambda: None)
    space = get_space("proxylessnas")
    with pytest.raises(InvalidDNAError):
        space.encode(get_space("mobilenetv3_like").materialize(
            get_space("mobilenetv3_like").smallest()))
    bad = ConvArch((BlockSpec(16, 2, (LayerSpec("conv", 3),)), BlockSpec(24, 2, (None,))))
    with pytest.raises(ArchitectureError, match="changes the shape"):
        build_model(bad)
    with pytest.raises(ArchitectureError, match="stem"):
        build_model(ConvArch((BlockSpec(16, 2, (LayerSpec("ir", 3),)),)))
    with pytest.raises(ArchitectureError, match="unknown op"):
        count_arch_params(ConvArch((BlockSpec(16, 2, (LayerSpec("conv", 3),
                                                      LayerSpec("dw", 3))),)))


def test_width_multiplier_shrinks_parameters():
    space = get_space("mobilenetv3_like")
    arch = space.materialize(space.largest())
    counts = [count_arch_params(arch, 10, 3, w) for w in (0.25, 0.5, 1.0)]
    assert counts == sorted(counts) and counts[0] < counts[2] / 8
    assert math.isclose(space.size, get_space("mobilenetv3_like").size)
