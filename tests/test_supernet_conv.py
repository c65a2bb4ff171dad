"""Tests of the convolutional weight-sharing supernet (budgetnas.supernet.conv)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from budgetnas.errors import SupernetError
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet


def _randomise_bn(net: ConvSupernet, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in net.batch_norms():
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=g))
            bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(n, generator=g))


@pytest.mark.parametrize("name,sharing", [
    ("mobilenetv3_like", "center"), ("proxylessnas", "center"), ("mobiledet_ibn", "center"),
    ("mobiledet", "center"), ("mobilenetv3_like", "separate"), ("proxylessnas", "separate")])
def test_extract_equals_supernet_child(name: str, sharing: str) -> None:
    torch.manual_seed(0)
    space = get_space(name)
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25,
                       kernel_sharing=sharing)
    _randomise_bn(net)
    net.eval()
    x = torch.randn(3, 1, 28, 28)
    X = list(space.sample_batch(3, np.random.default_rng(1)))
    X += [space.to_vector(space.smallest()), space.to_vector(space.largest())]
    for v in X:
        arch = space.materialize(space.from_vector(v))
        child = net.extract(arch).eval()
        assert sum(p.numel() for p in child.parameters()) == space.params(
            arch, num_classes=10, in_channels=1, width_mult=0.25)
        with torch.no_grad():
            torch.testing.assert_close(net(x, arch), child(x), rtol=1e-5, atol=1e-5)


def test_child_uses_only_its_slices() -> None:
    torch.manual_seed(0)
    space = get_space("mobilenetv3_like")
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25)
    small = space.materialize(space.smallest())
    loss = F.cross_entropy(net(torch.randn(4, 1, 28, 28), small), torch.arange(4))
    loss.backward()
    stem = net.positions["b0_l0"]["conv"].conv.weight  # (32, 1, 5, 5) at width 0.25: 8 used
    c = stem.shape[-1] // 2
    used = torch.zeros_like(stem, dtype=torch.bool)
    used[:8, :, c - 1:c + 2, c - 1:c + 2] = True  # 8 filters, centre 3x3 of the 5x5 kernel
    assert stem.grad[~used].abs().max() == 0
    assert stem.grad[used].abs().max() > 0
    # skipped layers get no gradient at all
    assert net.positions["b1_l1"]["ir"].depthwise.weight.grad is None


def test_training_updates_bn_slices_in_place() -> None:
    torch.manual_seed(0)
    space = get_space("proxylessnas")
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25).train()
    bn = net.positions["b0_l0"]["conv"].conv.bn
    before = bn.running_mean.clone()
    net(torch.randn(8, 1, 28, 28), space.smallest())
    assert not torch.equal(before, bn.running_mean)


def test_zero_init_residual_bn_makes_residual_layers_identity() -> None:
    space = get_space("proxylessnas")
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25,
                       zero_init_residual_bn=True)
    assert float(net.positions["b2_l1"]["ir"].project.bn.weight.detach().abs().sum()) == 0
    assert float(net.positions["b2_l0"]["ir"].project.bn.weight.detach().abs().sum()) > 0


def test_errors() -> None:
    with pytest.raises(SupernetError, match="CondConv"):
        ConvSupernet(get_space("mobilenetv3_like_condconv"), num_classes=10)
    with pytest.raises(SupernetError, match="kernel_sharing"):
        ConvSupernet(get_space("proxylessnas"), kernel_sharing="mixed")
    net = ConvSupernet(get_space("proxylessnas"), num_classes=10, in_channels=1, width_mult=0.25)
    with pytest.raises(SupernetError, match="bn mode"):
        net.set_bn_mode("frozen")
    with pytest.raises(SupernetError, match="at least one batch"):
        net.calibrate_bn(get_space("proxylessnas").smallest(), [])


def test_drop_path_acts_on_residual_branches_in_training_only() -> None:
    torch.manual_seed(0)
    space = get_space("proxylessnas")
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25)
    _randomise_bn(net)
    x, big = torch.randn(8, 1, 28, 28), space.largest()
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x, big, drop_path_rate=0.5), net(x, big))
    net.train().set_bn_mode("batch")
    with torch.no_grad():
        torch.manual_seed(1)
        a = net(x, big, drop_path_rate=0.5)
        torch.manual_seed(1)
        b = net(x, big, drop_path_rate=0.5)
        plain = net(x, big)
    torch.testing.assert_close(a, b)  # seeded: the same branches dropped
    assert not torch.allclose(a, plain)
    # a child without residual layers (every optional layer skipped) is unaffected
    with torch.no_grad():
        small = space.smallest()
        torch.testing.assert_close(net(x, small, drop_path_rate=0.5), net(x, small))
    with pytest.raises(SupernetError, match="drop_path_rate"):
        net(x, big, drop_path_rate=1.0)


def test_residual_batch_norms_are_the_last_bn_of_residual_positions() -> None:
    net = ConvSupernet(get_space("mobilenetv3_like"), num_classes=10, in_channels=1,
                       width_mult=0.25)
    res = net.residual_batch_norms()
    # blocks 1-5 have 3 residual positions each, block 0 one (its optional ir layer)
    assert len(res) == 16
    assert net.positions["b1_l1"]["ir"].project.bn in res
    assert net.positions["b1_l0"]["ir"].project.bn not in res
    net.zero_residual_bn()
    assert all(float(bn.weight.detach().abs().sum()) == 0 for bn in res)
    assert float(net.positions["b1_l0"]["ir"].project.bn.weight.detach().abs().sum()) > 0
