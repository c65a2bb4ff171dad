"""Tests of budgetnas.cost.counting against hand counts and published MobileNetV2 numbers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from budgetnas.cost.counting import (
    CostReport,
    cost_report,
    count_flops,
    count_macs,
    count_parameters,
)
from budgetnas.nn import CondConv2d, ConvBNAct, InvertedBottleneck, SqueezeExcite, make_divisible


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_regular_conv_hand_count():
    rep = cost_report(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), (1, 3, 10, 10))
    assert rep.macs == 8 * 3 * 9 * 5 * 5
    assert rep.flops == 2 * rep.macs and rep.params == 8 * 3 * 9
    assert rep.macs_by_op == {"convolution": rep.macs}


def test_depthwise_conv_hand_count():
    # depthwise: each output channel sees one input channel: C * k^2 * H' * W'
    conv = nn.Conv2d(32, 32, 5, padding=2, groups=32, bias=False)
    assert count_macs(conv, (1, 32, 14, 14)) == 32 * 25 * 14 * 14
    assert count_parameters(conv) == 32 * 25


def test_grouped_conv_hand_count():
    conv = nn.Conv2d(16, 24, 3, padding=1, groups=4, bias=False)
    assert count_macs(conv, (2, 16, 6, 6)) == 2 * 24 * (16 // 4) * 9 * 36
    assert count_parameters(conv) == 24 * 4 * 9


def test_bias_costs_no_macs_but_is_counted_elementwise():
    with_b = nn.Conv2d(4, 6, 1, bias=True)
    without = nn.Conv2d(4, 6, 1, bias=False)
    r1, r0 = cost_report(with_b, (1, 4, 5, 5), True), cost_report(without, (1, 4, 5, 5), True)
    assert r1.macs == r0.macs == 4 * 6 * 25
    assert r1.params - r0.params == 6
    assert r1.elementwise_flops_by_op == {"bias": 6 * 25}
    assert r0.elementwise_flops_by_op == {}
    assert r1.flops == 2 * r1.macs + 150 and count_flops(with_b, (1, 4, 5, 5)) == 2 * r1.macs


def test_linear_hand_count():
    lin = nn.Linear(20, 7)
    rep = cost_report(lin, (3, 20), elementwise=True)
    assert rep.macs == 3 * 20 * 7 and rep.macs_by_op == {"addmm": 420}
    assert rep.params == 20 * 7 + 7
    assert rep.elementwise_flops_by_op == {"bias": 3 * 7}
    assert cost_report(nn.Linear(20, 7, bias=False), (3, 20)).macs_by_op == {"mm": 420}


def test_avg_pool_hand_count():
    rep = cost_report(nn.AvgPool2d(3, 1, 1), (1, 5, 6, 6), elementwise=True)
    assert rep.macs == 0 and rep.params == 0
    assert rep.elementwise_flops_by_op == {"avg_pool2d": 9 * 5 * 6 * 6}  # k^2 per output element
    assert rep.flops == 9 * 180
    assert count_flops(nn.AvgPool2d(3, 1, 1), (1, 5, 6, 6)) == 0  # default convention
    mp = cost_report(nn.MaxPool2d(2), (1, 5, 6, 6), elementwise=True)
    assert mp.elementwise_flops_by_op == {"max_pool2d_with_indices": 4 * 5 * 3 * 3}


def test_batchnorm_and_activations_are_elementwise_only():
    m = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU6(), nn.Hardswish(), nn.Hardsigmoid())
    rep = cost_report(m, (2, 4, 3, 3), elementwise=True)
    n = 2 * 4 * 9
    assert rep.macs == 0
    assert rep.elementwise_flops_by_op == {
        "batch_norm": 2 * n, "hardtanh": n, "hardswish": n,
        "hardsigmoid": n,
    }


def test_squeeze_excite_hand_count():
    c, h = 72, 7
    se = SqueezeExcite(c)  # squeeze 24
    s = se.squeeze_ch
    rep = cost_report(se, (1, c, h, h), elementwise=True)
    assert rep.macs == c * s + s * c  # the two 1x1 convs on the pooled vector
    assert rep.params == 2 * c * s + s + c
    assert rep.elementwise_flops_by_op == {
        "mean": c * h * h,  # global average pooling: one add per input element
        "bias": s + c,
        "relu": s,
        "hardsigmoid": c,
        "mul": c * h * h,  # the rescaling
    }


def test_condconv_four_experts_hand_count():
    e, cin, cout, k, hw = 4, 8, 16, 3, 6
    conv = CondConv2d(cin, cout, k, num_experts=e)
    x, r = torch.randn(1, cin, hw, hw), torch.rand(1, e)
    kernel = cout * cin * k * k
    rep = cost_report(conv, (x, r))
    assert rep.params == e * kernel
    assert rep.macs_by_op == {"mm": e * kernel, "convolution": kernel * hw * hw}
    # the mixture path runs n full convolutions instead of mixing kernels
    conv.path = "mixture"
    mix = cost_report(conv, (x, r), elementwise=True)
    assert mix.macs_by_op == {"convolution": e * kernel * hw * hw}
    assert mix.elementwise_flops_by_op == {"mul": e * cout * hw * hw, "add": (e - 1) * cout * hw * hw}
    # depthwise CondConv: the mixing costs n * C * k^2 per example
    dw = CondConv2d(cin, cin, k, groups=cin, num_experts=e)
    assert cost_report(dw, (torch.randn(2, cin, hw, hw), torch.rand(2, e))).macs_by_op == {
        "mm": 2 * e * cin * k * k, "convolution": 2 * cin * k * k * hw * hw,
    }


def test_condconv_block_hand_count():
    e, cin, mid, cout, k, hw = 4, 16, 64, 24, 5, 8
    blk = InvertedBottleneck(cin, cout, 4, k, num_experts=e)
    convs = cin * mid + mid * k * k + mid * cout  # weights of the three convolutions
    rep = cost_report(blk, (1, cin, hw, hw))
    assert rep.macs_by_op == {
        "addmm": cin * e,  # routing linear
        "mm": e * convs,  # kernel mixing
        "convolution": convs * hw * hw,
    }
    plain = cost_report(InvertedBottleneck(cin, cout, 4, k), (1, cin, hw, hw))
    assert plain.macs == convs * hw * hw
    assert rep.params == plain.params + (e - 1) * convs + cin * e + e


def test_counting_leaves_module_state_alone():
    m = nn.Sequential(ConvBNAct(3, 8, 3), nn.Dropout(0.5))
    m.train()
    m[0][1].eval()  # a mixed state must come back exactly
    before = {k: v.clone() for k, v in m.state_dict().items()}
    count_macs(m, (2, 3, 8, 8))
    assert m.training and not m[0][1].training and m[1].training
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_count_parameters_shared_and_trainable():
    lin = nn.Linear(4, 4)
    m = nn.Sequential(lin, nn.ReLU(), lin, nn.BatchNorm1d(4))
    assert count_parameters(m) == 20 + 8  # shared linear once; BN gamma + beta, no buffers
    m[3].weight.requires_grad_(False)
    assert count_parameters(m, trainable_only=True) == 24


def test_inputs_forms_and_errors():
    conv = nn.Conv2d(3, 4, 1, bias=False)
    assert count_macs(conv, torch.zeros(2, 3, 5, 5)) == count_macs(conv, (2, 3, 5, 5)) == 2 * 300
    assert cost_report(conv, [1, 3, 2, 2]).input_shapes == ((1, 3, 2, 2),)
    with pytest.raises(TypeError, match="inputs must be"):
        count_macs(conv, "224")


def test_uncounted_ops_are_reported():
    rep = cost_report(nn.Softmax(dim=1), (2, 10))
    assert rep.macs == 0 and rep.uncounted_ops == {"_softmax": 1}


# ---------------------------------------------------------------- MobileNetV2 1.0 @ 224


def _mobilenet_v2(num_classes: int = 1000, width: float = 1.0) -> nn.Module:
    """MobileNetV2 (Sandler et al. 2018, Table 2) from our blocks, laid out like torchvision's."""
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    c_in = make_divisible(32 * width)
    layers: list[nn.Module] = [ConvBNAct(3, c_in, 3, 2, act="relu6")]
    for t, c, n, s in settings:
        c_out = make_divisible(c * width)
        for i in range(n):
            layers.append(InvertedBottleneck(c_in, c_out, t, 3, s if i == 0 else 1, act="relu6"))
            c_in = c_out
    last = make_divisible(1280 * max(1.0, width))
    layers.append(ConvBNAct(c_in, last, 1, act="relu6"))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(last, num_classes))


def test_mobilenet_v2_matches_published_counts():
    net = _mobilenet_v2()
    rep = cost_report(net)
    assert isinstance(rep, CostReport)
    assert rep.params == 3_504_872  # torchvision.models.mobilenet_v2(): exactly this
    assert rep.macs == pytest.approx(300.8e6, rel=2e-3)  # published: 300 M multiply-adds
    assert rep.macs_by_op["addmm"] == 1280 * 1000
    assert rep.flops == 2 * rep.macs
    assert cost_report(net, elementwise=True).flops > rep.flops
