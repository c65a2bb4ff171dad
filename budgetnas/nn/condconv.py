"""Conditionally parameterised convolutions (CondConv) and their routing function."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.errors import LayerConfigError
from budgetnas.nn.conv_bn import check_groups

PATHS = ("grouped", "mixture")


class CondConvRouting(nn.Module):
    """Routing weights of CondConv: ``sigmoid(Linear(GlobalAvgPool(x)))``.

    Yang et al., NeurIPS 2019, Sec. 3 (Eq. 2): computed once per block from the block input and
    shared by all of the block's CondConv layers.

    Input (B, in_ch, H, W) → routing weights (B, num_experts), each in (0, 1) (they are not
    normalised to sum to one). Parameters: ``in_ch * num_experts + num_experts``.

    Parameters
    ----------
    in_ch : int
        Channels of the block input.
    num_experts : int
        Number of expert kernels n.
    dropout : float, default 0.0
        Dropout on the pooled features before the linear layer (the paper uses none).
    """

    def __init__(self, in_ch: int, num_experts: int, dropout: float = 0.0) -> None:
        super().__init__()
        if num_experts < 1:
            raise LayerConfigError(f"CondConvRouting: num_experts must be >= 1, got {num_experts}")
        self.num_experts = num_experts
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_ch, num_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return routing weights (B, num_experts) for the block input ``x`` (B, C, H, W)."""
        return torch.sigmoid(self.fc(self.dropout(self.pool(x).flatten(1))))


class CondConv2d(nn.Module):
    """Convolution whose kernel is an input-dependent mix of ``num_experts`` expert kernels.

    ``y = (Σ_i α_i W_i) ∗ x (+ Σ_i α_i b_i)`` with routing weights α of shape (B, n)
    (Yang et al., NeurIPS 2019, Sec. 3). Two execution paths give the same result (tested):

    - ``"grouped"`` (default; the paper's efficient form): combine the experts into one kernel per
      example (a (B, n) × (n, K) matmul, ``B·n·K`` multiply-adds with K the kernel size in
      weights), then run one grouped convolution over the batch folded into the channels.
      Multiply-adds: one convolution plus the mixing.
    - ``"mixture"``: run the n expert convolutions and take the α-weighted sum of their outputs
      (the equivalent mixture-of-experts form); n times the multiply-adds of one convolution.

    Input (B, in_ch, H, W) and routing (B, num_experts) → (B, out_ch, H', W'), with H' the usual
    convolution arithmetic. Parameters: ``n · out_ch · in_ch/groups · k²`` (+ ``n · out_ch`` bias).

    Parameters
    ----------
    in_ch, out_ch : int
        Channels in and out.
    kernel_size : int
        Square kernel size.
    stride : int, default 1
    padding : int, optional
        Defaults to ``kernel_size // 2`` ("same" for odd kernels at stride 1).
    dilation : int, default 1
    groups : int, default 1
        ``in_ch`` (with ``out_ch`` a multiple of it) for the depthwise variant.
    num_experts : int, default 4
    bias : bool, default False
    path : {"grouped", "mixture"}, default "grouped"
        Execution path; may be changed later through the ``path`` attribute.

    Raises
    ------
    LayerConfigError
        For channels not divisible by ``groups``, ``num_experts < 1`` or an unknown path; in
        ``forward``, for routing weights whose shape is not (B, num_experts).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        num_experts: int = 4,
        bias: bool = False,
        path: str = "grouped",
    ) -> None:
        super().__init__()
        check_groups(in_ch, out_ch, groups, "CondConv2d")
        if num_experts < 1:
            raise LayerConfigError(f"CondConv2d: num_experts must be >= 1, got {num_experts}")
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.padding = kernel_size // 2 if padding is None else padding
        self.num_experts = num_experts
        self.path = path
        self.weight = nn.Parameter(
            torch.empty(num_experts, out_ch, in_ch // groups, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(num_experts, out_ch)) if bias else None
        self.reset_parameters()

    @property
    def path(self) -> str:
        """The execution path, ``"grouped"`` or ``"mixture"``."""
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        if value not in PATHS:
            raise LayerConfigError(f"CondConv2d: path must be one of {PATHS}, got {value!r}")
        self._path = value

    def reset_parameters(self) -> None:
        """Initialise each expert like a ``Conv2d`` (Kaiming-uniform, fan-in of one expert)."""
        for w in self.weight:  # each expert separately, so fan-in is that of one kernel
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].shape[1] * self.kernel_size**2
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x: torch.Tensor, routing_weights: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (B, in_ch, H, W) with kernels mixed by ``routing_weights`` (B, n)."""
        b = x.shape[0]
        if routing_weights.shape != (b, self.num_experts):
            raise LayerConfigError(
                f"CondConv2d: routing_weights must have shape (batch, num_experts) = "
                f"({b}, {self.num_experts}), got {tuple(routing_weights.shape)}; compute them "
                "with CondConvRouting(in_ch, num_experts) on the block input"
            )
        if self._path == "grouped":
            return self._forward_grouped(x, routing_weights)
        return self._forward_mixture(x, routing_weights)

    def _forward_grouped(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        # one kernel per example: (B, n) @ (n, out*in/g*k*k); the batch becomes conv groups
        kernels = (r @ self.weight.flatten(1)).view(b * self.out_ch, *self.weight.shape[2:])
        bias = (r @ self.bias).flatten() if self.bias is not None else None
        y = F.conv2d(
            x.reshape(1, b * self.in_ch, h, w), kernels, bias, self.stride, self.padding,
            self.dilation, groups=b * self.groups,
        )
        return y.view(b, self.out_ch, *y.shape[2:])

    def _forward_mixture(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        y = None
        for i in range(self.num_experts):
            bias_i = self.bias[i] if self.bias is not None else None
            yi = F.conv2d(x, self.weight[i], bias_i, self.stride, self.padding, self.dilation,
                          self.groups)
            yi = yi * r[:, i].view(-1, 1, 1, 1)
            y = yi if y is None else y + yi
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, groups={self.groups}, num_experts={self.num_experts}, "
            f"bias={self.bias is not None}, path={self._path!r}"
        )
