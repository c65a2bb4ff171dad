"""Base class of the residual blocks: skip logic, drop-path and zero-init of the last BN."""

from __future__ import annotations

import torch
from torch import nn

from budgetnas.nn.conv_bn import zero_bn_
from budgetnas.nn.drop_path import DropPath


def se_ratio_of(se: bool | float | None) -> float | None:
    """Map a block's ``se`` argument to a squeeze ratio: ``True`` → 0.25, falsy → ``None``."""
    if se is None or se is False or se == 0:
        return None
    if se is True:
        return 0.25
    ratio = float(se)
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"se must be a bool or a ratio in (0, 1], got {se!r}")
    return ratio


class ResidualBlock(nn.Module):
    """A block ``y = body(x) (+ x)`` whose skip is used when ``stride == 1 and in_ch == out_ch``.

    Subclasses build their layers, set ``self._last_bn`` to the batch norm that ends the body and
    implement ``body``. The skip can be disabled with ``residual=False``.

    Parameters
    ----------
    in_ch, out_ch, stride : int
        Decide whether the identity skip applies.
    residual : bool
        Allow the skip when shapes match.
    drop_path : float
        Stochastic-depth probability on the body when the skip is used (BigNAS regularisation).
    """

    _last_bn: nn.BatchNorm2d

    def __init__(self, in_ch: int, out_ch: int, stride: int, residual: bool, drop_path: float) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"{type(self).__name__}: stride must be 1 or 2, got {stride!r}")
        self.in_ch, self.out_ch, self.stride = in_ch, out_ch, stride
        self.has_residual = bool(residual and stride == 1 and in_ch == out_ch)
        self.drop_path = DropPath(drop_path) if self.has_residual and drop_path > 0 else nn.Identity()

    def body(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, in_ch, H, W) to (B, out_ch, H / stride, W / stride)."""
        y = self.body(x)
        return x + self.drop_path(y) if self.has_residual else y

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The batch norm at the end of the block's body."""
        return self._last_bn

    def zero_init_last_bn(self) -> None:
        """Set the last BN's γ to zero so the block starts as identity (BigNAS, Sec. 3.1).

        Applies to blocks without a skip too (their output then starts at the BN's β); callers
        usually zero-init only blocks with ``has_residual``.
        """
        zero_bn_(self._last_bn)
