"""BigNAS: sandwich rule, inplace distillation step, learning rate, BN calibration, selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from budgetnas.bignas import (
    BigNASTrainer,
    coarse_to_fine,
    evaluate_child,
    exp_constant_lr,
    quantile_child,
)
from budgetnas.cost.base import Constraint
from budgetnas.cost.space_costs import ConvSpaceCosts
from budgetnas.errors import InfeasibleBudgetError
from budgetnas.oneshot import BatchStream
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet


def _net(seed: int = 0) -> ConvSupernet:
    torch.manual_seed(seed)
    return ConvSupernet(get_space("proxylessnas"), num_classes=10, in_channels=1,
                        width_mult=0.25, zero_init_residual_bn=True)


def test_sandwich_step_trains_largest_smallest_and_two_random() -> None:
    net = _net()
    space = net.space
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    trainer = BigNASTrainer(net, BatchStream(x, y, 8), total_steps=10, seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    info = trainer.step()
    kids = info["children"]
    assert len(kids) == 4
    assert kids[0] == tuple(space.to_vector(space.largest()))
    assert kids[1] == tuple(space.to_vector(space.smallest()))
    assert kids[2] != kids[3] and {kids[2], kids[3]}.isdisjoint({kids[0], kids[1]})
    assert len(info["loss_children"]) == 3 and all(np.isfinite(info["loss_children"]))
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    # a second step draws other random children
    assert trainer.step()["children"][2:] != kids[2:]


def test_exponential_lr_with_constant_ending() -> None:
    lrs = [exp_constant_lr(s, 100, 0.1, final_ratio=0.05, decay_fraction=0.8)
           for s in (0, 40, 80, 90, 99)]
    np.testing.assert_allclose(lrs, [0.1, 0.1 * 0.05 ** 0.5, 0.005, 0.005, 0.005])


def test_calibration_changes_bn_statistics_and_matches_batch_mean() -> None:
    net = _net()
    space = net.space
    child = space.to_vector(space.smallest())
    stem_bn = net.positions["b0_l0"]["conv"].conv.bn
    before = stem_bn.running_mean.clone()
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(32, 1, 28, 28, generator=g) * 2 + 1 for _ in range(3)]
    assert net.calibrate_bn(child, batches) == 3
    assert not torch.allclose(before, stem_bn.running_mean)
    # the stem's running mean is the exact mean of the per-batch conv-output means
    c = stem_bn.num_features
    arch = net.arch(child)
    k = arch.blocks[0].layers[0].kernel
    cout = net._filters(arch.blocks[0].filters)
    w = net.positions["b0_l0"]["conv"].conv.child_weight(cout, 1, k)
    means = [torch.nn.functional.conv2d(b, w, None, 2, k // 2).mean((0, 2, 3)) for b in batches]
    torch.testing.assert_close(stem_bn.running_mean[:cout], torch.stack(means).mean(0),
                               rtol=1e-4, atol=1e-5)
    assert c >= cout


def test_evaluate_child_with_and_without_calibration_differ() -> None:
    net = _net()
    x, y = torch.randn(64, 1, 28, 28), torch.arange(64) % 10
    trainer = BigNASTrainer(net, BatchStream(x, y, 32), total_steps=3, seed=0)
    trainer.run()
    child = net.space.to_vector(net.space.smallest())
    no_cal = evaluate_child(net, child, None, x, y)
    net_out = net(x, child).detach()
    cal = evaluate_child(net, child, x, x, y)
    assert 0 <= no_cal <= 1 and 0 <= cal <= 1
    assert not torch.allclose(net_out, net(x, child).detach())


def test_coarse_to_fine_respects_the_budget() -> None:
    net = _net()
    space = net.space
    macs = ConvSpaceCosts(space, input_size=28, num_classes=10, in_channels=1,
                          width_mult=0.25).macs_cost()
    mid = float(macs.batch(quantile_child(space, 0.5)[None])[0])
    budget = Constraint(macs, max=mid)
    # a stand-in accuracy that grows with MACs: the pick must be the costliest feasible child seen
    res = coarse_to_fine(net, budget, None, None, None, fine_rounds=2, fine_mutations=5,
                         evaluate=lambda v: float(macs.batch(v[None])[0]) / 1e7)
    assert res.cost <= mid
    assert res.accuracy == max(e["accuracy"] for e in res.evaluations)
    assert {e["stage"] for e in res.evaluations} >= {"coarse"}
    assert all(e["cost"] <= mid for e in res.evaluations)
    with pytest.raises(InfeasibleBudgetError, match="no coarse child"):
        coarse_to_fine(net, Constraint(macs, max=1.0), None, None, None,
                       evaluate=lambda v: 0.0)
