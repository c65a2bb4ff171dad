"""Stochastic depth on residual branches (drop-path)."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Zero a residual branch per example with probability ``p`` during training.

    Stochastic depth (Huang et al., ECCV 2016), used by BigNAS for the largest child only
    (Yu et al. 2020, Sec. 3.1). Surviving branches are scaled by ``1 / (1 - p)`` so the expected
    output is unchanged; at evaluation, and when ``p == 0``, it is the identity.

    Parameters
    ----------
    p : float, default 0.0
        Drop probability in ``[0, 1)``.

    Raises
    ------
    ValueError
        If ``p`` is outside ``[0, 1)``.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath: p must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply drop-path to ``x`` of shape (B, ...); returns the same shape."""
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
