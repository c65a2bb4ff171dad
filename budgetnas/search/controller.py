"""A factorised categorical policy over decision points, trained by REINFORCE with Adam.

The policy of TuNAS (Bender et al. 2020, §3) and TabNAS (Yang et al. 2022, §3): one independent
categorical distribution per decision point, logits initialised to zero (uniform);
``log p(x) = Σ_d [d active] · log softmax(θ_d)[x_d]``, so a conditional decision adds its
log-probability only when its parent chose the candidate that activates it.

The maths runs in numpy with the analytic gradient of the log-softmax,
``∇_θd log p(x) = onehot(x_d) − softmax(θ_d)``: a controller step over a few decision points costs
microseconds, where torch autograd costs a fixed overhead per op (see
``benchmarks/search_controller_speed.py``). ``tests/test_search_controller.py`` checks the
gradients against ``torch.autograd``; :meth:`CategoricalController.log_prob_torch` gives the
differentiable log-probability for use inside a torch graph.

Example
-------
>>> ctrl = CategoricalController([3, 3], lr=0.1)
>>> X = ctrl.sample(4, np.random.default_rng(0))          # (4, 2) int64
>>> info = ctrl.update(X, rewards=np.array([0.1, 0.5, 0.2, 0.9]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError

__all__ = ["CategoricalController", "EMABaseline", "tunas_schedule"]


def tunas_schedule(total_steps: int, frozen_fraction: float = 0.25, growth: float = 10.0,
                   shape: str = "exp") -> tuple[int, Callable[[int], float]]:
    """TuNAS's controller schedule: frozen for a fraction of the steps, then a growing rate.

    Returns ``(delay_steps, schedule)`` for :class:`CategoricalController`: no update during the
    first ``frozen_fraction · total_steps`` steps, then a learning-rate multiplier rising from 1
    to ``growth`` at ``total_steps`` (Bender et al. 2020, §3: frozen 25 %, then ×10; the shape of
    the rise is not stated there — ``"exp"`` geometric, or ``"linear"``).

    Raises
    ------
    SearchConfigError
        If ``total_steps < 1``, ``frozen_fraction`` is outside [0, 1) or ``shape`` is unknown.
    """
    if total_steps < 1 or not 0.0 <= frozen_fraction < 1.0:
        raise SearchConfigError(f"tunas_schedule needs total_steps >= 1 and 0 <= frozen_fraction "
                                f"< 1, got {total_steps} and {frozen_fraction}")
    if shape not in ("exp", "linear"):
        raise SearchConfigError(f"shape must be 'exp' or 'linear', got {shape!r}")
    delay = int(round(frozen_fraction * total_steps))
    span = max(1, total_steps - delay)

    def schedule(step: int) -> float:
        frac = min(1.0, max(0.0, (step - delay) / span))
        return growth ** frac if shape == "exp" else 1.0 + (growth - 1.0) * frac

    return delay, schedule


class EMABaseline:
    """Bias-corrected exponential moving average of the reward: a numerator and a denominator
    EMA, ``b = num / den`` (TabNAS's toy notebook, papers.md §2; TuNAS momentum 0.95).

    ``value`` is None until the first reward.
    """

    def __init__(self, momentum: float = 0.95) -> None:
        if not 0.0 <= momentum < 1.0:
            raise SearchConfigError(f"baseline momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.num = 0.0
        self.den = 0.0

    @property
    def value(self) -> float | None:
        return self.num / self.den if self.den > 0 else None

    def update(self, reward: float) -> None:
        m = self.momentum
        self.num = m * self.num + (1.0 - m) * float(reward)
        self.den = m * self.den + (1.0 - m)


class CategoricalController:
    """Independent categorical distributions over the decision points of a choice-only space.

    Parameters
    ----------
    num_choices : sequence of int (D,)
        Candidates per decision point.
    parent, parent_choice : sequence of int (D,), optional
        The spec's gating arrays (-1 where unconditional); a decision is active when its parent
        is active and chose ``parent_choice``. Parents come before children.
    lr : float
        Adam learning rate.
    betas : (float, float)
        Adam's β1, β2 (TuNAS uses β1 = 0).
    eps : float
        Adam's ε.
    baseline_momentum : float
        Momentum of the bias-corrected EMA baseline (TuNAS 0.95; TabNAS toy 0.9).
    entropy_weight : float
        Weight of the entropy bonus ``Σ_d H(softmax(θ_d))`` added to the objective (0 = off).
    delay_steps : int
        Updates before the logits start to move (the baseline still learns meanwhile).
    lr_schedule : callable(step) -> multiplier, optional
        Multiplies ``lr`` at update number ``step`` (0-based); see :func:`tunas_schedule`.

    Attributes
    ----------
    logits : np.ndarray (D, C) float64
        Zero-initialised; entries past a decision's ``num_choices`` are unused.
    num_updates : int
        Calls to :meth:`update` so far.
    """

    def __init__(self, num_choices: Sequence[int], parent: Sequence[int] | None = None,
                 parent_choice: Sequence[int] | None = None, *, lr: float = 0.1,
                 betas: tuple[float, float] = (0.0, 0.999), eps: float = 1e-8,
                 baseline_momentum: float = 0.95, entropy_weight: float = 0.0,
                 delay_steps: int = 0,
                 lr_schedule: Callable[[int], float] | None = None) -> None:
        nc = np.asarray(num_choices, dtype=np.int64)
        if nc.ndim != 1 or nc.size == 0 or np.any(nc < 1):
            raise SearchConfigError(f"num_choices must be a non-empty list of positive counts, got {nc}")
        if lr <= 0 or not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise SearchConfigError(f"need lr > 0 and Adam betas in [0, 1), got lr={lr}, betas={betas}")
        self.num_choices = nc
        D, C = len(nc), int(nc.max())
        self.parent = np.full(D, -1, np.int64) if parent is None else np.asarray(parent, np.int64)
        self.parent_choice = (np.full(D, -1, np.int64) if parent_choice is None
                              else np.asarray(parent_choice, np.int64))
        self._cond = np.flatnonzero(self.parent >= 0)
        self.valid = np.arange(C)[None, :] < nc[:, None]
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.entropy_weight = float(entropy_weight)
        self.delay_steps = int(delay_steps)
        self.lr_schedule = lr_schedule
        self.baseline = EMABaseline(baseline_momentum)
        self._dist_cache: list[tuple[np.ndarray | None, tuple[np.ndarray, ...]]] = []
        self.logits = np.zeros((D, C))
        self._m = np.zeros((D, C))
        self._v = np.zeros((D, C))
        self._t = 0
        self.num_updates = 0
        self._offsets = (np.arange(D) * C)[None, :]

    # ------------------------------------------------------------------ distribution
    @property
    def logits(self) -> np.ndarray:
        """The logits ``(D, C)``; assign a new array to change them (cached softmaxes reset)."""
        return self._logits

    @logits.setter
    def logits(self, value: np.ndarray) -> None:
        self._logits = np.asarray(value, dtype=np.float64)
        self._dist_cache = []

    @property
    def num_decisions(self) -> int:
        return len(self.num_choices)

    def _dist(self, allowed: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """(log-probs, probs, CDF, last allowed index), cached until the logits change."""
        for key, value in self._dist_cache:
            if key is allowed:
                return value
        mask = self.valid if allowed is None else self.valid & allowed
        z = np.where(mask, self._logits, -np.inf)
        z = z - z.max(axis=1, keepdims=True)
        L = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        P = np.exp(L)
        last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
        # every decision's CDF shifted by its index, flattened: one searchsorted samples them all
        shifted = (np.cumsum(P, axis=1) + np.arange(len(P))[:, None]).ravel()
        value = (L, P, shifted, last)
        if len(self._dist_cache) > 4:
            self._dist_cache.pop(0)
        self._dist_cache.append((allowed, value))
        return value

    def log_probs(self, allowed: np.ndarray | None = None) -> np.ndarray:
        """Log-softmax of the logits per decision, ``(D, C)``; ``-inf`` for invalid candidates
        and, with ``allowed`` (bool ``(D, C)``), for candidates outside it (renormalised)."""
        return self._dist(allowed)[0]

    def probs(self, allowed: np.ndarray | None = None) -> np.ndarray:
        """Softmax per decision, ``(D, C)`` (0 outside the valid / allowed candidates)."""
        return self._dist(allowed)[1]

    def active_mask(self, X: np.ndarray) -> np.ndarray:
        """Bool ``(n, D)``: decisions whose parent chose the activating candidate."""
        A = np.ones(X.shape, dtype=bool)
        for d in self._cond:
            p = self.parent[d]
            A[:, d] = A[:, p] & (X[:, p] == self.parent_choice[d])
        return A

    def sample(self, n: int, rng: np.random.Generator,
               allowed: np.ndarray | None = None) -> np.ndarray:
        """``n`` children drawn from the policy: int64 ``(n, D)``, -1 for inactive decisions.

        With ``allowed`` the policy is restricted (renormalised) to those candidates. Uses
        ``n × D`` uniforms from ``rng`` and the inverse CDF, vectorised.
        """
        _, P, shifted, last = self._dist(allowed)
        D, C = P.shape
        U = rng.random((n, D)) + np.arange(D)
        X = np.searchsorted(shifted, U, side="left") - self._offsets  # inverse CDF
        X = np.clip(X, 0, last[None, :]).astype(np.int64)
        if self._cond.size:
            X[~self.active_mask(X)] = -1
        return X

    def flat_index(self, X: np.ndarray) -> np.ndarray:
        """Positions of the decisions of ``X`` (``(n, D)``) in the flattened logits, ``(n, D)``;
        an inactive decision points one past the end (a slot that holds 0). Precompute it for a
        fixed set of children (TabNAS's feasible set) and use the ``*_flat`` methods."""
        D, C = self._logits.shape
        F = self._offsets + X
        if self._cond.size:
            F = np.where(X >= 0, F, D * C)
        return F

    def log_prob_flat(self, F: np.ndarray) -> np.ndarray:
        """:meth:`log_prob` from :meth:`flat_index` output → ``(n,)``."""
        L = np.append(self.log_probs().ravel(), 0.0)
        return L[F].sum(axis=1)

    def log_prob(self, X: np.ndarray) -> np.ndarray:
        """``log p(x)`` of each row of ``X`` (int64 ``(n, D)``, -1 inactive) → ``(n,)``."""
        return self.log_prob_flat(self.flat_index(X))

    def log_prob_torch(self, X: np.ndarray, logits: Any = None) -> Any:
        """``log p(x)`` as a torch tensor ``(n,)``, differentiable in ``logits`` (a ``(D, C)``
        tensor; default: a leaf tensor of the current logits, ``requires_grad=True``)."""
        import torch

        if logits is None:
            logits = torch.tensor(self.logits, requires_grad=True)
        z = logits.masked_fill(~torch.as_tensor(self.valid), float("-inf"))
        L = torch.log_softmax(z, dim=1)
        Xt = torch.as_tensor(X, dtype=torch.long)
        A = Xt >= 0
        vals = L[torch.arange(self.num_decisions)[None, :], Xt.clamp(min=0)]
        return torch.where(A, vals, torch.zeros_like(vals)).sum(dim=1)

    def entropy(self) -> float:
        """``Σ_d H(softmax(θ_d))`` in nats (every decision counted, active or not)."""
        L, P = self._dist(None)[:2]
        return float(-np.sum(P * np.where(self.valid, L, 0.0)))

    def argmax(self) -> np.ndarray:
        """The per-decision most likely candidate ``(D,)`` (TuNAS's final pick), -1 if inactive."""
        x = np.where(self.valid, self.logits, -np.inf).argmax(axis=1)[None, :]
        if self._cond.size:
            x[~self.active_mask(x)] = -1
        return x[0]

    # ------------------------------------------------------------------ gradients
    def score_grad(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``Σ_i w_i ∇_θ log p(x_i)`` → ``(D, C)``; rows of ``X`` (``(n, D)``, -1 inactive).

        ``∇_θd log p(x) = [d active] · (onehot(x_d) − softmax(θ_d))``: one weighted bincount."""
        return self.score_grad_flat(self.flat_index(X), weights)

    def score_grad_flat(self, F: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """:meth:`score_grad` from :meth:`flat_index` output."""
        D, C = self._logits.shape
        w = np.asarray(weights, dtype=np.float64)
        W = np.broadcast_to(w[:, None], F.shape).ravel()
        counts = np.bincount(F.ravel(), weights=W, minlength=D * C + 1)[:D * C].reshape(D, C)
        if self._cond.size:
            mass = ((F != D * C) * w[:, None]).sum(axis=0)
        else:
            mass = np.full(D, w.sum())
        return counts - mass[:, None] * self.probs()

    def entropy_grad(self) -> np.ndarray:
        """``∇_θ Σ_d H(softmax(θ_d))`` → ``(D, C)``: ``−p (log p + H_d)``."""
        L, P = self._dist(None)[:2]
        L = np.where(self.valid, L, 0.0)
        H = -(P * L).sum(axis=1, keepdims=True)
        return np.where(self.valid, -P * (L + H), 0.0)

    # ------------------------------------------------------------------ learning
    def current_lr(self) -> float:
        """The learning rate of the next update (0 during the delay)."""
        if self.num_updates < self.delay_steps:
            return 0.0
        mult = self.lr_schedule(self.num_updates) if self.lr_schedule is not None else 1.0
        return self.lr * float(mult)

    def update(self, X: np.ndarray, rewards: np.ndarray,
               correction: np.ndarray | None = None) -> dict[str, float]:
        """One REINFORCE step on a batch of children and their rewards.

        Maximises ``mean_i (R_i − b) · [log p(x_i) − c] + entropy_weight · H`` where ``b`` is the
        baseline before this batch and ``c`` a term whose gradient is ``correction`` (TabNAS's
        ``∇ log P(V)``, Yang et al. 2022, §3). The baseline then absorbs the batch mean reward.

        Parameters
        ----------
        X : int64 (n, D)
        rewards : float (n,)
        correction : (D, C), optional
            Subtracted from each child's score gradient.

        Returns
        -------
        dict with ``baseline``, ``advantage`` (mean), ``lr``.
        """
        X = np.asarray(X, dtype=np.int64).reshape(-1, self.num_decisions)
        R = np.asarray(rewards, dtype=np.float64).reshape(-1)
        b = self.baseline.value
        adv = R - (R.mean() if b is None else b)  # first batch: its own mean, no signal
        grad = self.score_grad(X, adv)
        if correction is not None:
            grad -= adv.sum() * correction
        grad /= len(R)
        if self.entropy_weight:
            grad += self.entropy_weight * self.entropy_grad()
        lr = self.current_lr()
        if lr > 0.0:
            self._adam(grad, lr)
        self.baseline.update(float(R.mean()))
        self.num_updates += 1
        return {"baseline": float(self.baseline.value), "advantage": float(adv.mean()), "lr": lr}

    def _adam(self, grad: np.ndarray, lr: float) -> None:
        b1, b2 = self.betas
        self._t += 1
        self._m = b1 * self._m + (1.0 - b1) * grad
        self._v = b2 * self._v + (1.0 - b2) * grad * grad
        mhat = self._m / (1.0 - b1 ** self._t)
        vhat = self._v / (1.0 - b2 ** self._t)
        self.logits = self._logits + lr * mhat / (np.sqrt(vhat) + self.eps)  # ascent

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Logits, Adam moments, step counts and baseline as plain lists and numbers."""
        return {"logits": self.logits.tolist(), "m": self._m.tolist(), "v": self._v.tolist(),
                "t": self._t, "num_updates": self.num_updates,
                "baseline": [self.baseline.num, self.baseline.den]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (same ``num_choices``)."""
        logits = np.asarray(state["logits"], dtype=np.float64)
        if logits.shape != self.logits.shape:
            raise SearchConfigError(f"controller state has logits of shape {logits.shape}, this "
                                    f"controller has {self.logits.shape}: a different space?")
        self.logits = logits
        self._m = np.asarray(state["m"], dtype=np.float64)
        self._v = np.asarray(state["v"], dtype=np.float64)
        self._t = int(state["t"])
        self.num_updates = int(state["num_updates"])
        self.baseline.num, self.baseline.den = (float(v) for v in state["baseline"])
