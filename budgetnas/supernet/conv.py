"""Weight-sharing supernet of a convolutional search space: every child runs on slices of the
largest tensors (TuNAS, Bender et al., CVPR 2020, §3.1 and §4; BigNAS, Yu et al., ECCV 2020, §3).

The supernet holds, at every layer position of a :class:`~budgetnas.spaces.ConvSpace` template,
one set of maximal tensors per op type (inverted bottleneck, fused inverted bottleneck, Tucker,
regular conv). A child (a :class:`~budgetnas.spaces.ConvArch` of the space) uses

- **channels by prefix**: a layer with ``c`` output channels uses the first ``c`` filters of the
  shared tensor (TuNAS's filter sharing, BigNAS's channel slicing), so its compute scales with its
  size;
- **kernels by centre**: a k×k kernel is the centre of the largest kernel (TuNAS, BigNAS), or a
  separate tensor per kernel size with ``kernel_sharing="separate"``;
- **skipped layers**: a ``None`` layer is the identity;
- **squeeze-excite on / off**: the SE tensors are used only by children that ask for them;
- **batch norm by prefix**: one BN per convolution with the largest width, sliced; its mode is
  ``"running"`` (usual train / eval behaviour), ``"batch"`` (batch statistics, running ones left
  alone: TuNAS's validation reward) or ``"calibrate"`` (cumulative average of batch statistics:
  BigNAS's BN calibration, see :meth:`ConvSupernet.calibrate_bn`).

:meth:`ConvSupernet.extract` returns the child as a standalone :class:`~budgetnas.spaces.ConvNet`
(the spaces' :func:`~budgetnas.spaces.build_model`) with the slices copied, whose outputs equal
the supernet's for that child (tested in eval mode).

Example
-------
>>> import torch
>>> from budgetnas.spaces import get_space
>>> space = get_space("mobilenetv3_like")
>>> net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=0.25).eval()
>>> arch = space.materialize(space.smallest())
>>> x = torch.randn(2, 1, 28, 28)
>>> torch.allclose(net(x, arch), net.extract(arch).eval()(x), atol=1e-5)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.errors import SupernetError
from budgetnas.nn.divisible import make_divisible
from budgetnas.space import Space
from budgetnas.space.primitives import OneOf
from budgetnas.spaces.arch import ConvArch, LayerSpec
from budgetnas.spaces.build import ConvNet, build_model
from budgetnas.spaces.describe import resolve_filters

__all__ = ["ConvSupernet", "BN_MODES", "KERNEL_SHARING", "layer_candidates"]

BN_MODES = ("running", "batch", "calibrate")
KERNEL_SHARING = ("center", "separate")

_ACT = {"relu": F.relu, "relu6": F.relu6, "hswish": F.hardswish, "swish": F.silu,
        None: lambda x: x}


def _act(name: str | None, x: torch.Tensor) -> torch.Tensor:
    return _ACT[name](x)


def _mid(cin: int, layer: LayerSpec) -> int:
    """Hidden width of ``ir`` / ``fused`` layers, as the spaces' builder computes it."""
    return cin if layer.expansion == 1 else make_divisible(cin * layer.expansion)


def _se_width(mid: int) -> int:
    return make_divisible(mid * 0.25, 8)


def layer_candidates(template: Any) -> list[LayerSpec | None]:
    """Every value a layer position of a space template can take (``None`` = skipped).

    Raises
    ------
    SupernetError
        If the position holds something other than layer specs (e.g. floats).
    """
    if isinstance(template, LayerSpec) and not _has_primitive(template):
        return [template]
    if template is None:
        return [None]
    sub = Space(template)
    if not sub.is_choice_only:
        raise SupernetError(f"layer template {template!r} has non-categorical decisions; the "
                            "conv supernet supports oneof decisions only")
    return [sub.materialize(dna, validate=False) for dna in sub.iter_dna()]


def _has_primitive(layer: LayerSpec) -> bool:
    return any(isinstance(getattr(layer, f), OneOf) for f in layer.__dataclass_fields__)


def _choices(value: Any) -> list:
    return list(value.candidates) if isinstance(value, OneOf) else [value]


def _drop_path(y: torch.Tensor, p: float) -> torch.Tensor:
    """Zero each example's residual branch with probability ``p``, scale the rest by 1/(1-p)."""
    keep = 1.0 - p
    return y * y.new_empty((y.shape[0], 1, 1, 1)).bernoulli_(keep) / keep


class _Ctx:
    """Per-forward settings shared by every op: BN mode, calibration factor, training flag."""

    def __init__(self, training: bool, bn_mode: str, factor: float) -> None:
        self.training, self.bn_mode, self.factor = training, bn_mode, factor


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, c: int, ctx: _Ctx) -> torch.Tensor:
    """Batch norm on the first ``c`` channels of a shared BN (OFA / BigNAS dynamic BN)."""
    if ctx.bn_mode == "batch":
        return F.batch_norm(x, None, None, bn.weight[:c], bn.bias[:c], True, 0.0, bn.eps)
    if ctx.bn_mode == "calibrate":
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c],
                            bn.bias[:c], True, ctx.factor, bn.eps)
    return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                        ctx.training, bn.momentum, bn.eps)


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, c: int) -> None:
    dst.weight.copy_(src.weight[:c])
    dst.bias.copy_(src.bias[:c])
    dst.running_mean.copy_(src.running_mean[:c])
    dst.running_var.copy_(src.running_var[:c])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


class SuperConvBN(nn.Module):
    """A shared k×k convolution (no bias) with its batch norm, sliced per child.

    Weight (out_max, in_max / groups, K, K); a child with ``cout``, ``cin`` and kernel ``k`` uses
    ``weight[:cout, :cin, c:c+k, c:c+k]`` with ``c = (K - k) // 2`` (``"center"``), or its own
    (out_max, in_max, k, k) tensor (``"separate"``). ``depthwise`` uses groups = channels.
    """

    def __init__(self, cin: int, cout: int, kernels: Iterable[int], depthwise: bool = False,
                 sharing: str = "center") -> None:
        super().__init__()
        self.kernels = sorted(set(int(k) for k in kernels))
        self.depthwise, self.sharing = depthwise, sharing
        shape_in = 1 if depthwise else cin
        if sharing == "center":
            k = self.kernels[-1]
            self.weight = nn.Parameter(torch.empty(cout, shape_in, k, k))
        else:
            self.weights = nn.ParameterDict(
                {str(k): nn.Parameter(torch.empty(cout, shape_in, k, k)) for k in self.kernels})
        self.bn = nn.BatchNorm2d(cout)
        for w in self._all_weights():
            nn.init.kaiming_normal_(w, mode="fan_out")

    def _all_weights(self) -> list[nn.Parameter]:
        return [self.weight] if self.sharing == "center" else list(self.weights.values())

    def child_weight(self, cout: int, cin: int, k: int) -> torch.Tensor:
        """The child's kernel (cout, cin or 1, k, k), a view of the shared tensor."""
        if k not in self.kernels:
            raise SupernetError(f"kernel {k} is not one of this layer's kernels {self.kernels}")
        cin = 1 if self.depthwise else cin
        if self.sharing == "separate":
            return self.weights[str(k)][:cout, :cin]
        off = (self.weight.shape[-1] - k) // 2
        return self.weight[:cout, :cin, off:off + k, off:off + k]

    def forward(self, x: torch.Tensor, cout: int, k: int, stride: int, act: str | None,
                ctx: _Ctx) -> torch.Tensor:
        """(B, cin, H, W) → (B, cout, ⌈H/stride⌉, ⌈W/stride⌉)."""
        cin = x.shape[1]
        w = self.child_weight(cout, cin, k)
        y = F.conv2d(x, w, None, stride, k // 2, 1, cout if self.depthwise else 1)
        return _act(act, _bn(y, self.bn, cout, ctx))

    @torch.no_grad()
    def copy_to(self, dst: nn.Sequential, cout: int, cin: int, k: int) -> None:
        """Copy the child's slices into a ``ConvBNAct`` (conv, bn, act)."""
        dst[0].weight.copy_(self.child_weight(cout, cin, k))
        _copy_bn(dst[1], self.bn, cout)


class SuperSE(nn.Module):
    """Shared squeeze-excite: reduce (s_max, c_max) and expand (c_max, s_max) 1×1 convs with bias."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        s = _se_width(c)
        p = F.adaptive_avg_pool2d(x, 1)
        h = F.relu(F.conv2d(p, self.reduce.weight[:s, :c], self.reduce.bias[:s]))
        g = F.hardsigmoid(F.conv2d(h, self.expand.weight[:c, :s], self.expand.bias[:c]))
        return x * g

    @torch.no_grad()
    def copy_to(self, dst: nn.Module, c: int) -> None:
        s = dst.squeeze_ch
        dst.reduce.weight.copy_(self.reduce.weight[:s, :c])
        dst.reduce.bias.copy_(self.reduce.bias[:s])
        dst.expand.weight.copy_(self.expand.weight[:c, :s])
        dst.expand.bias.copy_(self.expand.bias[:c])


class SuperIR(nn.Module):
    """Shared inverted bottleneck: 1×1 expand (absent for expansion 1) → k×k depthwise → SE → 1×1
    project; the maximal widths over every candidate of the position."""

    def __init__(self, cin: int, cout: int, mid: int, kernels: Iterable[int], expand: bool,
                 se: bool, sharing: str) -> None:
        super().__init__()
        self.expand = SuperConvBN(cin, mid, [1], sharing="center") if expand else None
        self.depthwise = SuperConvBN(mid, mid, kernels, depthwise=True, sharing=sharing)
        self.se = SuperSE(mid, _se_width(mid)) if se else None
        self.project = SuperConvBN(mid, cout, [1], sharing="center")

    def last_bn(self) -> nn.BatchNorm2d:
        return self.project.bn

    def forward(self, x: torch.Tensor, layer: LayerSpec, cout: int, stride: int,
                ctx: _Ctx) -> torch.Tensor:
        cin = x.shape[1]
        mid = _mid(cin, layer)
        h = x
        if mid != cin or layer.expansion != 1:
            h = self.expand(x, mid, 1, 1, layer.act, ctx)
        h = self.depthwise(h, mid, layer.kernel, stride, layer.act, ctx)
        if layer.se:
            h = self.se(h)
        return self.project(h, cout, 1, 1, None, ctx)

    def copy_to(self, dst: nn.Module, layer: LayerSpec, cin: int, cout: int) -> None:
        mid = dst.mid_ch
        if dst.expand is not None:
            self.expand.copy_to(dst.expand, mid, cin, 1)
        self.depthwise.copy_to(dst.depthwise, mid, mid, layer.kernel)
        if dst.se is not None:
            self.se.copy_to(dst.se, mid)
        self.project.copy_to(dst.project, cout, mid, 1)


class SuperFused(nn.Module):
    """Shared fused inverted bottleneck: k×k regular expand → SE → 1×1 project (MobileDets)."""

    def __init__(self, cin: int, cout: int, mid: int, kernels: Iterable[int], se: bool,
                 sharing: str) -> None:
        super().__init__()
        self.expand = SuperConvBN(cin, mid, kernels, sharing=sharing)
        self.se = SuperSE(mid, _se_width(mid)) if se else None
        self.project = SuperConvBN(mid, cout, [1], sharing="center")

    def last_bn(self) -> nn.BatchNorm2d:
        return self.project.bn

    def forward(self, x: torch.Tensor, layer: LayerSpec, cout: int, stride: int,
                ctx: _Ctx) -> torch.Tensor:
        mid = _mid(x.shape[1], layer)
        h = self.expand(x, mid, layer.kernel, stride, layer.act, ctx)
        if layer.se:
            h = self.se(h)
        return self.project(h, cout, 1, 1, None, ctx)

    def copy_to(self, dst: nn.Module, layer: LayerSpec, cin: int, cout: int) -> None:
        mid = dst.mid_ch
        self.expand.copy_to(dst.expand, mid, cin, layer.kernel)
        if dst.se is not None:
            self.se.copy_to(dst.se, mid)
        self.project.copy_to(dst.project, cout, mid, 1)


class SuperTucker(nn.Module):
    """Shared Tucker conv: 1×1 compress (c1) → k×k conv (c2) → 1×1 project (MobileDets)."""

    def __init__(self, cin: int, cout: int, c1: int, c2: int, kernels: Iterable[int],
                 sharing: str) -> None:
        super().__init__()
        self.compress = SuperConvBN(cin, c1, [1], sharing="center")
        self.core = SuperConvBN(c1, c2, kernels, sharing=sharing)
        self.project = SuperConvBN(c2, cout, [1], sharing="center")

    def last_bn(self) -> nn.BatchNorm2d:
        return self.project.bn

    def forward(self, x: torch.Tensor, layer: LayerSpec, cout: int, stride: int,
                ctx: _Ctx) -> torch.Tensor:
        c1 = make_divisible(layer.in_ratio * x.shape[1])
        c2 = make_divisible(layer.out_ratio * cout)
        h = self.compress(x, c1, 1, 1, layer.act, ctx)
        h = self.core(h, c2, layer.kernel, stride, layer.act, ctx)
        return self.project(h, cout, 1, 1, None, ctx)

    def copy_to(self, dst: nn.Module, layer: LayerSpec, cin: int, cout: int) -> None:
        self.compress.copy_to(dst.compress, dst.compress_ch, cin, 1)
        self.core.copy_to(dst.core, dst.core_ch, dst.compress_ch, layer.kernel)
        self.project.copy_to(dst.project, cout, dst.core_ch, 1)


class SuperStem(nn.Module):
    """A regular k×k conv-BN-act layer (the stem), sliced on channels and kernel."""

    def __init__(self, cin: int, cout: int, kernels: Iterable[int], sharing: str) -> None:
        super().__init__()
        self.conv = SuperConvBN(cin, cout, kernels, sharing=sharing)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv.bn

    def forward(self, x: torch.Tensor, layer: LayerSpec, cout: int, stride: int,
                ctx: _Ctx) -> torch.Tensor:
        return self.conv(x, cout, layer.kernel, stride, layer.act, ctx)

    def copy_to(self, dst: nn.Module, layer: LayerSpec, cin: int, cout: int) -> None:
        self.conv.copy_to(dst, cout, cin, layer.kernel)


class ConvSupernet(nn.Module):
    """The weight-sharing supernet of a convolutional space; ``forward(x, arch)`` runs a child.

    Parameters
    ----------
    space : ConvSpace
        E.g. ``get_space("mobilenetv3_like")``, ``"proxylessnas"``, ``"mobiledet_ibn"``,
        ``"mobiledet"``.
    num_classes : int
        Classifier outputs (> 0).
    in_channels : int
        1 for grey images.
    width_mult : float
        Scales every filter count as :func:`~budgetnas.spaces.build_model` does (e.g. 0.25 for
        28×28 Fashion-MNIST on a CPU).
    kernel_sharing : {"center", "separate"}
        Small kernels are the centre of the largest one (TuNAS, BigNAS), or have their own
        tensors.
    zero_init_residual_bn : bool
        Start the last BN γ of every residual position at 0 (BigNAS, Yu et al. 2020, §3.1).

    Shapes: ``forward(x (B, in_channels, H, W), arch) -> (B, num_classes)`` logits.

    Raises
    ------
    SupernetError
        If the space has CondConv experts > 1 (not supported by the supernet), a stride that is
        a decision, or an unknown option.
    """

    def __init__(self, space: Any, num_classes: int = 10, in_channels: int = 3,
                 width_mult: float = 1.0, kernel_sharing: str = "center",
                 zero_init_residual_bn: bool = False) -> None:
        super().__init__()
        if kernel_sharing not in KERNEL_SHARING:
            raise SupernetError(f"kernel_sharing must be one of {KERNEL_SHARING}, got "
                                f"{kernel_sharing!r}")
        if num_classes < 1:
            raise SupernetError(f"num_classes must be >= 1, got {num_classes}")
        self.space = space
        self.num_classes, self.in_channels = int(num_classes), int(in_channels)
        self.width_mult, self.kernel_sharing = float(width_mult), kernel_sharing
        self.bn_mode, self._bn_factor = "running", 0.1
        self._residual_bns: list[nn.BatchNorm2d] = []
        self._arch_cache: dict[tuple, ConvArch] = {}
        template: ConvArch = space.value
        rf = self._filters
        self.positions = nn.ModuleDict()
        cins = [self.in_channels]
        for b, block in enumerate(template.blocks):
            if isinstance(block.stride, OneOf):
                raise SupernetError(f"block {b}: the stride is a decision; the supernet needs "
                                    "fixed strides")
            if any(int(e) > 1 for e in _choices(block.experts)):
                raise SupernetError(f"block {b} has CondConv experts > 1; the conv supernet "
                                    "shares plain convolutions only (use a space without experts)")
            couts = sorted({rf(f) for f in _choices(block.filters)})
            for i, layer_t in enumerate(block.layers):
                cands = [c for c in layer_candidates(layer_t) if c is not None]
                if not cands:
                    continue
                in_set = cins if i == 0 else couts
                self.positions[f"b{b}_l{i}"] = self._make_position(cands, in_set, couts, i > 0)
            cins = couts
        head = template.head
        self.head_pre = self.head_post = None
        feat = max(cins)
        if _choices(head.pre_filters) != [0]:
            pre = max(rf(f) for f in _choices(head.pre_filters))
            self.head_pre = SuperConvBN(feat, pre, [1])
            feat = pre
        if _choices(head.post_filters) != [0]:
            post = max(rf(f) for f in _choices(head.post_filters))
            if head.post_bn:
                self.head_post = SuperConvBN(feat, post, [1])
            else:
                self.head_post = nn.Conv2d(feat, post, 1, bias=True)
                nn.init.kaiming_normal_(self.head_post.weight, mode="fan_out")
                nn.init.zeros_(self.head_post.bias)
            feat = post
        self.classifier = nn.Linear(feat, self.num_classes)
        nn.init.normal_(self.classifier.weight, 0, 0.01)
        nn.init.zeros_(self.classifier.bias)
        if zero_init_residual_bn:
            self.zero_residual_bn()

    def _filters(self, f: int) -> int:
        return resolve_filters(int(f), self.width_mult)

    def _make_position(self, cands: Sequence[LayerSpec], cins: Sequence[int],
                       couts: Sequence[int], residual: bool) -> nn.ModuleDict:
        ops = nn.ModuleDict()
        sharing = self.kernel_sharing
        cin, cout = max(cins), max(couts)
        for op in dict.fromkeys(c.op for c in cands):
            group = [c for c in cands if c.op == op]
            kernels = [c.kernel for c in group]
            if op == "conv":
                mod: nn.Module = SuperStem(cin, cout, kernels, sharing)
            elif op in ("ir", "fused"):
                mid = max(_mid(ci, c) for ci in cins for c in group)
                se = any(c.se for c in group)
                if op == "ir":
                    mod = SuperIR(cin, cout, mid, kernels, any(c.expansion != 1 for c in group),
                                  se, sharing)
                else:
                    mod = SuperFused(cin, cout, mid, kernels, se, sharing)
            elif op == "tucker":
                c1 = max(make_divisible(c.in_ratio * ci) for ci in cins for c in group)
                c2 = max(make_divisible(c.out_ratio * co) for co in couts for c in group)
                mod = SuperTucker(cin, cout, c1, c2, kernels, sharing)
            else:
                raise SupernetError(f"unknown op {op!r}")
            if residual and op != "conv":
                self._residual_bns.append(mod.last_bn())
            ops[op] = mod
        return ops

    # ------------------------------------------------------------------ children
    def arch(self, child: Any) -> ConvArch:
        """A child as a :class:`ConvArch` (from a DNA, a DNA vector or an arch; DNA cached)."""
        if isinstance(child, ConvArch):
            return child
        key = tuple(int(v) for v in np.asarray(self.space.to_vector(child)
                                               if not isinstance(child, np.ndarray) else child))
        if key not in self._arch_cache:
            if len(self._arch_cache) > 4096:
                self._arch_cache.clear()
            self._arch_cache[key] = self.space.materialize(self.space.from_vector(np.array(key)))
        return self._arch_cache[key]

    def forward(self, x: torch.Tensor, child: Any, drop_rate: float = 0.0,
                drop_path_rate: float = 0.0) -> torch.Tensor:
        """Run a child (ConvArch or DNA) on (B, in_channels, H, W) → (B, num_classes) logits.

        ``drop_rate``: dropout before the classifier; ``drop_path_rate``: stochastic depth on
        every residual branch (each example's branch zeroed with this probability, survivors
        scaled by 1 / (1 - p)). Both act in training mode only; BigNAS regularises the largest
        child only (Yu et al. 2020, §3.2).

        Raises
        ------
        SupernetError
            If ``drop_path_rate`` is not in [0, 1).
        """
        if not 0.0 <= drop_path_rate < 1.0:
            raise SupernetError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        drop_path = drop_path_rate if self.training else 0.0
        arch = self.arch(child)
        ctx = _Ctx(self.training, self.bn_mode, self._bn_factor)
        for b, block in enumerate(arch.blocks):
            cout = self._filters(block.filters)
            for i, layer in enumerate(block.layers):
                if layer is None:
                    continue
                stride = block.stride if i == 0 else 1
                mod = self.positions[f"b{b}_l{i}"][layer.op]
                y = mod(x, layer, cout, stride, ctx)
                if i > 0 and stride == 1 and x.shape[1] == cout:
                    x = x + (_drop_path(y, drop_path) if drop_path else y)
                else:
                    x = y
        head = arch.head
        if self.head_pre is not None:
            x = self.head_pre(x, self._filters(head.pre_filters), 1, 1, head.act, ctx)
        x = F.adaptive_avg_pool2d(x, 1)
        if self.head_post is not None:
            c = self._filters(head.post_filters)
            if isinstance(self.head_post, SuperConvBN):
                x = self.head_post(x, c, 1, 1, head.act, ctx)
            else:
                x = _act(head.act, F.conv2d(x, self.head_post.weight[:c, :x.shape[1]],
                                            self.head_post.bias[:c]))
        x = x.flatten(1)
        if drop_rate > 0:
            x = F.dropout(x, drop_rate, self.training)
        return F.linear(x, self.classifier.weight[:, :x.shape[1]], self.classifier.bias)

    @torch.no_grad()
    def extract(self, child: Any) -> ConvNet:
        """The child as a standalone network with the supernet's slices copied in.

        Returns a :class:`~budgetnas.spaces.ConvNet` built by :func:`~budgetnas.spaces.build_model`
        (same classes, channels, width), in train mode; in eval mode (and for the same BN mode)
        its outputs equal ``self(x, child)``.
        """
        arch = self.arch(child)
        net = build_model(arch, self.num_classes, self.in_channels, self.width_mult)
        cin = self.in_channels
        for b, block in enumerate(arch.blocks):
            cout = self._filters(block.filters)
            present = [(i, layer) for i, layer in enumerate(block.layers) if layer is not None]
            for j, (i, layer) in enumerate(present):
                self.positions[f"b{b}_l{i}"][layer.op].copy_to(net.blocks[b][j], layer, cin, cout)
                cin = cout
        head = arch.head
        if self.head_pre is not None:
            c = self._filters(head.pre_filters)
            self.head_pre.copy_to(net.head_pre, c, cin, 1)
            cin = c
        if self.head_post is not None:
            c = self._filters(head.post_filters)
            if isinstance(self.head_post, SuperConvBN):
                self.head_post.copy_to(net.head_post, c, cin, 1)
            else:
                net.head_post[0].weight.copy_(self.head_post.weight[:c, :cin])
                net.head_post[0].bias.copy_(self.head_post.bias[:c])
            cin = c
        net.classifier.weight.copy_(self.classifier.weight[:, :cin])
        net.classifier.bias.copy_(self.classifier.bias)
        return net

    # ------------------------------------------------------------------ batch norm
    def residual_batch_norms(self) -> list[nn.BatchNorm2d]:
        """The last BN of every op at a residual position (its γ scales the residual branch)."""
        return list(self._residual_bns)

    @torch.no_grad()
    def zero_residual_bn(self) -> None:
        """Set the last BN γ of every residual position to 0, so that every residual layer starts
        as the identity (BigNAS, Yu et al. 2020, §3.1; Goyal et al. 2017)."""
        for bn in self._residual_bns:
            bn.weight.zero_()

    def batch_norms(self) -> list[nn.BatchNorm2d]:
        """Every shared batch norm of the supernet."""
        return [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]

    @torch.no_grad()
    def calibrate_bn(self, child: Any, batches: Iterable[torch.Tensor]) -> int:
        """Recompute the BN running statistics for one child on a few batches (BigNAS, §3.3).

        Running means / variances are reset, then set to the exact average of the per-batch
        statistics of ``batches`` (images (B, C, H, W)) with the child's slices. Trained weights
        are untouched. Returns the number of batches used.

        Raises
        ------
        SupernetError
            If ``batches`` is empty.
        """
        for bn in self.batch_norms():
            bn.reset_running_stats()
        was_training, mode = self.training, self.bn_mode
        self.train()
        self.bn_mode = "calibrate"
        n = 0
        try:
            for n, x in enumerate(batches, start=1):
                self._bn_factor = 1.0 / n  # cumulative moving average = exact mean
                self(x, child)
        finally:
            self.bn_mode, self._bn_factor = mode, 0.1
            self.train(was_training)
        if n == 0:
            raise SupernetError("calibrate_bn needs at least one batch of images")
        return n

    def set_bn_mode(self, mode: str) -> None:
        """``"running"`` (default), ``"batch"`` (batch statistics, no update) or ``"calibrate"``.

        Raises
        ------
        SupernetError
            For another mode.
        """
        if mode not in BN_MODES:
            raise SupernetError(f"bn mode must be one of {BN_MODES}, got {mode!r}")
        self.bn_mode = mode

    def num_parameters(self) -> int:
        """Parameters of the whole supernet (the shared maximal tensors)."""
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return (f"space={getattr(self.space, 'name', '?')!r}, width_mult={self.width_mult}, "
                f"kernel_sharing={self.kernel_sharing!r}, params={self.num_parameters()}")

