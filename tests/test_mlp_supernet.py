"""The weight-sharing MLP supernet: slicing, extraction, gradients, sliced Adam and layer warm-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from budgetnas.errors import SupernetError
from budgetnas.supernet.mlp import MLPSupernet, SlicedAdam, warmup_probability, warmup_widths
from budgetnas.tabular.train import build_mlp, mlp_num_params

N_IN, MAX, N_OUT = 12, (48, 40, 32), 3
CHILDREN = [(48, 40, 32), (8, 5, 3), (17,), (48, 1), (1, 40, 32), (30, 40)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Small MLPs gain nothing from intra-op threads, and on a loaded 2-core machine OpenMP
    # spin-waiting slowed them 20-30x (measured); restore the setting for other modules.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


@pytest.fixture
def net() -> MLPSupernet:
    torch.manual_seed(0)
    return MLPSupernet(N_IN, MAX, N_OUT)


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(64, N_IN, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("widths", CHILDREN)
def test_extract_matches_supernet_child(net, x, widths):
    child = net.extract(widths)
    torch.testing.assert_close(child(x), net(x, widths), rtol=1e-6, atol=1e-6)
    # Same layout as the standalone builder, and the parameter count formula agrees.
    ref = build_mlp(N_IN, widths, N_OUT)
    assert [(k, v.shape) for k, v in child.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()
    ]
    n = sum(p.numel() for p in child.parameters())
    assert n == net.num_params(widths) == mlp_num_params(N_IN, widths, N_OUT)


def test_child_uses_first_units_by_hand(net, x):
    # Layer 1 of the child (5,) is relu(x W[:5].T + b[:5]); the output layer reads 5 columns.
    w1, b1 = net.hidden[0].weight[:5], net.hidden[0].bias[:5]
    expected = torch.relu(x @ w1.T + b1) @ net.output.weight[:, :5].T + net.output.bias
    torch.testing.assert_close(net(x, [5]), expected)


def test_extract_is_a_copy(net, x):
    child = net.extract([8, 8])
    before = net(x, [8, 8]).detach().clone()
    with torch.no_grad():
        for p in child.parameters():
            p.add_(1.0)
    torch.testing.assert_close(net(x, [8, 8]), before)


def test_full_network_is_default(net, x):
    torch.testing.assert_close(net(x), net(x, MAX))


def test_gradient_flows_only_into_the_slice(net, x):
    widths = (8, 5)
    net(x, widths).pow(2).mean().backward()
    w0, w1, w2 = (layer.weight.grad for layer in net.hidden)
    assert w2 is None or not torch.any(w2)  # third layer unused
    assert torch.any(w0[:8, :N_IN]) and not torch.any(w0[8:])
    assert torch.any(w1[:5, :8]) and not torch.any(w1[5:]) and not torch.any(w1[:, 8:])
    out = net.output.weight.grad
    assert torch.any(out[:, :5]) and not torch.any(out[:, 5:])
    assert not torch.any(net.hidden[1].bias.grad[5:])


def test_child_parameters_give_child_sized_grads_equal_to_full_grads(net, x):
    widths = (8, 5, 3)
    params = net.child_parameters(widths)
    net(x, widths, params=params).pow(2).mean().backward()
    assert all(p.grad is None for p in net.parameters())  # nothing full-size was written
    net.zero_grad()
    net(x, widths).pow(2).mean().backward()
    for (full, idx), view in zip(net.child_slices(widths), params):
        assert view.grad.shape == full[idx].shape
        torch.testing.assert_close(view.grad, full.grad[idx])


def test_sliced_adam_equals_torch_adam_on_the_child(net):
    widths = (16, 9)
    gen = torch.Generator().manual_seed(3)
    xs = [torch.randn(32, N_IN, generator=gen) for _ in range(5)]
    ys = [torch.randint(0, N_OUT, (32,), generator=gen) for _ in range(5)]
    child = net.extract(widths)
    ref_opt = torch.optim.Adam(child.parameters(), lr=1e-2, weight_decay=1e-3)
    opt = SlicedAdam(net, lr=1e-2, weight_decay=1e-3)
    untouched = net.hidden[0].weight[16:].detach().clone()
    initial = net.hidden[0].weight[:16].detach().clone()
    for xb, yb in zip(xs, ys):
        ref_opt.zero_grad()
        F.cross_entropy(child(xb), yb).backward()
        ref_opt.step()
        opt.train_step(xb, yb, widths, F.cross_entropy)
    updated = net.extract(widths)
    for a, b in zip(updated.parameters(), child.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert torch.equal(net.hidden[0].weight[16:], untouched)  # lazy: unused rows never move
    assert not torch.allclose(net.hidden[0].weight[:16], initial)  # the slice did move


def test_sliced_adam_state_round_trip(net, x):
    opt = SlicedAdam(net, lr=1e-2)
    y = torch.randint(0, N_OUT, (64,), generator=torch.Generator().manual_seed(0))
    opt.train_step(x, y, (8, 8), F.cross_entropy)
    state = opt.state_dict()
    clone = MLPSupernet(N_IN, MAX, N_OUT)
    clone.load_state_dict(net.state_dict())
    opt2 = SlicedAdam(clone, lr=1.0)
    opt2.load_state_dict(state)
    opt.train_step(x, y, (20, 8, 4), F.cross_entropy)
    opt2.train_step(x, y, (20, 8, 4), F.cross_entropy)
    for a, b in zip(net.parameters(), clone.parameters()):
        torch.testing.assert_close(a, b)
    with pytest.raises(SupernetError, match="parameter shapes"):
        SlicedAdam(MLPSupernet(N_IN, (4,), N_OUT)).load_state_dict(state)


def test_supernet_training_learns(net):
    # A sliced child fits a separable problem: the loss falls by more than half in 60 steps.
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(256, N_IN, generator=gen)
    y = (X[:, 0] + X[:, 1] > 0).long()
    opt = SlicedAdam(net, lr=1e-2)
    with torch.no_grad():
        first = float(F.cross_entropy(net(X, (16, 8)), y))
    for _ in range(60):
        opt.train_step(X, y, (16, 8), F.cross_entropy)
    with torch.no_grad():
        assert float(F.cross_entropy(net(X, (16, 8)), y)) < 0.5 * first


@pytest.mark.parametrize(
    "widths, match",
    [((), "1 to 3"), ((8, 8, 8, 8), "1 to 3"), ((49,), "outside 1..48"), ((8, 0), "outside 1..40")],
)
def test_bad_widths_raise(net, x, widths, match):
    with pytest.raises(SupernetError, match=match):
        net(x, widths)


def test_bad_construction_raises():
    with pytest.raises(SupernetError):
        MLPSupernet(10, [], 1)
    with pytest.raises(SupernetError):
        MLPSupernet(10, [8, 0], 1)


def test_warmup_widths_extremes_and_rate(net):
    rng = np.random.default_rng(0)
    assert warmup_widths((8, 5, 3), MAX, 0.0, rng) == (8, 5, 3)
    assert warmup_widths((8, 5), MAX, 1.0, rng) == (48, 40)
    assert net.warmup_widths([8], 1.0, rng) == (48,)
    draws = np.array([net.warmup_widths((8, 5, 3), 0.3, rng) for _ in range(4000)])
    rates = (draws == np.array(MAX)).mean(axis=0)
    assert np.all(np.abs(rates - 0.3) < 0.03), rates
    # Layers are widened independently: both widened about 0.09 of the time.
    both = np.mean((draws[:, 0] == 48) & (draws[:, 1] == 40))
    assert abs(both - 0.09) < 0.02
    # Seeded: the same generator state gives the same widths.
    a = [warmup_widths((8, 5, 3), MAX, 0.5, np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    with pytest.raises(SupernetError):
        warmup_widths((8,), MAX, 1.5, rng)


def test_warmup_probability_schedule():
    assert warmup_probability(0, 100) == 1.0
    assert warmup_probability(10, 100) == pytest.approx(0.6)
    assert warmup_probability(25, 100) == 0.0
    assert warmup_probability(90, 100) == 0.0
    assert warmup_probability(0, 100, warmup_fraction=0.0) == 0.0
