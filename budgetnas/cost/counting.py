"""Exact parameter counts and multiply-add / FLOP counts of PyTorch modules.

Convention (the one behind published MobileNet / EfficientNet / CondConv numbers, and fvcore's):

- **MACs** are the multiply-accumulates of convolutions, linear layers and matrix products, as
  counted by PyTorch's own :class:`torch.utils.flop_counter.FlopCounterMode` (which reports
  ``2 × MACs`` for them). It counts grouped and depthwise convolutions correctly
  (``out_ch · in_ch/groups · k² · H' · W'``) and ignores biases. Batch norm (folded into the
  preceding convolution at inference), activations, pooling, squeeze-excite's rescaling multiply
  and residual additions cost **0 MACs**. Under this rule MobileNetV2 1.0 at 224×224 costs
  300.8 M MACs (the published ≈300 M).
- **FLOPs** are ``2 × MACs``. With ``elementwise=True`` they also include one FLOP per element
  for the operations FlopCounterMode is silent about (table :data:`ELEMENTWISE_RULES`): bias
  additions, batch norm (2 per element: scale and shift), activations (1 per element),
  element-wise add / sub / mul / div (1 per output element), global average pooling (1 per
  input element), average / max pooling (k² per output element).
- CondConv: the routing (pooling → linear → sigmoid) counts its linear layer's MACs; mixing the
  experts' kernels is a (B, n) × (n, K) matrix product and counts ``n · K`` MACs per example
  (the paper counts it the same way: "each additional parameter requires only 1 additional
  multiply-add", Yang et al. 2019, Sec. 3). What is counted is what runs: the ``"mixture"``
  path runs n convolutions and costs n times the MACs of one.

Counts are for the whole input given (use batch 1, the default, for per-image numbers); the module
runs once in eval mode under ``torch.no_grad`` (batch-norm statistics are not touched) and its
train/eval flags are restored. Ops that neither FlopCounterMode nor the table know (e.g. softmax)
count 0 and are listed in :attr:`CostReport.uncounted_ops`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten

Inputs = torch.Tensor | Sequence[int] | tuple[Any, ...]

__all__ = [
    "ELEMENTWISE_RULES",
    "CostReport",
    "cost_report",
    "count_flops",
    "count_macs",
    "count_parameters",
]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Exact number of parameters (weights, biases, BN γ/β); buffers are not counted.

    Shared parameters count once. With ``trainable_only`` only tensors with ``requires_grad``.

    Examples
    --------
    >>> count_parameters(nn.Linear(10, 3))
    33
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


def _numel(shape: Sequence[int]) -> int:
    return int(math.prod(shape))


def _per_output(factor: int = 1) -> Callable[..., int]:
    def rule(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return factor * _numel(out_shape)
    return rule


def _first_input(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return _numel(args[0])


def _batch_norm(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 2 * _numel(out_shape[0])  # scale and shift per element; out is (y, mean, invstd)


def _pool(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    kk = _numel(kernel) if len(kernel) > 1 else kernel[0] ** 2  # k² adds (or compares) per output
    out = out_shape[0] if isinstance(out_shape[0], Sequence) else out_shape  # max-pool: (out, idx)
    return kk * _numel(out)


def _adaptive_pool(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return _numel(args[0])  # each input element is added once


#: aten op → FLOPs it costs with ``elementwise=True`` (0 MACs always). Keys are op overload packets.
ELEMENTWISE_RULES: dict[Any, Callable[..., int]] = {
    aten.native_batch_norm: _batch_norm,
    aten._native_batch_norm_legit_no_training: _batch_norm,
    aten._native_batch_norm_legit: _batch_norm,
    aten.relu: _per_output(), aten.relu_: _per_output(),
    aten.hardtanh: _per_output(), aten.hardtanh_: _per_output(),  # ReLU6
    aten.hardswish: _per_output(), aten.hardswish_: _per_output(),
    aten.hardsigmoid: _per_output(), aten.hardsigmoid_: _per_output(),
    aten.sigmoid: _per_output(), aten.sigmoid_: _per_output(),
    aten.silu: _per_output(), aten.silu_: _per_output(),
    aten.add: _per_output(), aten.add_: _per_output(),
    aten.sub: _per_output(), aten.sub_: _per_output(),
    aten.mul: _per_output(), aten.mul_: _per_output(),
    aten.div: _per_output(), aten.div_: _per_output(),
    aten.mean: _first_input,
    aten._adaptive_avg_pool2d: _adaptive_pool,
    aten.avg_pool2d: _pool,
    aten.max_pool2d_with_indices: _pool,
}

#: ops that cost nothing by nature (views, copies, allocation); never reported as uncounted.
_FREE_OPS = {
    aten.view, aten._unsafe_view, aten.reshape, aten.t, aten.transpose, aten.permute,
    aten.expand, aten.squeeze, aten.unsqueeze, aten.empty, aten.empty_like, aten.zeros,
    aten.zeros_like, aten.ones_like, aten.clone, aten.detach, aten.alias, aten.select,
    aten.slice, aten.flatten, aten._to_copy, aten.copy_, aten.contiguous, aten.cat,
    aten.stack, aten.split, aten.unbind, aten.lift_fresh, aten.new_empty, aten.fill_,
    aten.zero_, aten.as_strided, aten.split_with_sizes, aten.native_dropout,
    aten.bernoulli_, aten.randn, aten.rand, aten.lift_fresh_copy, aten.scalar_tensor,
}


def _op_name(op: Any) -> str:
    """Report name of an aten op: in-place variants and the batch-norm kernels share one name."""
    name = op.__name__.rstrip("_")
    return "batch_norm" if "batch_norm" in name else name


def _bias_adds(op: Any, args: tuple[Any, ...], out: torch.Tensor) -> int:
    """Additions of a bias FlopCounterMode ignores: one per output element when a bias is given."""
    if op is aten.convolution and len(args) > 2 and args[2] is not None:
        return out.numel()
    if op is aten.addmm:
        return out.numel()
    return 0


class _ElementwiseTracker(TorchDispatchMode):
    """Records the element-wise FLOPs of :data:`ELEMENTWISE_RULES`, biases and unknown ops.

    Runs inside :class:`FlopCounterMode` (which sees ops first and counts conv/matmul), so the
    two accounts are separate and FlopCounterMode's numbers stay its own.
    """

    def __init__(self, matmul_ops: set[Any]) -> None:
        super().__init__()
        self.flops: Counter[str] = Counter()
        self.uncounted: Counter[str] = Counter()
        self._matmul_ops = matmul_ops

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        op = func._overloadpacket
        rule = ELEMENTWISE_RULES.get(op)
        if rule is not None:
            shapes = torch.utils._pytree.tree_map(
                lambda t: t.shape if isinstance(t, torch.Tensor) else t, (args, kwargs, out)
            )
            self.flops[_op_name(op)] += int(rule(*shapes[0], out_shape=shapes[2], **shapes[1]))
        elif op in self._matmul_ops:
            adds = _bias_adds(op, args, out)
            if adds:
                self.flops["bias"] += adds
        elif op not in _FREE_OPS:
            self.uncounted[op.__name__] += 1
        return out


@dataclass(frozen=True)
class CostReport:
    """Parameters, MACs and FLOPs of one forward pass, with a breakdown per aten op.

    Attributes
    ----------
    params : int
        Exact parameter count.
    macs : int
        Multiply-accumulates of conv / linear / matmul ops (module docstring: the convention).
    flops : int
        ``2 * macs``, plus ``elementwise_flops`` when ``include_elementwise``.
    macs_by_op : dict[str, int]
        MACs per aten op name (``"convolution"``, ``"addmm"`` for biased linear layers, ``"mm"``
        for bias-free linear layers and CondConv kernel mixing, ``"bmm"``, …).
    elementwise_flops_by_op : dict[str, int]
        FLOPs of the ops FlopCounterMode ignores, per op (``"batch_norm"``, ``"hardswish"``,
        ``"mul"``, ``"mean"``, ``"avg_pool2d"``, ``"bias"``, …); always measured.
    include_elementwise : bool
        Whether ``flops`` includes them.
    input_shapes : tuple
        Shapes of the tensors the module was run on.
    uncounted_ops : dict[str, int]
        Ops that ran but have no rule (0 cost assumed), with how often they ran.
    """

    params: int
    macs: int
    flops: int
    macs_by_op: dict[str, int]
    elementwise_flops_by_op: dict[str, int]
    include_elementwise: bool
    input_shapes: tuple[tuple[int, ...], ...]
    uncounted_ops: dict[str, int] = field(default_factory=dict)

    @property
    def elementwise_flops(self) -> int:
        """Sum of :attr:`elementwise_flops_by_op`."""
        return int(sum(self.elementwise_flops_by_op.values()))

    @property
    def flops_by_op(self) -> dict[str, int]:
        """FLOPs per op: ``2 × MACs`` of each matmul-like op, plus element-wise ones if included."""
        out = {k: 2 * v for k, v in self.macs_by_op.items()}
        if self.include_elementwise:
            out.update(self.elementwise_flops_by_op)
        return out


def _as_args(module: nn.Module, inputs: Inputs) -> tuple[Any, ...]:
    """Turn a shape, a tensor or a tuple of positional arguments into forward arguments."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, Sequence) and inputs and all(isinstance(d, int) for d in inputs):
        ref = next(iter(module.parameters()), None)
        device = ref.device if ref is not None else torch.device("cpu")
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
        gen = torch.Generator(device="cpu").manual_seed(0)
        return (torch.randn(tuple(inputs), generator=gen, dtype=dtype).to(device),)
    if isinstance(inputs, tuple):
        return inputs
    raise TypeError(
        "inputs must be a shape like (1, 3, 224, 224), a tensor, or a tuple of forward arguments; "
        f"got {type(inputs).__name__}"
    )


def cost_report(
    module: nn.Module, inputs: Inputs = (1, 3, 224, 224), elementwise: bool = False
) -> CostReport:
    """Count parameters, MACs and FLOPs of one forward pass of ``module`` on ``inputs``.

    MACs come from :class:`torch.utils.flop_counter.FlopCounterMode` (its FLOPs / 2); the
    element-wise ops it ignores are counted by the rules in :data:`ELEMENTWISE_RULES` (see the
    module docstring for the whole convention).

    Parameters
    ----------
    module : torch.nn.Module
        Any module; run once in eval mode without gradients (flags restored afterwards).
    inputs : shape, tensor or tuple, default (1, 3, 224, 224)
        A shape (a seeded standard-normal tensor of the module's dtype and device is made), a
        tensor, or a tuple of positional arguments (e.g. ``(x, routing_weights)`` for
        :class:`~budgetnas.nn.CondConv2d`). Counts are for this whole batch.
    elementwise : bool, default False
        Add the element-wise FLOPs (BN, activations, pooling, biases, add/mul) to ``flops``.

    Returns
    -------
    CostReport

    Raises
    ------
    TypeError
        If ``inputs`` is none of the accepted forms.

    Examples
    --------
    >>> rep = cost_report(nn.Conv2d(3, 8, 3, padding=1, bias=False), (1, 3, 4, 4))
    >>> rep.macs, rep.flops, rep.params
    (3456, 6912, 216)
    """
    args = _as_args(module, inputs)
    modes = {m: m.training for m in module.modules()}
    counter = FlopCounterMode(display=False)
    tracker = _ElementwiseTracker(set(counter.flop_registry))
    module.eval()
    try:
        with torch.no_grad(), counter, tracker:
            module(*args)
    finally:
        for m, was_training in modes.items():
            m.training = was_training
    macs_by_op: dict[str, int] = {}
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        macs_by_op[op.__name__] = macs_by_op.get(op.__name__, 0) + int(flops) // 2
    macs = int(sum(macs_by_op.values()))
    ew = dict(tracker.flops)
    flops = 2 * macs + (int(sum(ew.values())) if elementwise else 0)
    shapes = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))
    return CostReport(
        params=count_parameters(module), macs=macs, flops=flops, macs_by_op=macs_by_op,
        elementwise_flops_by_op=ew, include_elementwise=elementwise, input_shapes=shapes,
        uncounted_ops=dict(tracker.uncounted),
    )


def count_macs(module: nn.Module, inputs: Inputs = (1, 3, 224, 224)) -> int:
    """Multiply-accumulates of one forward pass (conv / linear / matmul only; see module doc).

    Parameters and input forms as in :func:`cost_report`.

    Examples
    --------
    >>> count_macs(nn.Linear(8, 4), (2, 8))
    64
    """
    return cost_report(module, inputs).macs


def count_flops(
    module: nn.Module, inputs: Inputs = (1, 3, 224, 224), elementwise: bool = False
) -> int:
    """FLOPs of one forward pass: ``2 × MACs``, plus element-wise FLOPs if ``elementwise``.

    Parameters and input forms as in :func:`cost_report`.
    """
    return cost_report(module, inputs, elementwise).flops
