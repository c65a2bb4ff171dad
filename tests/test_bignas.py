"""BigNAS: sandwich rule, inplace distillation step, learning rate, BN calibration, selection."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from budgetnas.bignas import (
    BigNASTrainer,
    coarse_to_fine,
    evaluate_child,
    exp_constant_lr,
    quantile_child,
)
from budgetnas.cost.base import Constraint
from budgetnas.cost.space_costs import ConvSpaceCosts
from budgetnas.errors import InfeasibleBudgetError, SearchConfigError
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


def test_evaluate_child_calibrates_then_restores_the_shared_statistics() -> None:
    net = _net()
    x, y = torch.randn(32, 1, 28, 28), torch.arange(32) % 10
    trainer = BigNASTrainer(net, BatchStream(x, y, 16), total_steps=1, n_random=0, seed=0)
    trainer.run()
    child = net.space.to_vector(net.space.smallest())
    shared = [bn.running_mean.clone() for bn in net.batch_norms()]
    net.eval()
    with torch.no_grad():
        out_shared = net(x, child)
    no_cal = evaluate_child(net, child, None, x, y)
    cal = evaluate_child(net, child, x, x, y)
    assert 0 <= no_cal <= 1 and 0 <= cal <= 1
    # the shared statistics are back, so the next child sees what training left
    assert all(torch.equal(a, bn.running_mean) for a, bn in zip(shared, net.batch_norms()))
    # while calibration itself changes what the child computes
    net.calibrate_bn(child, [x])
    with torch.no_grad():
        assert not torch.allclose(out_shared, net.eval()(x, child))


def test_trainer_zero_inits_residual_bn_and_regularises_only_the_largest() -> None:
    torch.manual_seed(0)
    net = ConvSupernet(get_space("proxylessnas"), num_classes=10, in_channels=1, width_mult=0.25)
    res = net.residual_batch_norms()
    assert res and all(float(bn.weight.detach().abs().sum()) > 0 for bn in res)
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    trainer = BigNASTrainer(net, BatchStream(x, y, 16), total_steps=2, drop_rate=0.3,
                            drop_path_rate=0.1, seed=0)
    assert all(float(bn.weight.detach().abs().sum()) == 0 for bn in res)
    calls = []
    forward = net.forward
    net.forward = lambda xb, child, **kw: calls.append(kw) or forward(xb, child, **kw)
    trainer.step()
    assert calls[0] == {"drop_rate": 0.3, "drop_path_rate": 0.1}  # the largest
    assert calls[1:] == [{}, {}, {}]  # smallest and 2 random: no dropout, no drop-path
    keep = ConvSupernet(get_space("proxylessnas"), num_classes=10, in_channels=1,
                        width_mult=0.25)
    BigNASTrainer(keep, BatchStream(x, y, 16), total_steps=2, zero_init_residual_bn=False)
    assert all(float(bn.weight.detach().abs().sum()) > 0 for bn in keep.residual_batch_norms())


def test_weight_decay_on_the_largest_loss_and_inplace_distillation_targets() -> None:
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    infos, nets = [], []
    for wd in (0.0, 1e-2):
        net = _net(seed=1)
        trainer = BigNASTrainer(net, BatchStream(x, y, 16), total_steps=2, n_random=0,
                                weight_decay=wd, drop_rate=0.0, label_smoothing=0.1, seed=0)
        nets.append(copy.deepcopy(net))
        infos.append(trainer.step())
    w2 = sum(float((p.detach() ** 2).sum()) for p in nets[0].parameters() if p.dim() >= 2)
    assert infos[1]["loss_largest"] - infos[0]["loss_largest"] == pytest.approx(
        0.5 * 1e-2 * w2, rel=1e-4)
    # the smallest child's loss has no penalty and no label smoothing: it is the cross-entropy
    # against the largest child's softmax on the same batch, before the update
    assert infos[1]["loss_children"] == pytest.approx(infos[0]["loss_children"], rel=1e-5)
    net = nets[0].train()
    space = net.space
    with torch.no_grad():
        teacher = F.softmax(net(x, space.to_vector(space.largest())), dim=1)
        student = net(x, space.to_vector(space.smallest()))
    assert infos[0]["loss_children"][0] == pytest.approx(
        float(F.cross_entropy(student, teacher)), rel=1e-5)
    with torch.no_grad():
        largest = F.cross_entropy(net(x, space.to_vector(space.largest())), y,
                                  label_smoothing=0.1)
    assert infos[0]["loss_largest"] == pytest.approx(float(largest), rel=1e-5)


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
    with pytest.raises(SearchConfigError, match="calib_x"):
        coarse_to_fine(net, budget, None, None, None)


@pytest.mark.parametrize("name", ["proxylessnas", "mobilenetv3_like", "mobiledet_ibn"])
def test_quantile_children_span_smallest_to_largest(name: str) -> None:
    space = get_space(name)
    macs = ConvSpaceCosts(space, input_size=28, num_classes=10, in_channels=1,
                          width_mult=0.25).macs_cost()
    vs = [quantile_child(space, q) for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
    np.testing.assert_array_equal(vs[0], space.to_vector(space.smallest()))
    np.testing.assert_array_equal(vs[-1], space.to_vector(space.largest()))
    cost = macs.batch(np.stack(vs))
    assert np.all(np.diff(cost) > 0), cost  # every step of the grid grows the child
    for v in vs:
        space.from_vector(v)  # a valid child


def test_quantile_depth_keeps_the_first_layers_of_each_block() -> None:
    space = get_space("mobilenetv3_like")  # blocks 1-4 have 3 optional layers each
    arch = space.materialize(space.from_vector(quantile_child(space, {"depth": 1 / 3})))
    assert [layer is not None for layer in arch.blocks[1].layers] == [True, True, False, False]
    arch = space.materialize(space.from_vector(quantile_child(space, {"depth": 2 / 3})))
    assert [layer is not None for layer in arch.blocks[1].layers] == [True, True, True, False]


def test_coarse_to_fine_calibrates_every_child_under_a_params_budget() -> None:
    net = _net()
    space = net.space
    costs = ConvSpaceCosts(space, input_size=28, num_classes=10, in_channels=1, width_mult=0.25)
    params = costs.params_cost()
    mid = float(params.batch(quantile_child(space, 0.5)[None])[0])
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 28, 28, generator=g), torch.arange(16) % 10
    shared = [bn.running_var.clone() for bn in net.batch_norms()]
    calls = []
    calibrate = net.calibrate_bn
    net.calibrate_bn = lambda child, batches: calls.append(child) or calibrate(child, batches)
    res = coarse_to_fine(net, Constraint(params, max=mid), x, x, y, levels=(0.0, 1.0),
                         fine_rounds=1, fine_mutations=2, seed=0)
    assert len(calls) == len(res.evaluations) >= 2  # one calibration per evaluated child
    assert res.cost <= mid and 0 <= res.accuracy <= 1
    assert all(torch.equal(a, bn.running_var) for a, bn in zip(shared, net.batch_norms()))
