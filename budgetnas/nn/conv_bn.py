"""Convolution followed by batch norm and an activation: the unit every block is made of."""

from __future__ import annotations

import torch
from torch import nn

from budgetnas.errors import LayerConfigError
from budgetnas.nn.activations import get_activation


def check_groups(in_ch: int, out_ch: int, groups: int, where: str) -> None:
    """Raise :class:`LayerConfigError` unless both channel counts are divisible by ``groups``."""
    if in_ch <= 0 or out_ch <= 0 or groups <= 0:
        raise LayerConfigError(
            f"{where}: channels and groups must be positive, got in_ch={in_ch}, out_ch={out_ch}, "
            f"groups={groups}"
        )
    if in_ch % groups or out_ch % groups:
        raise LayerConfigError(
            f"{where}: in_ch={in_ch} and out_ch={out_ch} must both be divisible by groups={groups}; "
            "use groups=1 (regular) or groups=in_ch=out_ch (depthwise)"
        )


class ConvBNAct(nn.Sequential):
    """``Conv2d`` (no bias, "same" padding) → ``BatchNorm2d`` → activation.

    Input (B, in_ch, H, W) → output (B, out_ch, ceil(H / stride), ceil(W / stride)) for odd
    kernels. The bias is omitted because the batch norm's shift replaces it.

    Parameters
    ----------
    in_ch, out_ch : int
        Channels in and out.
    kernel_size : int, default 1
        Odd kernel size; padding is ``kernel_size // 2``.
    stride : int, default 1
    groups : int, default 1
        ``in_ch`` for a depthwise convolution.
    act : str or None, default "relu"
        Activation name (see :func:`budgetnas.nn.get_activation`); ``None`` for none.

    Raises
    ------
    LayerConfigError
        If the channels are not divisible by ``groups`` or the activation is unknown.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
    ) -> None:
        check_groups(in_ch, out_ch, groups, "ConvBNAct")
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            get_activation(act),
        )

    @property
    def bn(self) -> nn.BatchNorm2d:
        """The batch norm layer (its ``weight`` is the γ that zero-init sets)."""
        return self[1]


def zero_bn_(bn: nn.BatchNorm2d) -> None:
    """Set a batch norm's scale γ to zero in place, so its residual branch starts as identity.

    BigNAS (Yu et al. 2020, Sec. 3.1) and Goyal et al. 2017 ("zero γ") initialise the last
    γ of every residual block this way.
    """
    with torch.no_grad():
        bn.weight.zero_()
