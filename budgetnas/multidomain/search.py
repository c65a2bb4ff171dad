"""Multi-domain multi-path search: one REINFORCE controller per domain over a shared supernet.

Each global step (TuNAS's interleaving, Bender et al. 2020, §3.1, per domain as in Wang et al.,
WACV 2021, papers.md §9):

1. every domain's controller (:class:`budgetnas.Reinforce`, TuNAS absolute reward) samples a path;
2. one optimiser step on the shared weights for ``Σ_d w_d · CE_d`` over one training batch per
   domain, each along its own path (weights from :func:`domain_weights`);
3. each domain's path is scored on a validation batch of that domain with the updated weights;
   its reward is ``acc + β·|T/T0 − 1|`` with ``T`` the path's cost (MACs or parameters);
4. each controller takes one REINFORCE step; the domain's running accuracy κ (bias-corrected
   EMA) is updated for the focal weighting.

Controllers are frozen for the first ``warmup_fraction`` of the steps (paths then come from the
uniform initial policy, which trains every node), then their learning rate grows ×10
(:func:`budgetnas.search.controller.tunas_schedule`). During those same steps TuNAS's op warm-up
(Bender et al. 2020, §3; papers.md §3) runs when ``op_warmup`` is set: with a probability falling
linearly from 1 to 0, each layer of each domain's training forward runs *all* candidate ops and
averages them (weight 1/n), so every node gets gradient before the controllers start to learn.
Validation batches always run the sampled path. The final path of a domain is the argmax of
its controller's logits. :meth:`MultiDomainSearch.save` / :meth:`load` checkpoint everything
(weights, optimiser, controllers, batch streams, generators) so a resumed search continues exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from budgetnas.errors import SearchConfigError
from budgetnas.multidomain.domains import Domain
from budgetnas.multidomain.network import MultiPathConfig, MultiPathNetwork, PathCost, path_space
from budgetnas.multidomain.train import BatchStream, joint_loss
from budgetnas.multidomain.weighting import WEIGHTINGS, domain_weights
from budgetnas.search.controller import EMABaseline, tunas_schedule
from budgetnas.search.reinforce import Reinforce
from budgetnas.store.atomic import atomic_save

__all__ = ["MultiDomainSearch", "SearchSettings"]


@dataclass
class SearchSettings:
    """Settings of :class:`MultiDomainSearch`.

    ``target`` is T0 in the unit of ``cost_metric`` (MACs per image, or parameters of one
    domain's path incl. stem and head); None uses the cost of ``reference_path`` (default: the
    second candidate, k3e6, at every layer) so each domain aims at one bundle member's cost.
    """

    steps: int = 400
    batch_size: int = 64
    val_batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    weighting: str = "uniform"
    gamma: float = 2.0
    acc_momentum: float = 0.9
    cost_metric: str = "macs"
    target: float | None = None
    reference_choice: int = 1
    beta: float = -0.1
    controller_lr: float = 0.05
    warmup_fraction: float = 0.25
    op_warmup: bool = True
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`SearchConfigError` for settings that cannot run."""
        if self.steps < 1 or self.batch_size < 1 or self.val_batch_size < 1:
            raise SearchConfigError(f"steps and batch sizes must be >= 1, got steps={self.steps}, "
                                    f"batch_size={self.batch_size}, val={self.val_batch_size}")
        if self.weighting not in WEIGHTINGS:
            raise SearchConfigError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.cost_metric not in ("macs", "params"):
            raise SearchConfigError(f"cost_metric must be 'macs' or 'params', got {self.cost_metric!r}")
        if self.beta >= 0:
            raise SearchConfigError(f"beta must be negative (it penalises cost), got {self.beta}")


class MultiDomainSearch:
    """Search one path per domain through a :class:`MultiPathNetwork` supernet.

    Parameters
    ----------
    domains : sequence of Domain
        Distinct names; each gets a head and a controller.
    config : MultiPathConfig
    settings : SearchSettings

    Attributes
    ----------
    net : MultiPathNetwork
        The supernet (every node).
    algos : dict domain -> Reinforce
    costs : dict domain -> PathCost
    target : float
        T0 used by every domain's reward.
    history : list of dict
        One record per step: per-domain path, accuracy, reward, cost, weight.

    Raises
    ------
    SearchConfigError
        Invalid settings, or fewer than one domain / repeated names.
    """

    def __init__(self, domains: Sequence[Domain], config: MultiPathConfig,
                 settings: SearchSettings) -> None:
        settings.validate()
        names = [d.name for d in domains]
        if not names or len(set(names)) != len(names):
            raise SearchConfigError(f"need one or more domains with distinct names, got {names}")
        self.domains, self.config, self.settings = list(domains), config, settings
        torch.manual_seed(settings.seed)
        self.net = MultiPathNetwork(config, {d.name: d.num_classes for d in domains})
        self.spec = path_space(config).spec
        self.costs = {d.name: PathCost(config, d.num_classes, settings.cost_metric)
                      for d in domains}
        ref = [min(settings.reference_choice, n - 1) for n in config.num_choices]
        self.reference_path = tuple(ref)
        first = self.costs[names[0]]
        self.target = float(settings.target if settings.target is not None else first(ref))
        delay, schedule = tunas_schedule(settings.steps, settings.warmup_fraction)
        self.algos: dict[str, Reinforce] = {}
        for k, d in enumerate(domains):
            algo = Reinforce(reward="abs", cost=self.costs[d.name], target=self.target,
                             beta=settings.beta, lr=settings.controller_lr, delay_steps=delay,
                             lr_schedule=schedule, seed=settings.seed * 1000 + k)
            algo.setup(self.spec)
            self.algos[d.name] = algo
        self.warmup_steps = delay
        self.rng = np.random.default_rng(settings.seed)
        # Own generator for the warm-up flags, so turning op warm-up off leaves the batches alone.
        self.warm_rng = np.random.default_rng([settings.seed, 17])
        bs, vbs = settings.batch_size, settings.val_batch_size
        self.train_streams = {d.name: BatchStream(d.x_train, d.y_train, bs, self.rng)
                              for d in domains}
        self.val_streams = {d.name: BatchStream(d.x_val, d.y_val, vbs, self.rng) for d in domains}
        self.running_acc = {d.name: EMABaseline(settings.acc_momentum) for d in domains}
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=settings.lr,
                                     weight_decay=settings.weight_decay)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.elapsed_s = 0.0

    # ------------------------------------------------------------------ the loop
    def weights(self) -> np.ndarray:
        """Current loss weights of the domains (in domain order)."""
        return domain_weights(self.settings.weighting, sizes=[d.size for d in self.domains],
                              accuracy=[self.running_acc[d.name].value for d in self.domains],
                              gamma=self.settings.gamma)

    def warmup_probability(self, step: int | None = None) -> float:
        """Op warm-up probability at ``step`` (default: the current one): ``1 − step / W`` over
        the first ``W = round(warmup_fraction · steps)`` steps, then 0 (0 without op warm-up)."""
        s = self.step if step is None else int(step)
        if not self.settings.op_warmup or s >= self.warmup_steps:
            return 0.0
        return 1.0 - s / self.warmup_steps

    def step_once(self) -> dict[str, Any]:
        """One global step (see the module doc); returns and records its history entry."""
        names = [d.name for d in self.domains]
        paths = {d: self.algos[d].propose_batch(1)[0] for d in names}
        w = self.weights()
        p = self.warmup_probability()
        mixes = None
        if p > 0.0:
            mixes = {d: (self.warm_rng.random(self.config.num_layers) < p).tolist() for d in names}
        self.net.train()
        loss, _ = joint_loss(self.net, {d: self.train_streams[d].next() for d in names}, w, paths,
                             mixes)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        rec: dict[str, Any] = {"step": self.step, "loss": float(loss.detach())}
        with torch.no_grad():  # batch statistics during search, as TuNAS
            for k, d in enumerate(names):
                x, y = self.val_streams[d].next()
                acc = float((self.net(x, d, paths[d]).argmax(1) == y).float().mean())
                cost = self.costs[d].batch(paths[d][None])
                info = self.algos[d].feedback_batch(paths[d][None], np.array([acc]), cost)
                self.running_acc[d].update(acc)
                rec[d] = {"path": paths[d].tolist(), "acc": acc, "cost": float(cost[0]),
                          "weight": float(w[k]), "baseline": info["baseline"],
                          "mixed_layers": 0 if mixes is None else int(sum(mixes[d]))}
        self.step += 1
        self.history.append(rec)
        return rec

    def run(self, steps: int | None = None, *, checkpoint: str | Path | None = None,
            checkpoint_every: int = 100,
            progress: Callable[[int, int], None] | None = None) -> dict[str, tuple[int, ...]]:
        """Run until ``steps`` total steps (default ``settings.steps``), saving to ``checkpoint``
        every ``checkpoint_every`` steps and at the end. Returns :meth:`paths`."""
        total = self.settings.steps if steps is None else int(steps)
        t0 = time.perf_counter()
        while self.step < total:
            self.step_once()
            if progress is not None:
                progress(self.step, total)
            if checkpoint is not None and (self.step % checkpoint_every == 0 or self.step == total):
                self.elapsed_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                self.save(checkpoint)
        self.elapsed_s += time.perf_counter() - t0
        return self.paths()

    # ------------------------------------------------------------------ results
    def paths(self) -> dict[str, tuple[int, ...]]:
        """Each domain's final path: the argmax of its controller's logits (TuNAS)."""
        return {d: tuple(int(c) for c in a.controller.argmax()) for d, a in self.algos.items()}

    def probabilities(self) -> dict[str, list[list[float]]]:
        """Each domain's policy: per layer, the probability of every candidate."""
        return {d: [row[:n].tolist() for row, n in zip(a.controller.probs(), self.config.num_choices)]
                for d, a in self.algos.items()}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "elapsed_s": self.elapsed_s, "settings": asdict(self.settings),
                "net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "algos": {d: a.state_dict() for d, a in self.algos.items()},
                "rng": self.rng.bit_generator.state, "warm_rng": self.warm_rng.bit_generator.state,
                "train_streams": {d: s.state_dict() for d, s in self.train_streams.items()},
                "val_streams": {d: s.state_dict() for d, s in self.val_streams.items()},
                "running_acc": {d: [e.num, e.den] for d, e in self.running_acc.items()},
                "history": self.history, "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (same domains, config and settings).

        Raises
        ------
        SearchConfigError
            When the checkpoint's domains differ from this search's.
        """
        if set(state["algos"]) != set(self.algos):
            raise SearchConfigError(f"checkpoint holds domains {sorted(state['algos'])}, this "
                                    f"search has {sorted(self.algos)}")
        self.step, self.elapsed_s = int(state["step"]), float(state["elapsed_s"])
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        for d, a in self.algos.items():
            a.load_state_dict(state["algos"][d])
        # The streams share self.rng: restore the generator after their order / position.
        for d, s in self.train_streams.items():
            s.load_state_dict(state["train_streams"][d])
        for d, s in self.val_streams.items():
            s.load_state_dict(state["val_streams"][d])
        self.rng.bit_generator.state = state["rng"]
        self.warm_rng.bit_generator.state = state["warm_rng"]
        for d, (num, den) in state["running_acc"].items():
            self.running_acc[d].num, self.running_acc[d].den = float(num), float(den)
        self.history = list(state["history"])
        torch.set_rng_state(state["torch_rng"])

    def save(self, path: str | Path) -> str:
        """Write a checkpoint atomically; returns its SHA-256."""
        state = self.state_dict()
        return atomic_save(path, lambda f: torch.save(state, f))

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save`."""
        self.load_state_dict(torch.load(path, weights_only=False))
