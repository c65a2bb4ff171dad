"""Tests of budgetnas.nn: shapes, residual logic, CondConv execution paths, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.errors import LayerConfigError
from budgetnas.nn import (
    CondConv2d,
    CondConvRouting,
    ConvBNAct,
    DropPath,
    FusedInvertedBottleneck,
    InvertedBottleneck,
    SqueezeExcite,
    TuckerConv,
    get_activation,
    make_divisible,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- make_divisible, activations


@pytest.mark.parametrize(
    "v, expected",
    [(32, 32), (24 * 0.75, 24), (10, 16), (72 * 0.25, 24), (96 * 0.25, 24), (3, 8),
     (120 * 0.25, 32), (576 * 0.25, 144), (37, 40), (35, 32), (35.9, 40), (1000, 1000)],
)
def test_make_divisible_values(v, expected):
    assert make_divisible(v) == expected


def test_make_divisible_never_below_90_percent_and_multiple():
    for v in range(1, 2000):
        for d in (4, 8, 16):
            r = make_divisible(v / 3, d)
            assert r % d == 0 and r >= 0.9 * v / 3 and r >= d


def test_make_divisible_min_value_and_bad_divisor():
    assert make_divisible(3, 8, min_value=16) == 16
    with pytest.raises(ValueError, match="divisor"):
        make_divisible(10, 0)


@pytest.mark.parametrize(
    "name, cls",
    [("relu", nn.ReLU), ("relu6", nn.ReLU6), ("hswish", nn.Hardswish), ("hsigmoid", nn.Hardsigmoid),
     ("sigmoid", nn.Sigmoid), ("swish", nn.SiLU), ("identity", nn.Identity), (None, nn.Identity)],
)
def test_get_activation(name, cls):
    a, b = get_activation(name), get_activation(name)
    assert isinstance(a, cls) and a is not b


def test_get_activation_values_and_unknown():
    x = torch.tensor([-4.0, -1.0, 0.0, 1.0, 7.0])
    assert torch.equal(get_activation("relu6")(x.clone()), torch.tensor([0.0, 0.0, 0.0, 1.0, 6.0]))
    assert torch.allclose(get_activation("hsigmoid")(x.clone()), torch.tensor([0.0, 1 / 3, 0.5, 2 / 3, 1.0]))
    with pytest.raises(LayerConfigError, match="unknown activation 'gelu2'"):
        get_activation("gelu2")


# ---------------------------------------------------------------- conv-bn and SE


def test_conv_bn_act_shapes_and_groups_error():
    m = ConvBNAct(8, 16, 3, stride=2, act="hswish")
    assert m(torch.randn(2, 8, 15, 15)).shape == (2, 16, 8, 8)
    assert m[0].bias is None and isinstance(m[2], nn.Hardswish)
    with pytest.raises(LayerConfigError, match="divisible by groups=3"):
        ConvBNAct(8, 16, 3, groups=3)


def test_squeeze_excite_width_params_and_gate():
    se = SqueezeExcite(72)
    assert se.squeeze_ch == 24  # MobileNetV3: make_divisible(72 / 4) = 24
    assert sum(p.numel() for p in se.parameters()) == 2 * 72 * 24 + 24 + 72
    assert isinstance(se.gate, nn.Hardsigmoid) and isinstance(se.act, nn.ReLU)
    x = torch.randn(3, 72, 5, 5)
    with torch.no_grad():
        y = se(x)
    # per-(example, channel) scale in [0, 1], the same at every position
    scale = y / x
    assert scale.shape == x.shape
    assert torch.allclose(scale, scale[:, :, :1, :1].expand_as(scale), atol=1e-5)
    assert float(scale.min()) >= -1e-6 and float(scale.max()) <= 1 + 1e-6
    with torch.no_grad():  # a hand computation of the same thing
        s = F.hardsigmoid(se.expand(F.relu(se.reduce(x.mean((2, 3), keepdim=True)))))
    assert torch.allclose(y, x * s, atol=1e-6)
    assert SqueezeExcite(64, squeeze_ch=5).squeeze_ch == 5
    with pytest.raises(ValueError, match="se_ratio"):
        SqueezeExcite(64, se_ratio=0.0)


# ---------------------------------------------------------------- blocks: shapes and residual


BLOCKS = {
    "ibn": lambda i, o, s: InvertedBottleneck(i, o, 6, 5, s, se=True, act="hswish"),
    "ibn_e1": lambda i, o, s: InvertedBottleneck(i, o, 1, 3, s),
    "ibn_condconv": lambda i, o, s: InvertedBottleneck(i, o, 3, 3, s, se=0.25, num_experts=4),
    "fused": lambda i, o, s: FusedInvertedBottleneck(i, o, 4, 3, s, se=True),
    "tucker": lambda i, o, s: TuckerConv(i, o, 0.25, 0.75, 3, s),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("in_ch, out_ch, stride", [(16, 16, 1), (16, 24, 1), (16, 16, 2), (16, 32, 2)])
def test_block_shapes_and_residual_flag(name, in_ch, out_ch, stride):
    blk = BLOCKS[name](in_ch, out_ch, stride)
    y = blk(torch.randn(2, in_ch, 9, 9))
    side = 9 if stride == 1 else 5
    assert y.shape == (2, out_ch, side, side)
    assert blk.has_residual == (stride == 1 and in_ch == out_ch)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_zero_init_last_bn_makes_residual_block_identity(name):
    blk = BLOCKS[name](16, 16, 1).eval()
    x = torch.randn(2, 16, 7, 7)
    assert not torch.allclose(blk(x), x)
    blk.zero_init_last_bn()
    assert float(blk.last_bn.weight.detach().abs().sum()) == 0.0
    assert torch.allclose(blk(x), x)  # body outputs BN's β = 0
    # without a skip the output is the BN shift (zero), not x
    no_skip = BLOCKS[name](16, 16, 2).eval()
    no_skip.zero_init_last_bn()
    assert float(no_skip(x).detach().abs().max()) == 0.0


def test_zero_init_ctor_flag_and_residual_false():
    blk = InvertedBottleneck(16, 16, zero_init_last_bn=True)
    assert float(blk.project[1].weight.detach().abs().sum()) == 0.0
    assert float(blk.depthwise[1].weight.detach().abs().min()) == 1.0  # only the last BN
    assert not InvertedBottleneck(16, 16, residual=False).has_residual
    assert float(FusedInvertedBottleneck(8, 8, zero_init_last_bn=True).last_bn.weight.detach().sum()) == 0
    assert float(TuckerConv(8, 8, zero_init_last_bn=True).last_bn.weight.detach().sum()) == 0


def test_residual_adds_the_input():
    blk = InvertedBottleneck(8, 8, 2, 3).eval()
    x = torch.randn(1, 8, 6, 6)
    assert torch.allclose(blk(x), blk.body(x) + x)


def test_inverted_bottleneck_structure():
    blk = InvertedBottleneck(24, 40, 6, 5, 2, se=True, act="hswish")
    assert blk.mid_ch == 144 and blk.expand[0].kernel_size == (1, 1)
    dw = blk.depthwise[0]
    assert dw.groups == 144 and dw.kernel_size == (5, 5) and dw.stride == (2, 2)
    assert blk.se.squeeze_ch == 40  # make_divisible(144 / 4) = 40 (MobileNetV3)
    assert isinstance(blk.project[2], nn.Identity)  # linear bottleneck
    e1 = InvertedBottleneck(16, 16, 1, 3)
    assert e1.expand is None and e1.mid_ch == 16
    assert InvertedBottleneck(80, 80, 2.3, mid_ch=184).mid_ch == 184
    with pytest.raises(ValueError, match="stride"):
        InvertedBottleneck(8, 8, stride=3)


def test_fused_and_tucker_structure():
    f = FusedInvertedBottleneck(16, 24, 8, 5, 2)
    assert f.expand[0].groups == 1 and f.expand[0].kernel_size == (5, 5) and f.mid_ch == 128
    assert f.expand[0].stride == (2, 2) and f.project[0].kernel_size == (1, 1)
    t = TuckerConv(64, 32, 0.25, 0.75, 3)
    assert (t.compress_ch, t.core_ch) == (16, 24)
    assert t.compress[0].kernel_size == (1, 1) and t.core[0].kernel_size == (3, 3)
    assert t.core[0].groups == 1 and t.project[0].out_channels == 32
    with pytest.raises(ValueError, match="ratio"):
        TuckerConv(8, 8, 0.0, 0.5)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_every_parameter_gets_a_gradient(name):
    blk = BLOCKS[name](16, 16, 1).train()
    blk(torch.randn(4, 16, 8, 8)).square().mean().backward()
    for pname, p in blk.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert float(p.grad.abs().sum()) > 0, pname


def test_drop_path():
    dp = DropPath(0.5).train()
    x = torch.ones(1000, 3)
    y = dp(x)
    kept = y[:, 0] != 0
    assert torch.all(y[kept] == 2.0) and 400 < int(kept.sum()) < 600
    assert torch.equal(dp.eval()(x), x)
    blk = InvertedBottleneck(8, 8, drop_path=0.2)
    assert isinstance(blk.drop_path, DropPath)
    with pytest.raises(ValueError):
        DropPath(1.0)


# ---------------------------------------------------------------- CondConv


def _routing(b, n):
    return torch.rand(b, n)


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("bias", [False, True])
def test_condconv_paths_equal_forward_and_gradients(depthwise, stride, bias):
    in_ch, out_ch = (12, 12) if depthwise else (6, 10)
    groups = in_ch if depthwise else 1
    conv = CondConv2d(in_ch, out_ch, 3, stride, groups=groups, num_experts=4, bias=bias).double()
    x0 = torch.randn(3, in_ch, 9, 9, dtype=torch.float64)
    r0 = torch.rand(3, 4, dtype=torch.float64)
    outs, grads = {}, {}
    for path in ("grouped", "mixture"):
        conv.path = path
        conv.zero_grad()
        x, r = x0.clone().requires_grad_(), r0.clone().requires_grad_()
        y = conv(x, r)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        outs[path] = y.detach()
        grads[path] = [x.grad, r.grad, conv.weight.grad.clone()] + (
            [conv.bias.grad.clone()] if bias else []
        )
    assert outs["grouped"].shape == (3, out_ch, 5 if stride == 2 else 9, 5 if stride == 2 else 9)
    torch.testing.assert_close(outs["grouped"], outs["mixture"], rtol=1e-10, atol=1e-10)
    for g1, g2 in zip(grads["grouped"], grads["mixture"], strict=True):
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10)


def test_condconv_equals_conv_with_the_mixed_kernel():
    conv = CondConv2d(4, 6, 3, num_experts=3).double()
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    r = torch.rand(2, 3, dtype=torch.float64)
    y = conv(x, r)
    for b in range(2):
        w = (r[b].view(3, 1, 1, 1, 1) * conv.weight).sum(0)
        torch.testing.assert_close(y[b : b + 1], F.conv2d(x[b : b + 1], w, padding=1))


def test_condconv_one_expert_is_a_plain_conv_and_errors():
    conv = CondConv2d(4, 6, 3, num_experts=1)
    x = torch.randn(2, 4, 5, 5)
    ref = F.conv2d(x, conv.weight[0], padding=1)
    torch.testing.assert_close(conv(x, torch.ones(2, 1)), ref)
    with pytest.raises(LayerConfigError, match=r"\(2, 1\), got \(2, 3\)"):
        conv(x, torch.ones(2, 3))
    with pytest.raises(LayerConfigError, match="path"):
        CondConv2d(4, 6, 3, path="loop")
    with pytest.raises(LayerConfigError, match="num_experts"):
        CondConv2d(4, 6, 3, num_experts=0)


def test_condconv_routing():
    rt = CondConvRouting(8, 5)
    x = torch.randn(3, 8, 4, 4)
    with torch.no_grad():
        r = rt(x)
    assert r.shape == (3, 5) and float(r.min()) > 0 and float(r.max()) < 1
    torch.testing.assert_close(r, torch.sigmoid(rt.fc(x.mean((2, 3)))))


def test_condconv_block_computes_routing_once_and_paths_agree():
    blk = InvertedBottleneck(16, 16, 4, 5, se=True, num_experts=8).double().eval()
    calls = []
    blk.routing.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(3, 16, 8, 8, dtype=torch.float64)
    y1 = blk(x)
    assert len(calls) == 1
    blk.set_condconv_path("mixture")
    torch.testing.assert_close(blk(x), y1)
    convs = [m for m in blk.modules() if isinstance(m, CondConv2d)]
    assert len(convs) == 3 and all(c.num_experts == 8 and c.path == "mixture" for c in convs)


def test_one_expert_block_is_plain():
    blk = InvertedBottleneck(16, 24, 6, 3, num_experts=1)
    assert blk.routing is None
    assert not any(isinstance(m, (CondConv2d, CondConvRouting)) for m in blk.modules())
    plain_params = sum(p.numel() for p in blk.parameters())
    cc = InvertedBottleneck(16, 24, 6, 3, num_experts=4)
    conv_w = 16 * 96 + 96 * 9 + 96 * 24
    assert sum(p.numel() for p in cc.parameters()) == plain_params + 3 * conv_w + 16 * 4 + 4
