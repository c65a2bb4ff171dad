"""TuNAS pieces for conv supernets: warm-up schedule and rule, controller schedule, the loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.oneshot import BatchStream, OneShotSearch
from budgetnas.search.controller import tunas_schedule
from budgetnas.search.random import Random
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet
from budgetnas.supernet.conv_task import ConvSupernetTask, WarmupRule

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "image" / "fashion-mnist"


def test_warmup_probability_falls_from_one_to_zero_over_a_quarter() -> None:
    space = get_space("proxylessnas")
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    task = ConvSupernetTask(net, BatchStream(x, y, 4), BatchStream(x, y, 4), total_steps=100)
    search = OneShotSearch(task, Random(seed=0), space.spec, steps=100, warmup_fraction=0.25)
    probs = [search.warmup_probability(s) for s in (0, 5, 10, 20, 24, 25, 50, 99)]
    np.testing.assert_allclose(probs, [1.0, 0.8, 0.6, 0.2, 0.04, 0.0, 0.0, 0.0])


def test_warmup_rule_widens_filters_and_ops() -> None:
    space = get_space("mobilenetv3_like")
    rule = WarmupRule(space)
    small = space.to_vector(space.smallest())
    rng = np.random.default_rng(0)
    assert np.array_equal(rule.apply(small, 0.0, rng), small)
    wide = rule.apply(small, 1.0, rng)
    arch = space.materialize(space.from_vector(wide))
    # every block at its largest filters, every layer present with kernel 7, expansion 6, SE on
    for b, block in enumerate(arch.blocks):
        assert block.filters == max(space.spec[f"blocks[{b}].filters"].candidates)
        assert all(layer is not None for layer in block.layers)
    body = [layer for block in arch.blocks[1:] for layer in block.layers]
    assert {(la.kernel, la.expansion, la.se) for la in body} == {(7, 6.0, True)}
    # filter-only warm-up leaves kernels and skips alone
    only_f = space.materialize(space.from_vector(rule.apply(small, 1.0, rng, ("filter",))))
    assert only_f.blocks[1].layers[1] is None and only_f.blocks[1].layers[0].kernel == 3
    # at p = 0.5 about half of the widenable decisions of the smallest child change
    D = [d for d in range(len(small)) if small[d] >= 0 and rule.wide[d] >= 0
         and small[d] != rule.wide[d]]
    frac = np.mean([np.mean(rule.apply(small, 0.5, rng)[D] == rule.wide[D]) for _ in range(200)])
    assert 0.45 < frac < 0.6


def test_controller_schedule_frozen_then_ramped_tenfold() -> None:
    delay, sched = tunas_schedule(100, frozen_fraction=0.25, growth=10.0)
    assert delay == 25
    np.testing.assert_allclose([sched(0), sched(25), sched(100)], [1.0, 1.0, 10.0])
    assert 1.0 < sched(60) < 10.0


@pytest.mark.slow
def test_tunas_search_on_fashion_mnist_runs_warmup_then_search() -> None:
    if not DATA.exists():
        pytest.skip(f"Fashion-MNIST not found at {DATA}")
    from budgetnas.vision.search import image_costs, load_image_data, tunas_search

    data = load_image_data(DATA, n_train=256, n_val=128, n_test=64)
    costs = image_costs("proxylessnas", width_mult=0.25)
    macs = costs.macs_cost()
    target = float(np.median(macs.batch(costs.space.sample_batch(200, np.random.default_rng(0)))))
    res = tunas_search(costs.space, data, macs, target, steps=12, batch_size=16,
                       val_batch_size=32, seed=0)
    phases = [h["phase"] for h in res.history]
    assert phases == ["warmup"] * 3 + ["search"] * 9
    assert all(h["reward"] is None for h in res.history[:3])
    assert all(0.0 <= h["reward"] <= 1.0 for h in res.history[3:])
    assert res.pick_cost == pytest.approx(float(macs.batch(np.array([res.pick]))[0]))
