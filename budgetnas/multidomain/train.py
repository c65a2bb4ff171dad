"""Joint training of a multi-path network on per-domain batches, and per-domain evaluation.

One step draws one training batch per domain, runs each through its domain's path, and takes one
optimiser step on ``Σ_d w_d · CE_d`` (weights from :func:`domain_weights`). Before a domain is
evaluated its batch-norm statistics are recalibrated on its own training images (BigNAS, Yu et
al. 2020, §3.3): shared nodes see every domain in training, so running statistics mixed over the
domains would not match any one of them. The statistics are buffers, not parameters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.errors import SearchConfigError
from budgetnas.multidomain.domains import Domain
from budgetnas.multidomain.network import MultiPathNetwork
from budgetnas.multidomain.weighting import domain_weights
from budgetnas.search.controller import EMABaseline
from budgetnas.store.atomic import atomic_save

__all__ = ["BatchStream", "JointTrainConfig", "checkpoint_info", "evaluate_domains", "recalibrate_bn",
           "train_joint"]


class BatchStream:
    """Endless shuffled mini-batches of one domain's split, driven by a numpy generator (whose
    ``state`` goes into checkpoints, so a resumed run draws the same batches)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 rng: np.random.Generator) -> None:
        self.x, self.y, self.batch_size, self.rng = x, y, int(batch_size), rng
        self._order = np.empty(0, np.int64)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.batch_size > len(self._order):
            self._order, self._pos = self.rng.permutation(len(self.y)), 0
        idx = torch.from_numpy(self._order[self._pos:self._pos + self.batch_size])
        self._pos += self.batch_size
        return self.x[idx], self.y[idx]

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": self._order.tolist(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._order = np.asarray(state["order"], dtype=np.int64)
        self._pos = int(state["pos"])


@dataclass
class JointTrainConfig:
    """Recipe of :func:`train_joint`: AdamW with a cosine learning rate, per-domain batches."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    weighting: str = "uniform"
    gamma: float = 2.0
    seed: int = 0


def joint_loss(net: MultiPathNetwork, batches: dict[str, tuple[torch.Tensor, torch.Tensor]],
               weights: Sequence[float], paths: dict[str, Sequence[int]] | None = None,
               mixes: dict[str, Sequence[bool]] | None = None
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """``Σ_d w_d · CE(net(x_d, d, path_d, mix_d), y_d)`` and each domain's batch accuracy
    (``mixes``: per-domain op warm-up flags, see :meth:`MultiPathNetwork.forward`)."""
    total = torch.zeros(())
    acc = {}
    for w, (d, (x, y)) in zip(weights, batches.items()):
        logits = net(x, d, None if paths is None else paths[d],
                     None if mixes is None else mixes[d])
        total = total + float(w) * F.cross_entropy(logits, y)
        acc[d] = float((logits.argmax(1) == y).float().mean())
    return total, acc


def train_joint(net: MultiPathNetwork, domains: Sequence[Domain], cfg: JointTrainConfig,
                progress: Callable[[int, int], None] | None = None, *,
                checkpoint: str | Path | None = None,
                checkpoint_every: int = 100) -> list[dict[str, float]]:
    """Train ``net`` (stored paths) jointly on ``domains`` for ``cfg.steps`` steps.

    Every step sees one batch of ``cfg.batch_size`` images per domain. Running training accuracy
    (bias-corrected EMA, momentum 0.9) drives the ``focal`` weighting. Returns one record per 50
    steps: ``{"step", "loss", <domain>: batch accuracy}``.

    With ``checkpoint``, the whole training state (weights, optimiser, batch streams and their
    generator, running accuracies, log, step, CPU seconds spent) is written there atomically every
    ``checkpoint_every`` steps and at the end; when the file exists, training continues from it, so
    a run killed mid-way and restarted ends with the same weights as an uninterrupted one.
    :func:`checkpoint_info` reads the step and the seconds back.

    Raises
    ------
    SearchConfigError
        When the checkpoint was written for other domains or another step count.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    streams = {d.name: BatchStream(d.x_train, d.y_train, cfg.batch_size, rng) for d in domains}
    sizes = [d.size for d in domains]
    ema = {d.name: EMABaseline(0.9) for d in domains}
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    log: list[dict[str, float]] = []
    start, spent = 0, 0.0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, weights_only=False)
        if set(state["streams"]) != set(streams) or int(state["total"]) != cfg.steps:
            raise SearchConfigError(
                f"{checkpoint} holds retraining of {sorted(state['streams'])} for "
                f"{state['total']} steps, not of {sorted(streams)} for {cfg.steps}; delete it to "
                "start over")
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        for d, st in streams.items():  # the streams share rng: restore it after them
            st.load_state_dict(state["streams"][d])
        rng.bit_generator.state = state["rng"]
        for d, (num, den) in state["ema"].items():
            ema[d].num, ema[d].den = float(num), float(den)
        start, spent, log = int(state["step"]), float(state["cpu_s"]), list(state["log"])
        torch.set_rng_state(state["torch_rng"])

    def save(step: int) -> None:
        state = {"step": step, "total": cfg.steps, "cpu_s": spent, "net": net.state_dict(),
                 "opt": opt.state_dict(), "rng": rng.bit_generator.state,
                 "streams": {d: st.state_dict() for d, st in streams.items()},
                 "ema": {d: [e.num, e.den] for d, e in ema.items()}, "log": log,
                 "torch_rng": torch.get_rng_state()}
        atomic_save(checkpoint, lambda f: torch.save(state, f))  # type: ignore[arg-type]

    net.train()
    t0 = time.process_time()
    for step in range(start, cfg.steps):
        for g in opt.param_groups:
            g["lr"] = 0.5 * cfg.lr * (1.0 + math.cos(math.pi * step / cfg.steps))
        w = domain_weights(cfg.weighting, sizes=sizes, gamma=cfg.gamma,
                           accuracy=[ema[d.name].value for d in domains])
        loss, acc = joint_loss(net, {d: s.next() for d, s in streams.items()}, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for d, a in acc.items():
            ema[d].update(a)
        if step % 50 == 0 or step == cfg.steps - 1:
            log.append({"step": step, "loss": float(loss.detach()), **acc})
        if checkpoint is not None and ((step + 1) % checkpoint_every == 0
                                       or step + 1 == cfg.steps):
            spent += time.process_time() - t0
            t0 = time.process_time()
            save(step + 1)
        if progress is not None:
            progress(step + 1, cfg.steps)
    return log


def checkpoint_info(checkpoint: str | Path) -> dict[str, float]:
    """``{"step", "total", "cpu_s"}`` of a :func:`train_joint` checkpoint (CPU seconds of the
    process spent training up to its last save)."""
    state = torch.load(checkpoint, weights_only=False)
    return {"step": int(state["step"]), "total": int(state["total"]), "cpu_s": float(state["cpu_s"])}


@torch.no_grad()
def recalibrate_bn(net: MultiPathNetwork, domain: Domain, path: Sequence[int] | None = None,
                   batches: int = 8, batch_size: int = 256) -> None:
    """Reset every batch norm's running statistics and re-estimate them (cumulative average)
    from up to ``batches × batch_size`` of ``domain``'s training images along its path."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    was = net.training
    net.train()
    n = min(len(domain.y_train), batches * batch_size)
    for i in range(0, n, batch_size):
        net(domain.x_train[i:i + batch_size], domain.name, path)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    net.train(was)


@torch.no_grad()
def evaluate_domains(net: MultiPathNetwork, domains: Sequence[Domain], split: str = "test",
                     paths: dict[str, Sequence[int]] | None = None,
                     recalibrate: bool = True) -> dict[str, float]:
    """Accuracy of each domain on ``split`` ("val" or "test") in eval mode, after recalibrating
    batch norm on that domain (see the module doc). Returns ``{domain: accuracy}``."""
    out = {}
    for d in domains:
        path = None if paths is None else paths[d.name]
        if recalibrate:
            recalibrate_bn(net, d, path)
        net.eval()
        x, y = (d.x_test, d.y_test) if split == "test" else (d.x_val, d.y_val)
        correct = 0
        for i in range(0, len(y), 512):
            correct += int((net(x[i:i + 512], d.name, path).argmax(1) == y[i:i + 512]).sum())
        out[d.name] = correct / max(1, len(y))
    net.train()
    return out
