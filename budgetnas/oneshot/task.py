"""What the one-shot loop needs from a weight-sharing supernet and its data.

The loop (:mod:`budgetnas.oneshot.loop`) knows nothing of MLPs or convolutions: it asks a
:class:`WeightSharingTask` to turn a DNA into a child, to train the shared weights one step for
that child, and to score the child on validation data. :class:`SupervisedTask` implements it for
any supernet whose ``forward(x, child)`` runs a child, on in-memory tensors; the tabular MLP
search and the convolutional search build one each.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from budgetnas.oneshot.batches import BatchStream
from budgetnas.space import DNA

__all__ = ["SupervisedTask", "WeightSharingTask", "accuracy_reward"]


class WeightSharingTask(ABC):
    """A supernet with its training and validation data, as the one-shot loop drives it."""

    @abstractmethod
    def decode(self, dna: DNA) -> Any:
        """The child a DNA stands for, in the supernet's terms (e.g. a tuple of widths)."""

    def warmup_child(self, child: Any, p: float, rng: np.random.Generator) -> Any:
        """The child to train during warm-up at warm-up probability ``p`` (default: unchanged)."""
        return child

    @abstractmethod
    def train_step(self, child: Any) -> float:
        """One optimiser step of the shared weights for ``child`` on the next training batch.

        Returns the batch's training loss.
        """

    @abstractmethod
    def reward(self, child: Any) -> float:
        """The child's quality on the next validation batch with the current shared weights."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


def accuracy_reward(outputs: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of logits on a batch: one logit per row (binary) or K (multiclass).

    Parameters
    ----------
    outputs : torch.Tensor
        ``(batch, 1)`` binary logits or ``(batch, K)`` class logits.
    y : torch.Tensor
        int64 ``(batch,)`` class indices.
    """
    pred = (outputs[:, 0] > 0).long() if outputs.shape[1] == 1 else outputs.argmax(dim=1)
    return float((pred == y).float().mean())


class SupervisedTask(WeightSharingTask):
    """A supernet trained by supervised mini-batches; the reward is a metric on a validation batch.

    TuNAS (Bender et al., CVPR 2020, §3.1): each step trains the shared weights on a training
    batch for the sampled child, then scores that child on a validation batch with the
    just-updated weights (the validation batch is 4× larger by default there).

    Parameters
    ----------
    supernet : torch.nn.Module
        ``supernet(x, child)`` runs a child.
    optimizer : object
        Either an object with ``train_step(x, y, child, loss_fn) -> loss`` (e.g.
        :class:`budgetnas.supernet.mlp.SlicedAdam`, which updates only the child's slices) or a
        ``torch.optim.Optimizer`` over the supernet's parameters.
    train, val : BatchStream
        Training and validation batches.
    loss_fn : callable
        ``loss_fn(outputs, y) -> scalar tensor``.
    reward_fn : callable
        ``reward_fn(outputs, y) -> float``, higher is better (e.g. :func:`accuracy_reward`).
    decode : callable
        ``decode(dna) -> child``.
    warmup : callable, optional
        ``warmup(child, p, rng) -> child`` (e.g. the MLP's layer warm-up); default: none.
    """

    def __init__(self, supernet: nn.Module, optimizer: Any, train: BatchStream, val: BatchStream,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 reward_fn: Callable[[torch.Tensor, torch.Tensor], float],
                 decode: Callable[[DNA], Any],
                 warmup: Callable[[Any, float, np.random.Generator], Any] | None = None) -> None:
        self.supernet, self.optimizer = supernet, optimizer
        self.train, self.val = train, val
        self.loss_fn, self.reward_fn = loss_fn, reward_fn
        self._decode, self._warmup = decode, warmup

    def decode(self, dna: DNA) -> Any:
        return self._decode(dna)

    def warmup_child(self, child: Any, p: float, rng: np.random.Generator) -> Any:
        return child if self._warmup is None else self._warmup(child, p, rng)

    def train_step(self, child: Any) -> float:
        self.supernet.train()
        x, y = self.train.next()
        if hasattr(self.optimizer, "train_step"):
            return float(self.optimizer.train_step(x, y, child, self.loss_fn))
        loss = self.loss_fn(self.supernet(x, child), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def reward(self, child: Any) -> float:
        self.supernet.eval()
        x, y = self.val.next()
        return float(self.reward_fn(self.supernet(x, child), y))

    def state_dict(self) -> dict[str, Any]:
        return {"supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                "train": self.train.state_dict(), "val": self.val.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.train.load_state_dict(state["train"])
        self.val.load_state_dict(state["val"])
