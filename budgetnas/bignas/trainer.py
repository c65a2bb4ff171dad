"""BigNAS single-stage supernet training (Yu et al., ECCV 2020, arXiv 2003.11142, §3).

Every step trains, on one batch, the **sandwich** of children: the largest, the smallest and
``n_random`` uniformly sampled ones (§3.1, after slimmable networks). The largest learns from the
labels (with label smoothing); the others learn from the largest's softened predictions
(**inplace distillation**). **Regularisation** (weight decay, dropout, drop-path) applies to the
largest child only (§3.2). The learning rate decays **exponentially with a constant ending** (§3.2): it
falls geometrically to ``final_ratio`` of its peak, then stays there. Residual blocks start with
their last BN γ at zero (§3.1; the trainer zeroes them when it is built). Children are evaluated
without retraining after **BN calibration** (:meth:`ConvSupernet.calibrate_bn`).

>>> trainer = BigNASTrainer(net, train_stream, total_steps=1000)      # doctest: +SKIP
>>> info = trainer.step()                                             # doctest: +SKIP
>>> info["children"][0] == trainer.largest                            # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from budgetnas.errors import SearchConfigError
from budgetnas.oneshot.batches import BatchStream
from budgetnas.supernet.conv import ConvSupernet

__all__ = ["BigNASTrainer", "exp_constant_lr", "sandwich_children"]


def exp_constant_lr(step: int, total: int, peak: float, final_ratio: float = 0.05,
                    decay_fraction: float = 0.8, warmup: int = 0) -> float:
    """BigNAS's learning rate: linear warm-up, exponential decay to ``final_ratio · peak`` over
    ``decay_fraction`` of the steps, then constant (Yu et al. 2020, §3.2).

    Raises
    ------
    SearchConfigError
        If ``final_ratio`` is not in (0, 1] or ``decay_fraction`` not in (0, 1].
    """
    if not 0 < final_ratio <= 1 or not 0 < decay_fraction <= 1:
        raise SearchConfigError(f"final_ratio and decay_fraction must be in (0, 1], got "
                                f"{final_ratio} and {decay_fraction}")
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    span = max(1.0, decay_fraction * total - warmup)
    frac = min(1.0, (step - warmup) / span)
    return peak * final_ratio ** frac


def sandwich_children(space: Any, rng: np.random.Generator, n_random: int = 2) -> list[np.ndarray]:
    """The sandwich of one step: largest, smallest, then ``n_random`` uniform children (vectors)."""
    out = [space.to_vector(space.largest()), space.to_vector(space.smallest())]
    out += list(space.sample_batch(n_random, rng)) if n_random else []
    return [np.asarray(v, dtype=np.int64) for v in out]


class BigNASTrainer:
    """Trains a :class:`ConvSupernet` with the sandwich rule and inplace distillation.

    Parameters
    ----------
    supernet : ConvSupernet
        A freshly built supernet (see ``zero_init_residual_bn``).
    train : BatchStream
        Training images (N, C, H, W) and labels.
    total_steps : int
    lr : float
        Peak SGD (Nesterov momentum 0.9) learning rate.
    n_random : int
        Random children per step (BigNAS: 2).
    weight_decay, drop_rate, drop_path_rate, label_smoothing : float
        Regularisation of the largest child only (§3.2): an L2 penalty ``weight_decay / 2 ·
        ||W||²`` on conv / linear weights added to the largest child's loss, dropout before the
        classifier, stochastic depth on residual branches, smoothed labels. The other children
        get none of these.
    distill_temperature : float
        Softmax temperature of the teacher's targets (1 = plain soft labels).
    final_ratio, decay_fraction, warmup_steps :
        See :func:`exp_constant_lr`.
    zero_init_residual_bn : bool
        Zero the last BN γ of every residual position now (§3.1), so that residual layers start
        as the identity; pass False to continue training an already trained supernet.
    seed : int

    Raises
    ------
    SearchConfigError
        If ``total_steps < 1``, ``n_random < 0``, or a drop rate is outside [0, 1).
    """

    def __init__(self, supernet: ConvSupernet, train: BatchStream, total_steps: int, *,
                 lr: float = 0.1, n_random: int = 2, weight_decay: float = 3e-5,
                 drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                 label_smoothing: float = 0.1,
                 distill_temperature: float = 1.0, final_ratio: float = 0.05,
                 decay_fraction: float = 0.8, warmup_steps: int = 0,
                 zero_init_residual_bn: bool = True, seed: int = 0) -> None:
        if total_steps < 1 or n_random < 0:
            raise SearchConfigError(f"total_steps must be >= 1 and n_random >= 0, got "
                                    f"{total_steps} and {n_random}")
        if not 0 <= drop_rate < 1 or not 0 <= drop_path_rate < 1:
            raise SearchConfigError(f"drop_rate and drop_path_rate must be in [0, 1), got "
                                    f"{drop_rate} and {drop_path_rate}")
        self.supernet, self.train = supernet, train
        self.space = supernet.space
        self.total_steps, self.peak_lr, self.n_random = int(total_steps), float(lr), int(n_random)
        self.weight_decay, self.drop_rate = float(weight_decay), float(drop_rate)
        self.drop_path_rate = float(drop_path_rate)
        if zero_init_residual_bn:
            supernet.zero_residual_bn()
        self.label_smoothing, self.temperature = float(label_smoothing), float(distill_temperature)
        self.final_ratio, self.decay_fraction = float(final_ratio), float(decay_fraction)
        self.warmup_steps = int(warmup_steps)
        self.optimizer = torch.optim.SGD(supernet.parameters(), lr=lr, momentum=0.9,
                                         nesterov=True, weight_decay=0.0)
        self.rng = np.random.default_rng(seed)
        self.largest = tuple(int(v) for v in self.space.to_vector(self.space.largest()))
        self.smallest = tuple(int(v) for v in self.space.to_vector(self.space.smallest()))
        self._decay_params = [p for p in supernet.parameters() if p.dim() >= 2]
        self.steps_done = 0

    def lr(self) -> float:
        """Learning rate of the next step."""
        return exp_constant_lr(self.steps_done, self.total_steps, self.peak_lr, self.final_ratio,
                               self.decay_fraction, self.warmup_steps)

    def step(self) -> dict[str, Any]:
        """One sandwich step on the next batch.

        Returns ``{"lr", "loss_largest", "loss_children" (list), "children" (list of DNA tuples,
        largest first, then smallest, then the random ones)}``.
        """
        net = self.supernet
        net.train()
        net.set_bn_mode("running")
        lr = self.lr()
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        x, y = self.train.next()
        children = sandwich_children(self.space, self.rng, self.n_random)
        self.optimizer.zero_grad(set_to_none=True)
        logits = net(x, children[0], drop_rate=self.drop_rate,
                     drop_path_rate=self.drop_path_rate)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if self.weight_decay:
            loss = loss + 0.5 * self.weight_decay * sum((p * p).sum() for p in self._decay_params)
        loss.backward()
        with torch.no_grad():
            target = F.softmax(logits.detach() / self.temperature, dim=1)
        child_losses = []
        for child in children[1:]:
            out = net(x, child)
            closs = F.cross_entropy(out / self.temperature, target)  # soft-label distillation
            closs.backward()
            child_losses.append(float(closs.detach()))
        self.optimizer.step()
        self.steps_done += 1
        return {"lr": lr, "loss_largest": float(loss.detach()), "loss_children": child_losses,
                "children": [tuple(int(v) for v in c) for c in children]}

    def run(self, steps: int | None = None, log_every: int = 0) -> list[dict[str, Any]]:
        """Run ``steps`` (default: the remaining) steps; returns one info dict per step."""
        n = self.total_steps - self.steps_done if steps is None else int(steps)
        out = []
        for _ in range(n):
            info = self.step()
            out.append(info)
            if log_every and self.steps_done % log_every == 0:
                print(f"bignas step {self.steps_done}/{self.total_steps} lr {info['lr']:.4f} "
                      f"loss(largest) {info['loss_largest']:.3f}", flush=True)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                "train": self.train.state_dict(), "rng": self.rng.bit_generator.state,
                "steps_done": self.steps_done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.train.load_state_dict(state["train"])
        self.rng.bit_generator.state = state["rng"]
        self.steps_done = int(state["steps_done"])

