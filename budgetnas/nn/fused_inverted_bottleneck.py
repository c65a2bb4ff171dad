"""Fused inverted bottleneck: the expansion and depthwise convs merged into one regular conv."""

from __future__ import annotations

import torch

from budgetnas.nn.conv_bn import ConvBNAct
from budgetnas.nn.divisible import make_divisible
from budgetnas.nn.residual import ResidualBlock, se_ratio_of
from budgetnas.nn.squeeze_excite import SqueezeExcite


class FusedInvertedBottleneck(ResidualBlock):
    """Fused IBN: k×k regular conv expand → optional SE → 1×1 linear project.

    MobileDets (Xiong et al., CVPR 2021, Sec. 3.1, Fig. 2): replaces the 1×1 expansion plus k×k
    depthwise of an inverted bottleneck with one k×k regular convolution, which runs faster on
    accelerators in early, high-resolution stages. BN after each conv, no activation after the
    projection, identity skip when ``stride == 1`` and ``in_ch == out_ch``. The structure is kept
    for ``expansion == 1`` too (k×k conv to ``in_ch``, then the projection).

    Shapes: (B, in_ch, H, W) → (B, out_ch, ⌈H/stride⌉, ⌈W/stride⌉); hidden width
    ``mid_ch = make_divisible(in_ch * expansion)`` unless given.

    Parameters
    ----------
    in_ch, out_ch : int
    expansion : float, default 4
        MobileDets searches {4, 8}.
    kernel_size : int, default 3
    stride : int, default 1
    se : bool or float, default False
        Squeeze-excite on the hidden width (``True`` = ratio 0.25).
    act : str, default "relu"
    mid_ch : int, optional
        Explicit hidden width.
    residual : bool, default True
    drop_path : float, default 0.0
    zero_init_last_bn : bool, default False

    Raises
    ------
    LayerConfigError
        For an unknown activation.
    ValueError
        For a stride other than 1 or 2, or an SE ratio outside (0, 1].
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        expansion: float = 4,
        kernel_size: int = 3,
        stride: int = 1,
        se: bool | float = False,
        act: str = "relu",
        mid_ch: int | None = None,
        residual: bool = True,
        drop_path: float = 0.0,
        zero_init_last_bn: bool = False,
    ) -> None:
        super().__init__(in_ch, out_ch, stride, residual, drop_path)
        if mid_ch is None:
            mid_ch = in_ch if expansion == 1 else make_divisible(in_ch * expansion)
        self.mid_ch, self.kernel_size = mid_ch, kernel_size
        ratio = se_ratio_of(se)
        self.expand = ConvBNAct(in_ch, mid_ch, kernel_size, stride, act=act)
        self.se = SqueezeExcite(mid_ch, ratio) if ratio else None
        self.project = ConvBNAct(mid_ch, out_ch, 1, act=None)
        self._last_bn = self.project.bn
        if zero_init_last_bn:
            self.zero_init_last_bn()

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The block without its skip: (B, in_ch, H, W) → (B, out_ch, H', W')."""
        h = self.expand(x)
        if self.se is not None:
            h = self.se(h)
        return self.project(h)
