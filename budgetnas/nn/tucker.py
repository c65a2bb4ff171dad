"""Tucker (compress-conv-decompress) block of MobileDets."""

from __future__ import annotations

import torch

from budgetnas.nn.conv_bn import ConvBNAct
from budgetnas.nn.divisible import make_divisible
from budgetnas.nn.residual import ResidualBlock


class TuckerConv(ResidualBlock):
    """Tucker block: 1×1 compress → k×k regular conv → 1×1 linear project.

    MobileDets (Xiong et al., CVPR 2021, Sec. 3.1, Fig. 2), after the Tucker decomposition of a
    k×k convolution: ``c1 = make_divisible(in_ratio * in_ch)`` channels after the first 1×1 conv,
    ``c2 = make_divisible(out_ratio * out_ch)`` after the k×k conv (which carries the stride),
    then a 1×1 projection to ``out_ch`` with no activation. BN after each conv; identity skip when
    ``stride == 1`` and ``in_ch == out_ch``.

    Shapes: (B, in_ch, H, W) → (B, out_ch, ⌈H/stride⌉, ⌈W/stride⌉).

    Parameters
    ----------
    in_ch, out_ch : int
    in_ratio : float, default 0.25
        Input compression ratio s (MobileDets searches {0.25, 0.75}).
    out_ratio : float, default 0.75
        Output compression ratio e (MobileDets searches {0.25, 0.75}).
    kernel_size : int, default 3
    stride : int, default 1
    act : str, default "relu"
    residual : bool, default True
    drop_path : float, default 0.0
    zero_init_last_bn : bool, default False

    Raises
    ------
    LayerConfigError
        For an unknown activation.
    ValueError
        For a stride other than 1 or 2 or a ratio that is not positive.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        in_ratio: float = 0.25,
        out_ratio: float = 0.75,
        kernel_size: int = 3,
        stride: int = 1,
        act: str = "relu",
        residual: bool = True,
        drop_path: float = 0.0,
        zero_init_last_bn: bool = False,
    ) -> None:
        super().__init__(in_ch, out_ch, stride, residual, drop_path)
        if in_ratio <= 0 or out_ratio <= 0:
            raise ValueError(
                f"TuckerConv: in_ratio and out_ratio must be positive, got {in_ratio!r}, {out_ratio!r}"
            )
        self.compress_ch = make_divisible(in_ratio * in_ch)
        self.core_ch = make_divisible(out_ratio * out_ch)
        self.kernel_size = kernel_size
        self.compress = ConvBNAct(in_ch, self.compress_ch, 1, act=act)
        self.core = ConvBNAct(self.compress_ch, self.core_ch, kernel_size, stride, act=act)
        self.project = ConvBNAct(self.core_ch, out_ch, 1, act=None)
        self._last_bn = self.project.bn
        if zero_init_last_bn:
            self.zero_init_last_bn()

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The block without its skip: (B, in_ch, H, W) → (B, out_ch, H', W')."""
        return self.project(self.core(self.compress(x)))
