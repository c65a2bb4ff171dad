"""Squeeze-and-excite channel attention, MobileNetV3 style."""

from __future__ import annotations

import torch
from torch import nn

from budgetnas.nn.activations import get_activation
from budgetnas.nn.divisible import make_divisible


class SqueezeExcite(nn.Module):
    """Squeeze-and-excite: ``x * gate(expand(act(reduce(GAP(x)))))``.

    Hu et al., CVPR 2018; the MobileNetV3 variant (Howard et al. 2019, Sec. 5.3): the squeeze
    width is ``make_divisible(channels * se_ratio, divisor)``, the inner activation is ReLU and the
    gate a hard sigmoid. ``reduce``/``expand`` are 1×1 convolutions with bias on the pooled
    (B, C, 1, 1) tensor, i.e. linear layers.

    Input and output have shape (B, channels, H, W). Parameters:
    ``2 * channels * squeeze + squeeze + channels``. Multiply-adds (convention of
    :mod:`budgetnas.cost.counting`): ``2 * channels * squeeze`` per example; the pooling, gate and
    the rescaling multiply are element-wise operations.

    Parameters
    ----------
    channels : int
        Channels of the input (for an inverted bottleneck: the expanded width).
    se_ratio : float, default 0.25
        Squeeze width as a fraction of ``channels``, before rounding.
    divisor : int, default 8
        Rounding multiple of the squeeze width.
    act : str, default "relu"
        Activation after ``reduce``.
    gate : str, default "hsigmoid"
        Gate activation (``"sigmoid"`` gives the original SENet).
    squeeze_ch : int, optional
        Explicit squeeze width; overrides ``se_ratio``.

    Raises
    ------
    LayerConfigError
        If an activation name is unknown.
    ValueError
        If ``se_ratio`` is not in (0, 1].
    """

    def __init__(
        self,
        channels: int,
        se_ratio: float = 0.25,
        divisor: int = 8,
        act: str = "relu",
        gate: str = "hsigmoid",
        squeeze_ch: int | None = None,
    ) -> None:
        super().__init__()
        if squeeze_ch is None:
            if not 0.0 < se_ratio <= 1.0:
                raise ValueError(f"SqueezeExcite: se_ratio must be in (0, 1], got {se_ratio!r}")
            squeeze_ch = make_divisible(channels * se_ratio, divisor)
        self.channels = channels
        self.squeeze_ch = squeeze_ch
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze_ch, 1, bias=True)
        self.act = get_activation(act)
        self.expand = nn.Conv2d(squeeze_ch, channels, 1, bias=True)
        self.gate = get_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale the channels of ``x`` (B, C, H, W); returns the same shape."""
        s = self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
        return x * s
