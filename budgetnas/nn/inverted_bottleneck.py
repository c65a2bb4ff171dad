"""MobileNetV2 inverted bottleneck (IBN), optionally with squeeze-excite and CondConv experts."""

from __future__ import annotations

import torch
from torch import nn

from budgetnas.nn.activations import get_activation
from budgetnas.nn.condconv import CondConv2d, CondConvRouting
from budgetnas.nn.conv_bn import ConvBNAct
from budgetnas.nn.divisible import make_divisible
from budgetnas.nn.residual import ResidualBlock, se_ratio_of
from budgetnas.nn.squeeze_excite import SqueezeExcite


class CondConvBNAct(nn.Module):
    """``CondConv2d`` → ``BatchNorm2d`` → activation; ``forward(x, routing_weights)``.

    Same shapes as :class:`ConvBNAct`; see :class:`CondConv2d` for the routing and the paths.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
        num_experts: int = 4,
        path: str = "grouped",
    ) -> None:
        super().__init__()
        self.conv = CondConv2d(in_ch, out_ch, kernel_size, stride, groups=groups,
                               num_experts=num_experts, path=path)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = get_activation(act)

    def forward(self, x: torch.Tensor, routing_weights: torch.Tensor) -> torch.Tensor:
        """Map (B, in_ch, H, W) and routing (B, n) to (B, out_ch, H', W')."""
        return self.act(self.bn(self.conv(x, routing_weights)))


class InvertedBottleneck(ResidualBlock):
    """Inverted bottleneck: 1×1 expand → k×k depthwise → optional SE → 1×1 linear project.

    MobileNetV2 (Sandler et al., CVPR 2018, Sec. 3.3, Table 1); squeeze-excite after the
    depthwise convolution as in MobileNetV3 (Howard et al. 2019, Sec. 5.3); with
    ``num_experts > 1`` every convolution is a :class:`CondConv2d` and one
    :class:`CondConvRouting` on the block input drives them all (CondConv, Yang et al. 2019,
    Sec. 3). Each convolution is followed by batch norm; the projection has no activation. The
    expansion conv is skipped when ``expansion == 1``. Identity skip when ``stride == 1`` and
    ``in_ch == out_ch``.

    Shapes: (B, in_ch, H, W) → (B, out_ch, ⌈H/stride⌉, ⌈W/stride⌉). Hidden width
    ``mid_ch = make_divisible(in_ch * expansion)`` unless given.

    Parameters
    ----------
    in_ch, out_ch : int
        Channels in and out.
    expansion : float, default 6
        Expansion ratio of the hidden width.
    kernel_size : int, default 3
        Depthwise kernel size (odd).
    stride : int, default 1
        1 or 2, applied by the depthwise convolution.
    se : bool or float, default False
        Squeeze-excite on the hidden width: ``True`` for ratio 0.25, a float for another ratio.
    act : str, default "relu"
        Activation after the expansion and depthwise convs ("relu6" for MobileNetV2, "hswish"
        in MobileNetV3's later stages).
    mid_ch : int, optional
        Explicit hidden width (e.g. MobileNetV3's published widths); overrides ``expansion``.
    num_experts : int, default 1
        1 gives plain convolutions; n > 1 turns the three convolutions into CondConv layers with n
        experts each.
    condconv_path : {"grouped", "mixture"}, default "grouped"
        Execution path of the CondConv layers.
    residual : bool, default True
        Allow the identity skip.
    drop_path : float, default 0.0
        Stochastic depth on the body when the skip is used.
    zero_init_last_bn : bool, default False
        Start the projection's BN γ at zero (BigNAS); see :meth:`zero_init_last_bn`.

    Raises
    ------
    LayerConfigError
        For an unknown activation or CondConv path.
    ValueError
        For a stride other than 1 or 2, or an SE ratio outside (0, 1].

    Examples
    --------
    >>> blk = InvertedBottleneck(24, 24, expansion=6, kernel_size=5, se=True, act="hswish")
    >>> blk(torch.zeros(2, 24, 16, 16)).shape
    torch.Size([2, 24, 16, 16])
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        expansion: float = 6,
        kernel_size: int = 3,
        stride: int = 1,
        se: bool | float = False,
        act: str = "relu",
        mid_ch: int | None = None,
        num_experts: int = 1,
        condconv_path: str = "grouped",
        residual: bool = True,
        drop_path: float = 0.0,
        zero_init_last_bn: bool = False,
    ) -> None:
        super().__init__(in_ch, out_ch, stride, residual, drop_path)
        if mid_ch is None:
            mid_ch = in_ch if expansion == 1 else make_divisible(in_ch * expansion)
        self.mid_ch, self.kernel_size, self.num_experts = mid_ch, kernel_size, num_experts
        expand_needed = mid_ch != in_ch or expansion != 1
        ratio = se_ratio_of(se)
        if num_experts == 1:
            self.routing = None
            self.expand = ConvBNAct(in_ch, mid_ch, 1, act=act) if expand_needed else None
            self.depthwise = ConvBNAct(mid_ch, mid_ch, kernel_size, stride, groups=mid_ch, act=act)
            self.se = SqueezeExcite(mid_ch, ratio) if ratio else None
            self.project = ConvBNAct(mid_ch, out_ch, 1, act=None)
        else:
            cc = {"num_experts": num_experts, "path": condconv_path}
            self.routing = CondConvRouting(in_ch, num_experts)
            self.expand = CondConvBNAct(in_ch, mid_ch, 1, act=act, **cc) if expand_needed else None
            self.depthwise = CondConvBNAct(mid_ch, mid_ch, kernel_size, stride, groups=mid_ch,
                                           act=act, **cc)
            self.se = SqueezeExcite(mid_ch, ratio) if ratio else None
            self.project = CondConvBNAct(mid_ch, out_ch, 1, act=None, **cc)
        self._last_bn = self.project.bn if num_experts > 1 else self.project[1]
        if zero_init_last_bn:
            self.zero_init_last_bn()

    def set_condconv_path(self, path: str) -> None:
        """Switch every CondConv layer of the block to ``path`` ("grouped" or "mixture")."""
        for m in self.modules():
            if isinstance(m, CondConv2d):
                m.path = path

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The block without its skip: (B, in_ch, H, W) → (B, out_ch, H', W')."""
        if self.routing is None:
            h = self.expand(x) if self.expand is not None else x
            h = self.depthwise(h)
            if self.se is not None:
                h = self.se(h)
            return self.project(h)
        r = self.routing(x)  # once per block, shared by its convolutions (CondConv Sec. 3)
        h = self.expand(x, r) if self.expand is not None else x
        h = self.depthwise(h, r)
        if self.se is not None:
            h = self.se(h)
        return self.project(h, r)
