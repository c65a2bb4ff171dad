"""The one-shot task of a convolutional supernet: TuNAS's op / filter warm-up and the
:class:`~budgetnas.oneshot.WeightSharingTask` that :class:`~budgetnas.oneshot.OneShotSearch` drives.

Warm-up (TuNAS, Bender et al., CVPR 2020, §3.4 "filter warmup" and "op warmup"): during the first
25 % of the steps every decision is independently widened with probability ``p`` (1 → 0 linearly,
the loop's :meth:`~budgetnas.oneshot.OneShotSearch.warmup_probability`): filter and expansion
decisions take their largest value (filter warm-up), kernel, squeeze-excite and skip decisions
take the largest kernel / SE on / the layer present (op warm-up). Decisions that choose between
op types (MobileDet's IBN / fused / Tucker) are not widened.

>>> from budgetnas.spaces import get_space
>>> rule = WarmupRule(get_space("mobilenetv3_like"))
>>> rule.kind[0], rule.wide[0]          # blocks[0].filters: (8, 16, 24, 32) -> 32
('filter', 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from budgetnas.oneshot.batches import BatchStream
from budgetnas.oneshot.task import SupervisedTask, accuracy_reward
from budgetnas.spaces.arch import LayerSpec
from budgetnas.supernet.conv import ConvSupernet

__all__ = ["WarmupRule", "ConvSupernetTask", "cosine_lr"]


class WarmupRule:
    """Which choice each decision of a conv space widens to, and whether it is a filter or an op.

    Attributes
    ----------
    wide : int64 (D,)
        The widened choice index (-1: never widened).
    kind : list of str
        ``"filter"``, ``"op"`` or ``"none"`` per decision.
    """

    def __init__(self, space: Any) -> None:
        self.space = space
        self.parent = np.asarray(space.parent, dtype=np.int64)
        self.parent_choice = np.asarray(space.parent_choice, dtype=np.int64)
        self.num_choices = np.asarray(space.num_choices, dtype=np.int64)
        D = space.num_decisions
        self.wide = np.full(D, -1, dtype=np.int64)
        self.kind = ["none"] * D
        for d, dp in enumerate(space.decision_points):
            cands = list(dp.candidates)
            if all(isinstance(c, (int, float, bool, np.integer, np.floating)) for c in cands):
                self.wide[d] = int(np.argmax([float(c) for c in cands]))
                filt = dp.path.endswith("filters") or dp.path.endswith("expansion")
                self.kind[d] = "filter" if filt else "op"
            elif any(c is None for c in cands):
                present = [i for i, c in enumerate(cands) if c is not None]
                if len(present) == 1:  # layer present vs skipped
                    self.wide[d], self.kind[d] = present[0], "op"
            elif all(isinstance(c, LayerSpec) for c in cands) and len({c.op for c in cands}) == 1:
                self.kind[d] = "none"

    def apply(self, vec: np.ndarray, p: float, rng: np.random.Generator,
              kinds: tuple[str, ...] = ("filter", "op")) -> np.ndarray:
        """Widen each decision of ``vec`` (int64 (D,)) with probability ``p``; decisions that a
        widening activates are drawn uniformly first (then widened with probability ``p``)."""
        v = np.asarray(vec, dtype=np.int64).copy()
        if p <= 0:
            return v
        for d in range(len(v)):  # decisions are in depth-first order: parents come first
            par = self.parent[d]
            if par >= 0 and v[par] != self.parent_choice[d]:
                v[d] = -1
                continue
            if v[d] < 0:
                v[d] = rng.integers(self.num_choices[d])
            if self.wide[d] >= 0 and self.kind[d] in kinds and rng.random() < p:
                v[d] = self.wide[d]
        return v


def cosine_lr(step: int, total: int, peak: float, warmup: int = 0) -> float:
    """Learning rate at ``step``: linear warm-up to ``peak`` then cosine decay to 0."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * peak * (1.0 + float(np.cos(np.pi * frac)))


class ConvSupernetTask(SupervisedTask):
    """A :class:`ConvSupernet` on image batches, as the one-shot loop drives it (TuNAS §3.1).

    Children are DNA; the shared weights get one SGD (Nesterov momentum) step per loop step with
    a cosine learning rate over ``total_steps``; the reward is the child's accuracy on the next
    validation batch computed with *batch* statistics (``bn_mode="batch"``), because the shared
    running statistics mix every child's (TuNAS trains and evaluates the one-shot model with
    batch statistics).

    Parameters
    ----------
    supernet : ConvSupernet
    train, val : BatchStream
        Images (N, C, H, W) float, labels (N,) int64.
    total_steps : int
        Steps of the loop (for the learning-rate schedule).
    lr, momentum, weight_decay : float
        SGD settings of the shared weights.
    warmup_kinds : tuple of str
        ``("filter", "op")`` (TuNAS), a subset, or ``()`` for no warm-up.
    """

    def __init__(self, supernet: ConvSupernet, train: BatchStream, val: BatchStream, *,
                 total_steps: int, lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 4e-5,
                 warmup_kinds: tuple[str, ...] = ("filter", "op")) -> None:
        opt = torch.optim.SGD(supernet.parameters(), lr=lr, momentum=momentum, nesterov=True,
                              weight_decay=weight_decay)
        self.rule = WarmupRule(supernet.space)
        self.warmup_kinds = tuple(warmup_kinds)
        super().__init__(supernet, opt, train, val, F.cross_entropy, accuracy_reward,
                         decode=lambda dna: tuple(int(v) for v in supernet.space.to_vector(dna)),
                         warmup=self._widen)
        self.total_steps, self.peak_lr, self.steps_done = int(total_steps), float(lr), 0

    def _widen(self, child: tuple, p: float, rng: np.random.Generator) -> tuple:
        return tuple(int(v) for v in self.rule.apply(np.array(child), p, rng, self.warmup_kinds))

    def train_step(self, child: Any) -> float:
        for g in self.optimizer.param_groups:
            g["lr"] = cosine_lr(self.steps_done, self.total_steps, self.peak_lr)
        self.supernet.set_bn_mode("running")
        loss = super().train_step(np.asarray(child))
        self.steps_done += 1
        return loss

    @torch.no_grad()
    def reward(self, child: Any) -> float:
        self.supernet.set_bn_mode("batch")
        try:
            x, y = self.val.next()
            return float(self.reward_fn(self.supernet(x, np.asarray(child)), y))
        finally:
            self.supernet.set_bn_mode("running")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps_done": self.steps_done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps_done = int(state["steps_done"])

