"""The one-shot (weight-sharing) search loop, written once for every supernet and controller.

Each step trains the shared weights on a training batch for one sampled child, then feeds that
child's validation reward back to the search algorithm (TuNAS, Bender et al., CVPR 2020, §3.1;
TabNAS, Yang et al., NeurIPS 2022, §3, interleaves the same way). The first ``warmup_fraction``
of the steps trains the supernet alone: children are drawn uniformly from the feasible set, the
task widens them with a probability falling linearly from 1 to 0 (layer / filter warm-up), and
the controller is neither asked nor told anything.

Example
-------
A toy task whose reward prefers a wide first layer (a real one trains a supernet, see
:class:`~budgetnas.oneshot.task.SupervisedTask`):

>>> from budgetnas.oneshot import WeightSharingTask
>>> from budgetnas.search import TabNAS
>>> from budgetnas.spaces.mlp import MLPSpace
>>> space = MLPSpace(n_in=2, n_out=1, widths=[2, 3, 4], depths=[2])
>>> class Toy(WeightSharingTask):
...     def decode(self, dna): return space.widths_of(list(dna))
...     def train_step(self, child): return 0.0
...     def reward(self, child): return child[0] / 4
>>> search = OneShotSearch(Toy(), TabNAS(seed=0), space.spec,
...                        constraints=[space.constraint(25)], steps=200)
>>> result = search.run()
>>> [r.phase for r in result.history[49:51]], result.steps_done
(['warmup', 'search'], 200)
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError
from budgetnas.oneshot.task import WeightSharingTask
from budgetnas.search.base import SearchAlgorithm
from budgetnas.search.random import Random
from budgetnas.space import Spec

__all__ = ["Callback", "Checkpoint", "OneShotResult", "OneShotSearch", "StepRecord", "policy_probabilities"]


@dataclass
class StepRecord:
    """One step of the loop.

    Attributes
    ----------
    step : int
        0-based.
    phase : {"warmup", "search"}
    dna : tuple of int
        The sampled child.
    trained : Any
        The child whose weights were trained (differs from the sampled one under warm-up).
    loss : float
        Training loss of the step's batch.
    reward : float or None
        The validation reward fed back (None during warm-up).
    cost : float or None
        The sampled child's cost in the cost model's unit, when a cost model was given.
    feasible : bool
        Whether the sampled child satisfies every constraint, the record-only ones included
        (see ``record_constraints`` of :class:`OneShotSearch`): under TuNAS's soft reward a
        sampled child may be over the budget, and this says so.
    seconds : float
        Wall-clock time of the step.
    """

    step: int
    phase: str
    dna: tuple
    trained: Any
    loss: float
    reward: float | None
    cost: float | None
    feasible: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dna"], out["trained"] = list(self.dna), _plain(self.trained)
        return out


@dataclass
class OneShotResult:
    """What :meth:`OneShotSearch.run` returns.

    Attributes
    ----------
    history : list of StepRecord
    policy : list of (int, list of np.ndarray)
        ``(step, probabilities per decision point)`` snapshots of the controller, when it
        exposes them (see :func:`policy_probabilities`).
    steps_done : int
    stopped : {"steps", "time"}
        Why the loop ended: all steps done, or the time budget ran out.
    seconds : float
    resumed_from : int
        The step a checkpoint restored (0: the run started from scratch).
    """

    history: list[StepRecord] = field(default_factory=list)
    policy: list[tuple[int, list[np.ndarray]]] = field(default_factory=list)
    steps_done: int = 0
    stopped: str = "steps"
    seconds: float = 0.0
    resumed_from: int = 0


class Callback:
    """Hooks of the loop; subclass and override what you need."""

    def on_step(self, search: OneShotSearch, record: StepRecord) -> None:
        """After every step."""

    def on_checkpoint(self, search: OneShotSearch) -> None:
        """Every ``checkpoint_every`` steps; ``search.state_dict()`` is what to save (see
        :class:`Checkpoint`)."""

    def on_end(self, search: OneShotSearch, result: OneShotResult) -> None:
        """Once, after the last step."""


class Checkpoint(Callback):
    """Save :meth:`OneShotSearch.state_dict` to ``path`` (``torch.save``, atomically) at each
    checkpoint and at the end; :meth:`OneShotSearch.load_checkpoint` reads it back.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; replaced whole each time (a crash leaves the previous checkpoint).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def on_checkpoint(self, search: OneShotSearch) -> None:
        import torch

        from budgetnas.store.atomic import atomic_save

        state = search.state_dict()
        atomic_save(self.path, lambda f: torch.save(state, f))

    def on_end(self, search: OneShotSearch, result: OneShotResult) -> None:
        self.on_checkpoint(search)


class OneShotSearch:
    """Interleaved weight-sharing search: a supernet step, then a controller step, per step.

    Parameters
    ----------
    task : WeightSharingTask
        Supernet, optimiser and data.
    algorithm : SearchAlgorithm
        The controller (e.g. TabNAS rejection sampling, REINFORCE with the TuNAS reward).
        ``setup(spec, constraints)`` is called here.
    spec : Spec
        The search space's spec.
    constraints : sequence of Constraint
        Hard constraints; warm-up draws children from their feasible set.
    record_constraints : sequence of Constraint
        Constraints only checked for :attr:`StepRecord.feasible`, never given to the algorithm
        or the warm-up sampler: the budget of a search whose algorithm treats it as a soft
        target (TuNAS's absolute reward, Bender et al. 2020, §3.2), so that the history tells
        which sampled children fit it without changing what is sampled.
    cost : CostModel, optional
        Prices each sampled child for the history (e.g. parameters).
    steps : int
        Total steps, warm-up included.
    warmup_fraction : float
        Share of the steps that train the supernet alone (TuNAS default 0.25).
    seed : int
        Seeds the warm-up sampler and the warm-up widening.
    callbacks : sequence of Callback
    checkpoint_every : int
        Call ``on_checkpoint`` every this many steps (0: never).
    policy_every : int, optional
        Snapshot the controller's probabilities every this many steps (default: about 100
        snapshots over the run).
    time_budget_s : float, optional
        Stop after this many seconds (checked between steps).

    Raises
    ------
    SearchConfigError
        If ``steps < 1`` or ``warmup_fraction`` is outside [0, 1).
    """

    def __init__(self, task: WeightSharingTask, algorithm: SearchAlgorithm, spec: Spec, *,
                 constraints: Sequence[Any] = (), record_constraints: Sequence[Any] = (),
                 cost: Any = None, steps: int,
                 warmup_fraction: float = 0.25, seed: int = 0,
                 callbacks: Sequence[Callback] = (), checkpoint_every: int = 0,
                 policy_every: int | None = None, time_budget_s: float | None = None) -> None:
        if int(steps) < 1:
            raise SearchConfigError(f"steps must be >= 1, got {steps}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise SearchConfigError(
                f"warmup_fraction must be in [0, 1) so that some steps search, got {warmup_fraction}")
        self.task, self.algorithm, self.spec = task, algorithm, spec
        self.constraints, self.cost = list(constraints), cost
        # every constraint a sampled child is checked against for the record
        self._checked = [*self.constraints, *record_constraints]
        self.steps, self.warmup_fraction = int(steps), float(warmup_fraction)
        self.warmup_steps = int(math.floor(self.warmup_fraction * self.steps))
        self.callbacks = list(callbacks)
        self.checkpoint_every = int(checkpoint_every)
        self.policy_every = int(policy_every or max(1, self.steps // 100))
        self.time_budget_s = time_budget_s
        self.rng = np.random.default_rng(seed)
        self._sampler = Random(seed=seed)  # uniform over the feasible set, for warm-up
        self._sampler.setup(spec, self.constraints)
        algorithm.setup(spec, self.constraints)
        self.step = 0
        self.result = OneShotResult()

    def warmup_probability(self, step: int) -> float:
        """Probability of widening a layer at ``step``: 1 → 0 linearly over the warm-up steps."""
        if step >= self.warmup_steps or self.warmup_steps == 0:
            return 0.0
        return 1.0 - step / self.warmup_steps

    def run(self) -> OneShotResult:
        """Run (or continue, after :meth:`load_state_dict`) until ``steps`` or the time budget."""
        start = time.monotonic()
        elapsed0 = self.result.seconds
        if self.step == 0 or not self.result.policy:  # a resumed run has its snapshots already
            self._snapshot_policy()
        while self.step < self.steps:
            if self.time_budget_s is not None and elapsed0 + time.monotonic() - start >= self.time_budget_s:
                self.result.stopped = "time"
                break
            record = self._one_step()
            self.result.history.append(record)
            self.step += 1
            self.result.steps_done = self.step
            self.result.seconds = elapsed0 + time.monotonic() - start
            if self.step % self.policy_every == 0 or self.step == self.steps:
                self._snapshot_policy()
            for cb in self.callbacks:
                cb.on_step(self, record)
            if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                for cb in self.callbacks:
                    cb.on_checkpoint(self)
        self.result.seconds = elapsed0 + time.monotonic() - start
        for cb in self.callbacks:
            cb.on_end(self, self.result)
        return self.result

    def _one_step(self) -> StepRecord:
        t0 = time.perf_counter()
        step = self.step
        if step < self.warmup_steps:
            dna = self._sampler.propose()
            child = self.task.decode(dna)
            trained = self.task.warmup_child(child, self.warmup_probability(step), self.rng)
            loss, reward, phase = self.task.train_step(trained), None, "warmup"
        else:
            dna = self.algorithm.propose()
            trained = self.task.decode(dna)
            loss = self.task.train_step(trained)
            reward = self.task.reward(trained)
            self.algorithm.feedback(dna, reward)
            phase = "search"
        vec = self.spec.to_vector(dna)[None]
        cost = None if self.cost is None else float(self.cost.batch(vec)[0])
        feasible = all(bool(np.asarray(c.feasible_batch(vec))[0]) for c in self._checked)
        return StepRecord(step, phase, tuple(dna), trained, float(loss), reward, cost, feasible,
                          time.perf_counter() - t0)

    def _snapshot_policy(self) -> None:
        probs = policy_probabilities(self.algorithm)
        if probs is not None and (not self.result.policy or self.result.policy[-1][0] != self.step):
            self.result.policy.append((self.step, probs))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: step, controller, sampler, task, RNGs, history.

        The RNGs are the loop's numpy generator and torch's global CPU (and CUDA, when
        initialised) generators, which dropout or weight initialisation may draw from. A
        snapshot: deep-copied, so that training on does not change it.
        """
        import torch

        torch_rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch_rng["cuda"] = torch.cuda.get_rng_state_all()
        return copy.deepcopy({"step": self.step, "algorithm": self.algorithm.state_dict(),
                "sampler": self._sampler.state_dict(), "task": self.task.state_dict(),
                "rng": self.rng.bit_generator.state, "torch_rng": torch_rng,
                "history": [r.to_dict() for r in self.result.history],
                "policy": [(s, [p.tolist() for p in ps]) for s, ps in self.result.policy],
                "seconds": self.result.seconds, "steps": self.steps})

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore the state a :class:`Checkpoint` callback saved; then :meth:`run` continues.

        Raises
        ------
        SearchConfigError
            As :meth:`load_state_dict`.
        """
        import torch

        self.load_state_dict(torch.load(os.fspath(path), weights_only=False))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output into a search built with the same arguments.

        Raises
        ------
        SearchConfigError
            If the checkpoint was taken from a search with a different number of steps.
        """
        if int(state["steps"]) != self.steps:
            raise SearchConfigError(f"the checkpoint is of a {state['steps']}-step search, this "
                                    f"one has {self.steps} steps; rebuild it with the same steps")
        self.step = int(state["step"])
        self.algorithm.load_state_dict(state["algorithm"])
        self._sampler.load_state_dict(state["sampler"])
        self.task.load_state_dict(state["task"])
        self.rng.bit_generator.state = state["rng"]
        _restore_torch_rng(state.get("torch_rng"))
        self.result = OneShotResult(
            history=[StepRecord(**{**r, "dna": tuple(r["dna"]), "trained": _unplain(r["trained"])})
                     for r in state["history"]],
            policy=[(int(s), [np.asarray(p) for p in ps]) for s, ps in state["policy"]],
            steps_done=self.step, seconds=float(state["seconds"]), resumed_from=self.step)


def policy_probabilities(algorithm: Any) -> list[np.ndarray] | None:
    """The controller's probabilities per decision point, or None if it has no policy.

    Looks for ``algorithm.probabilities()`` (a list of arrays, one per decision point), then a
    ``controller`` with ``probs()`` (a padded ``(D, C)`` array) and ``num_choices``, then a
    ``logits`` attribute (softmax per decision). Wrappers are followed through their
    ``algorithm`` attribute.
    """
    seen = 0
    while algorithm is not None and seen < 4:
        fn = getattr(algorithm, "probabilities", None)
        if callable(fn):
            return [np.asarray(p, dtype=np.float64) for p in fn()]
        ctrl = getattr(algorithm, "controller", None)
        if ctrl is not None and callable(getattr(ctrl, "probs", None)):
            P = np.asarray(ctrl.probs(), dtype=np.float64)
            return [P[d, :int(m)].copy() for d, m in enumerate(ctrl.num_choices)]
        logits = getattr(algorithm, "logits", None)
        if logits is not None:
            return [_softmax(np.asarray(_to_numpy(z), dtype=np.float64)) for z in logits]
        algorithm, seen = getattr(algorithm, "algorithm", None), seen + 1
    return None


def _restore_torch_rng(state: Mapping[str, Any] | None) -> None:
    import torch

    if not state:  # a checkpoint written before torch's generators were saved
        return
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _to_numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _plain(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _unplain(x: Any) -> Any:
    return tuple(_unplain(v) for v in x) if isinstance(x, list) else x

