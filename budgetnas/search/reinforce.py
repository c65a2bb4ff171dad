"""REINFORCE over a factorised categorical policy, with TuNAS's or MnasNet's cost-aware reward.

``Reinforce`` is the reward-shaping baseline of TuNAS (Bender et al. 2020, §3) and MnasNet; it
also enforces hard constraints by rejection, *without* correcting the gradient (that is what
:class:`budgetnas.TabNAS` adds). Both share :class:`PolicySearch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError
from budgetnas.search.base import SearchAlgorithm, reward_of
from budgetnas.search.controller import CategoricalController
from budgetnas.search.feasibility import Feasibility, as_batch_cost
from budgetnas.search.rewards import make_reward
from budgetnas.space import DNA, Spec

__all__ = ["PolicySearch", "Reinforce"]


class PolicySearch(SearchAlgorithm):
    """Shared machinery of the policy-gradient searches: the controller, feasible sampling, the
    feedback buffer, batch proposals for one-shot loops, and state.

    Subclasses define :meth:`_reward` (the scalar the controller maximises) and may define
    :meth:`_correction` (a gradient subtracted from each child's score).
    """

    def __init__(self, *, lr: float, betas: tuple[float, float], eps: float,
                 baseline_momentum: float, entropy_weight: float, delay_steps: int,
                 lr_schedule: Callable[[int], float] | None, batch_size: int,
                 seed: int | None, enumerate_limit: int, max_draws: int) -> None:
        super().__init__(seed)
        if batch_size < 1:
            raise SearchConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._ctrl_kw = dict(lr=lr, betas=tuple(betas), eps=eps,
                             baseline_momentum=baseline_momentum, entropy_weight=entropy_weight,
                             delay_steps=delay_steps, lr_schedule=lr_schedule)
        self.batch_size = int(batch_size)
        self.enumerate_limit = int(enumerate_limit)
        self.max_draws = int(max_draws)
        self.controller: CategoricalController | None = None
        self.feasibility: Feasibility | None = None
        self._buf_X: list[np.ndarray] = []
        self._buf_R: list[float] = []

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        if not spec.is_choice_only:
            raise SearchConfigError(
                f"{type(self).__name__} models categorical decisions only; this space has floatv "
                "decision points (use RegularizedEvolution or Random for them)")
        super().setup(spec, constraints)
        self.feasibility = Feasibility(spec, self._all_constraints(spec),
                                       enumerate_limit=self.enumerate_limit,
                                       max_draws=self.max_draws).analyse(self.rng)
        self.controller = CategoricalController(spec.num_choices, spec.parent, spec.parent_choice,
                                                **self._ctrl_kw)
        self._buf_X, self._buf_R = [], []

    def _all_constraints(self, spec: Spec) -> list[Any]:
        return list(self.constraints)

    # ------------------------------------------------------------------ proposals
    def propose(self) -> DNA:
        spec = self._require_setup()
        return spec.from_vector(self.propose_batch(1)[0])

    def propose_batch(self, n: int) -> np.ndarray:
        """``n`` feasible children drawn from the policy (conditioned on the constraints):
        int64 ``(n, D)``, -1 inactive. For one-shot loops that work on vectors."""
        self._require_setup()
        assert self.controller is not None and self.feasibility is not None
        ctrl, feas = self.controller, self.feasibility
        return feas.sample(n, self.rng, draw=lambda k: ctrl.sample(k, self.rng, feas.allowed),
                           what="children drawn from the policy")

    # ------------------------------------------------------------------ learning
    def feedback(self, dna: DNA, reward: float | Mapping[str, float]) -> None:
        spec = self._require_setup()
        x = spec.to_vector(dna)
        cost = reward.get("cost") if isinstance(reward, Mapping) else None
        self._buf_X.append(x)
        self._buf_R.append(float(self._reward(x[None], np.array([reward_of(reward)]),
                                              None if cost is None else np.array([cost]))[0]))
        if len(self._buf_X) >= self.batch_size:
            self._learn(np.stack(self._buf_X), np.asarray(self._buf_R))
            self._buf_X, self._buf_R = [], []

    def feedback_batch(self, X: np.ndarray, rewards: np.ndarray,
                       costs: np.ndarray | None = None) -> dict[str, float]:
        """One controller step on ``X`` (int64 ``(n, D)``) and their qualities ``(n,)``;
        ``costs`` (n,) skips re-pricing. Returns the controller's step info."""
        self._require_setup()
        X = np.asarray(X, dtype=np.int64)
        return self._learn(X, self._reward(X, np.asarray(rewards, np.float64), costs))

    def _learn(self, X: np.ndarray, R: np.ndarray) -> dict[str, float]:
        assert self.controller is not None
        return self.controller.update(X, R, correction=self._correction())

    def _reward(self, X: np.ndarray, quality: np.ndarray, costs: np.ndarray | None) -> np.ndarray:
        return quality

    def _correction(self) -> np.ndarray | None:
        return None

    # ------------------------------------------------------------------ final pick
    def argmax_dna(self) -> DNA:
        """The per-decision most likely child (TuNAS's final pick; may be infeasible)."""
        spec = self._require_setup()
        assert self.controller is not None
        return spec.from_vector(self.controller.argmax())

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        assert self.controller is not None, "setup(spec) first"
        return {**super().state_dict(), "controller": self.controller.state_dict(),
                "buffer_X": [x.tolist() for x in self._buf_X], "buffer_R": list(self._buf_R)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._require_setup()
        assert self.controller is not None
        self.controller.load_state_dict(state["controller"])
        self._buf_X = [np.asarray(x, dtype=np.int64) for x in state["buffer_X"]]
        self._buf_R = [float(r) for r in state["buffer_R"]]


class Reinforce(PolicySearch):
    """REINFORCE with a cost-aware reward: TuNAS's absolute value or MnasNet's soft / hard.

    The controller maximises ``R(Q, T)`` for the child's quality ``Q`` (the reward told in
    feedback) and cost ``T`` (priced by ``cost``, or given as ``{"reward": Q, "cost": T}``).
    Hard constraints (from the study) are enforced by rejection sampling, with the plain gradient.

    >>> algo = bn.Reinforce(reward="abs", cost=params, target=25_000, beta=-0.1, seed=0)

    Parameters
    ----------
    reward : {"abs", "mnas_soft", "mnas_hard"} or None
        None maximises ``Q`` alone.
    cost : CostModel or callable DNA -> float, optional
        Defaults to the cost of the first constraint given to ``setup``.
    target : float, optional
        T0, in the cost's unit; defaults to that constraint's ``max``.
    beta : float, optional
        Must be negative; default −0.1 (abs) or −0.07 (MnasNet).
    lr, betas, eps : Adam settings (TuNAS: β1 = 0, β2 = 0.999).
    baseline_momentum : float
        Bias-corrected EMA baseline momentum (TuNAS 0.95).
    entropy_weight : float
    delay_steps : int
        Controller updates before the logits move (TuNAS: 25 % of the steps).
    lr_schedule : callable(step) -> multiplier, optional
        See :func:`budgetnas.search.controller.tunas_schedule`.
    batch_size : int
        Feedbacks per controller update.
    seed : int, optional
        Drives every draw.
    enumerate_limit, max_draws : int
        See :class:`budgetnas.search.feasibility.Feasibility`.

    Raises
    ------
    SearchConfigError
        β ≥ 0, an unknown reward, a reward without cost/target, or a space with floats.
    InfeasibleBudgetError
        From ``setup`` when no child fits the constraints.
    """

    def __init__(self, reward: str | None = "abs", cost: Any = None, target: float | None = None,
                 beta: float | None = None, *, lr: float = 0.05,
                 betas: tuple[float, float] = (0.0, 0.999), eps: float = 1e-8,
                 baseline_momentum: float = 0.95, entropy_weight: float = 0.0,
                 delay_steps: int = 0, lr_schedule: Callable[[int], float] | None = None,
                 batch_size: int = 1, seed: int | None = None, enumerate_limit: int = 100_000,
                 max_draws: int = 2_000_000) -> None:
        super().__init__(lr=lr, betas=betas, eps=eps, baseline_momentum=baseline_momentum,
                         entropy_weight=entropy_weight, delay_steps=delay_steps,
                         lr_schedule=lr_schedule, batch_size=batch_size, seed=seed,
                         enumerate_limit=enumerate_limit, max_draws=max_draws)
        self.reward = reward
        self.beta = beta
        self._reward_fn = make_reward(reward, beta) if reward is not None else None
        self.cost, self.target = cost, target
        self._cost: Any = None
        self._target: float | None = None

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        super().setup(spec, constraints)
        if self._reward_fn is None:
            return
        first = next((c for c in constraints if hasattr(c, "cost") and hasattr(c, "max")), None)
        cost = self.cost if self.cost is not None else getattr(first, "cost", None)
        target = self.target if self.target is not None else getattr(first, "max", None)
        if cost is None or target is None:
            raise SearchConfigError(
                f"reward={self.reward!r} needs a cost and a target T0: pass cost= and target=, or "
                "give the study a Constraint(cost, max=T0)")
        self._cost, self._target = as_batch_cost(cost, spec), float(target)

    def _reward(self, X: np.ndarray, quality: np.ndarray, costs: np.ndarray | None) -> np.ndarray:
        if self._reward_fn is None:
            return quality
        T = np.asarray(self._cost.batch(X) if costs is None else costs, dtype=np.float64)
        return np.asarray(self._reward_fn(quality, T, self._target), dtype=np.float64).reshape(-1)
