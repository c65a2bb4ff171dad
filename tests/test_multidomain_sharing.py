"""Merged multi-path networks (papers.md §9): sharing exactly where paths agree, nodes counted once,
gradients reaching exactly a domain's own nodes, and TuNAS op warm-up in the forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from budgetnas.cost import count_parameters
from budgetnas.errors import SupernetError
from budgetnas.multidomain.network import MultiPathConfig, MultiPathNetwork

CFG = MultiPathConfig()


def _n(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _random_paths(rng: np.random.Generator, k: int) -> dict[str, tuple[int, ...]]:
    # Few choices per layer are drawn so that agreements (shared nodes) are frequent.
    return {f"d{j}": tuple(int(rng.integers(0, min(2, n) if rng.random() < 0.5 else n))
                           for n in CFG.num_choices) for j in range(k)}


@pytest.mark.parametrize("seed", range(12))
def test_random_merges_share_exactly_where_paths_agree_and_count_nodes_once(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    paths = _random_paths(rng, k)
    classes = {d: int(rng.integers(2, 11)) for d in paths}
    net = MultiPathNetwork(CFG, classes, paths)
    # Independent bookkeeping by hand: who uses which (layer, choice).
    users: dict[tuple[int, int], set[str]] = {}
    for d, p in paths.items():
        for i, c in enumerate(p):
            users.setdefault((i, c), set()).add(d)
    assert net.node_list() == sorted(users)
    assert net.shared_nodes() == sorted(n for n, u in users.items() if len(u) > 1)
    assert {n: set(u) for n, u in net.node_domains().items()} == users
    # Two domains run the very same module at a layer iff their choices there agree.
    for i in range(CFG.num_layers):
        for d in paths:
            for e in paths:
                same = net.domain_view(d).body[i] is net.domain_view(e).body[i]
                assert same == (paths[d][i] == paths[e][i])
    # Parameters: stem once + every distinct node once + one head per domain.
    last = CFG.layers[-1].out_ch
    by_hand = (_n(net.stem) + sum(_n(CFG.build_node(n)) for n in users)
               + sum((last + 1) * c for c in classes.values()))
    assert net.parameter_count() == count_parameters(net) == by_hand
    # Summing the domains' own paths over-counts the stem (k − 1 times) and every shared node
    # (users − 1 times): exactly the difference to the merged count.
    per_domain = sum(count_parameters(net.domain_view(d)) for d in paths)
    extra = (k - 1) * _n(net.stem) + sum((len(u) - 1) * _n(net.node(n))
                                         for n, u in users.items())
    assert per_domain - net.parameter_count() == extra


def test_fully_shared_and_fully_separate_extremes():
    same = MultiPathNetwork(CFG, {"a": 10, "b": 10, "c": 10}, {d: (1,) * 6 for d in "abc"})
    single = MultiPathNetwork(CFG, {"a": 10}, {"a": (1,) * 6})
    assert same.parameter_count() == single.parameter_count() + 2 * (48 * 10 + 10)
    assert len(same.shared_nodes()) == 6
    apart = MultiPathNetwork(CFG, {"a": 10, "b": 10}, {"a": (0, 0, 0, 0, 0, 0),
                                                       "b": (1, 1, 1, 1, 1, 1)})
    assert apart.shared_nodes() == [] and len(apart.node_list()) == 12


def test_a_domain_loss_reaches_exactly_its_own_nodes():
    torch.manual_seed(0)
    paths = {"a": (0, 1, 2, 3, 0, 0), "b": (0, 2, 2, 1, 1, 4)}
    net = MultiPathNetwork(CFG, {"a": 10, "b": 3}, paths)
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    F.cross_entropy(net(x, "a"), y).backward()
    for n in net.node_list():
        grads = [p.grad for p in net.node(n).parameters()]
        uses_a = paths["a"][n[0]] == n[1]
        assert all((g is not None and g.abs().sum() > 0) if uses_a else g is None
                   for g in grads), n
    assert all(p.grad is None for p in net.heads["b"].parameters())
    # A shared node's gradient is the sum of both domains' (one tensor, trained by both).
    w = net.node((0, 0)).project[0].weight

    def grad_of(*domains: str) -> torch.Tensor:
        net.zero_grad(set_to_none=True)
        sum(F.cross_entropy(net(x, d), y % net.heads[d].out_features) for d in domains).backward()
        return w.grad.clone()

    torch.testing.assert_close(grad_of("a", "b"), grad_of("a") + grad_of("b"))
    assert grad_of("b").abs().sum() > 0


def test_op_warmup_forward_averages_every_candidate_of_a_mixed_layer():
    torch.manual_seed(0)
    net = MultiPathNetwork(CFG, {"a": 10}).eval()  # the supernet: every node
    x = torch.randn(2, 1, 28, 28)
    path = (0, 1, 2, 3, 4, 0)
    mix = (False, True, False, False, True, False)
    got = net(x, "a", path, mix)
    h = net.stem(x)
    for i, c in enumerate(path):
        if mix[i]:
            outs = [net.node((i, k))(h) for k in range(CFG.num_choices[i])]
            h = torch.stack(outs).mean(0)
        else:
            h = net.node((i, c))(h)
    torch.testing.assert_close(got, net.heads["a"](h.mean(dim=(2, 3))))
    assert torch.equal(net(x, "a", path, [False] * 6), net(x, "a", path))
    with pytest.raises(SupernetError, match="one flag per layer"):
        net(x, "a", path, [True])
    merged = MultiPathNetwork(CFG, {"a": 10}, {"a": path})
    with pytest.raises(SupernetError, match="has no node"):
        merged(x, "a", None, mix)
