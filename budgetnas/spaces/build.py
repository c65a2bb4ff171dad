"""Build a child :class:`~budgetnas.spaces.arch.ConvArch` into a PyTorch module.

>>> import torch
>>> from budgetnas.spaces.reference import get_reference
>>> model = build_model(get_reference("mobilenetv2_100"), num_classes=10, width_mult=0.25)
>>> model(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import torch
from torch import nn

from budgetnas.nn import (
    ConvBNAct,
    FusedInvertedBottleneck,
    InvertedBottleneck,
    TuckerConv,
    get_activation,
)
from budgetnas.spaces.arch import ConvArch, LayerSpec, validate_arch
from budgetnas.spaces.describe import _mid, resolve_filters

__all__ = ["ConvNet", "build_model"]


class ConvNet(nn.Module):
    """The network of a child: ``blocks`` → head convs → global average pool → classifier.

    Input (B, in_channels, H, W) of any size ≥ 1 → logits (B, num_classes), or pooled features
    (B, num_features) when ``num_classes=0``. Attributes: ``blocks`` (an ``nn.Sequential`` of
    one ``nn.Sequential`` per block, skipped layers absent), ``head_pre``, ``pool``,
    ``head_post``, ``classifier``, ``num_features``.

    Parameters
    ----------
    arch : ConvArch
    num_classes : int, default 1000
        0 for a feature extractor (no classifier).
    in_channels : int, default 3
    width_mult : float, default 1.0
        Scales every filter count (``make_divisible(f * width_mult)``), e.g. 0.25 for 28×28
        grey images.
    drop_rate : float, default 0.0
        Dropout before the classifier.
    condconv_path : {"grouped", "mixture"}, default "grouped"
        Execution path of CondConv layers (blocks with ``experts > 1``).

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed (see :func:`~budgetnas.spaces.arch.validate_arch`).
    """

    def __init__(self, arch: ConvArch, num_classes: int = 1000, in_channels: int = 3,
                 width_mult: float = 1.0, drop_rate: float = 0.0,
                 condconv_path: str = "grouped") -> None:
        super().__init__()
        validate_arch(arch, in_channels)
        self.arch, self.width_mult = arch, width_mult
        blocks, cin = [], in_channels
        for block in arch.blocks:
            cout = resolve_filters(block.filters, width_mult)
            layers = []
            for i, layer in enumerate(block.layers):
                if layer is None:
                    continue
                stride = block.stride if i == 0 else 1
                layers.append(_make_layer(layer, cin, cout, stride, i > 0, block.experts,
                                          condconv_path))
                cin = cout
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)
        head = arch.head
        self.head_pre: nn.Module = nn.Identity()
        if head.pre_filters:
            c = resolve_filters(head.pre_filters, width_mult)
            self.head_pre, cin = ConvBNAct(cin, c, 1, act=head.act), c
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head_post: nn.Module = nn.Identity()
        if head.post_filters:
            c = resolve_filters(head.post_filters, width_mult)
            if head.post_bn:
                self.head_post = ConvBNAct(cin, c, 1, act=head.act)
            else:  # MobileNetV3: conv with bias, no BN, after pooling
                self.head_post = nn.Sequential(nn.Conv2d(cin, c, 1, bias=True),
                                               get_activation(head.act))
            cin = c
        self.num_features = cin
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Linear(cin, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → feature map of the last block (B, C', H/32, W/32 for five stride-2s)."""
        return self.blocks(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → (B, num_classes) logits (features if ``num_classes=0``)."""
        x = self.head_pre(self.forward_features(x))
        x = self.head_post(self.pool(x)).flatten(1)
        return self.classifier(self.dropout(x))


def _make_layer(layer: LayerSpec, cin: int, cout: int, stride: int, residual: bool,
                experts: int, condconv_path: str) -> nn.Module:
    if layer.op == "conv":
        return ConvBNAct(cin, cout, layer.kernel, stride, act=layer.act)
    if layer.op == "ir":
        return InvertedBottleneck(cin, cout, expansion=layer.expansion, kernel_size=layer.kernel,
                                  stride=stride, se=layer.se, act=layer.act,
                                  mid_ch=_mid(cin, layer), num_experts=experts,
                                  condconv_path=condconv_path, residual=residual)
    if layer.op == "fused":
        return FusedInvertedBottleneck(cin, cout, expansion=layer.expansion,
                                       kernel_size=layer.kernel, stride=stride, se=layer.se,
                                       act=layer.act, mid_ch=_mid(cin, layer), residual=residual)
    return TuckerConv(cin, cout, in_ratio=layer.in_ratio, out_ratio=layer.out_ratio,
                      kernel_size=layer.kernel, stride=stride, act=layer.act, residual=residual)


def build_model(arch: ConvArch, num_classes: int = 1000, in_channels: int = 3,
                width_mult: float = 1.0, drop_rate: float = 0.0,
                condconv_path: str = "grouped") -> ConvNet:
    """Build the :class:`ConvNet` of a child (fresh, randomly initialised weights).

    Works for any input size and number of classes; see :class:`ConvNet` for the parameters.
    Its parameter count equals :func:`~budgetnas.spaces.describe.count_arch_params` and its MACs
    :func:`~budgetnas.spaces.describe.count_arch_macs` (convention of
    :mod:`budgetnas.cost.counting`).

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed.
    """
    return ConvNet(arch, num_classes, in_channels, width_mult, drop_rate, condconv_path)
