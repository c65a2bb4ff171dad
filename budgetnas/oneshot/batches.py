"""A seeded, resumable stream of mini-batches over in-memory tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["BatchStream"]


class BatchStream:
    """Endless mini-batches of ``(x, y)`` rows, reshuffled each epoch with its own generator.

    Its position (epoch permutation, offset, generator state) is part of :meth:`state_dict`,
    so a search resumed from a checkpoint sees the same batches as the uninterrupted one.

    Parameters
    ----------
    x, y : torch.Tensor
        Same first dimension ``n``; ``x`` e.g. ``(n, n_features)``, ``y`` ``(n,)``.
    batch_size : int
        Rows per batch (the last batch of an epoch may be smaller).
    seed : int
        Seeds the shuffling.

    Raises
    ------
    ValueError
        If the tensors are empty or their lengths differ, or ``batch_size < 1``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"x and y need the same, non-zero number of rows; got {len(x)} and "
                             f"{len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.x, self.y = x, y
        self.batch_size = int(min(batch_size, len(x)))
        self.generator = torch.Generator().manual_seed(int(seed))
        self.epoch = 0
        self._perm = torch.randperm(len(x), generator=self.generator)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch ``(x[idx], y[idx])``; starts a new shuffled epoch when one ends."""
        if self._pos >= len(self._perm):
            self._perm = torch.randperm(len(self.x), generator=self.generator)
            self._pos = 0
            self.epoch += 1
        idx = self._perm[self._pos:self._pos + self.batch_size].to(self.x.device)
        self._pos += self.batch_size
        return self.x[idx], self.y[idx]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self._perm.clone(),
                "pos": self._pos, "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self._perm = state["perm"].clone()
        self._pos, self.epoch = int(state["pos"]), int(state["epoch"])
