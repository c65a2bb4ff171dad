"""TabNAS: REINFORCE with rejection sampling under a hard constraint (Yang et al., NeurIPS 2022, §3).

Children are drawn from the policy and rejected when infeasible, so the feasible ones are draws
from ``p(y | V) = p(y) / P(V)``, V = {y : cost(y) ≤ T0}. REINFORCE on that conditional maximises
``(Q(y) − b) · [log p(y) − log P(V)]``; the second term is the correction that plain rejection
(:class:`budgetnas.Reinforce`) lacks. ``∇ log P(V)`` is computed

- ``"exact"``: over the enumerated feasible set (spaces with at most ``exact_threshold``
  children): ``∇ log P(V) = Σ_{y∈V} p(y|V) ∇ log p(y)``, one weighted ``bincount``;
- ``"mc"``: the Monte-Carlo estimator of papers.md §2 from ``N`` policy draws z_j:
  ``P̂(V) = (1/N) Σ_j 1[z_j ∈ V]`` with gradient ``(1/N) Σ_j 1[z_j ∈ V] ∇ log p(z_j)``, so
  ``∇ log P̂(V) = mean over feasible z_j of ∇ log p(z_j)``. When candidates were pruned
  (:class:`~budgetnas.search.feasibility.Feasibility`, a box B ⊇ V), the z_j are drawn from the
  policy restricted to B and ``∇ log P(B)`` is added exactly: the same formula, far fewer empty
  draws when V is a small fraction of the space;
- ``"mc_sum"``: the official toy notebook's estimator ``Σ_{feasible j} p(z_j)`` (no 1/N, z_j
  from the unrestricted policy), whose log-gradient weights each feasible draw by ``p(z_j)``.
  Offered for comparison; it is *not* the paper's estimator.

The final pick is the most probable feasible child (:meth:`TabNAS.most_probable_feasible`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError
from budgetnas.search.feasibility import Budget
from budgetnas.search.reinforce import PolicySearch
from budgetnas.space import DNA, Spec

__all__ = ["TabNAS"]

_PV_MODES = ("auto", "exact", "mc", "mc_sum")


class TabNAS(PolicySearch):
    """Rejection sampling with the corrected policy gradient of TabNAS (Yang et al. 2022, §3).

    >>> algo = bn.TabNAS(seed=0)
    >>> study = bn.Study(space, algo, constraints=[bn.Constraint(params, max=25_000)])

    Parameters
    ----------
    cost, max : optional
        A budget of its own (cost model or callable DNA → float, and T0), added to the
        constraints the study gives.
    lr : float
        Adam learning rate (0.1 in the paper's toy example).
    betas, eps : Adam settings.
    baseline_momentum : float
        Bias-corrected EMA baseline momentum (0.9 in the toy notebook).
    entropy_weight, delay_steps, lr_schedule, batch_size :
        As :class:`budgetnas.Reinforce`.
    pv : {"auto", "exact", "mc", "mc_sum"}
        How ``∇ log P(V)`` is computed (module docstring); ``"auto"`` is exact when the space
        has at most ``exact_threshold`` children, else ``"mc"``.
    exact_threshold : int
        Largest space (or pruned box) enumerated: above it P(V) is estimated and the
        feasibility checks use structure or a bounded search.
    num_mc_samples : int
        N of the Monte-Carlo estimator (cost only, no training).
    final_samples : int
        Draws examined by :meth:`most_probable_feasible` when neither the exact nor the
        dynamic-programming route applies.
    seed : int, optional
    max_draws : int
        Draws one proposal may spend before :class:`InfeasibleBudgetError`.

    Attributes
    ----------
    pv_ : float
        The latest P(V) (exact or estimated); NaN before the first update.

    Raises
    ------
    SearchConfigError
        Unknown ``pv``, ``pv="exact"`` on a space above ``exact_threshold``, floats in the space.
    InfeasibleBudgetError
        From ``setup``, when no child fits (naming the smallest achievable cost).
    """

    def __init__(self, cost: Any = None, max: float | None = None, *,  # noqa: A002
                 lr: float = 0.1, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 baseline_momentum: float = 0.9, entropy_weight: float = 0.0,
                 delay_steps: int = 0, lr_schedule: Callable[[int], float] | None = None,
                 batch_size: int = 1, pv: str = "auto", exact_threshold: int = 100_000,
                 num_mc_samples: int = 1024, final_samples: int = 100_000,
                 seed: int | None = None, max_draws: int = 2_000_000) -> None:
        if pv not in _PV_MODES:
            raise SearchConfigError(f"pv must be one of {_PV_MODES}, got {pv!r}")
        if (cost is None) != (max is None):
            raise SearchConfigError("give both cost= and max= for TabNAS's own budget, or neither")
        super().__init__(lr=lr, betas=betas, eps=eps, baseline_momentum=baseline_momentum,
                         entropy_weight=entropy_weight, delay_steps=delay_steps,
                         lr_schedule=lr_schedule, batch_size=batch_size, seed=seed,
                         enumerate_limit=exact_threshold, max_draws=max_draws)
        self.cost, self.max = cost, max
        self.pv = pv
        self.exact_threshold = int(exact_threshold)
        self.num_mc_samples = int(num_mc_samples)
        self.final_samples = int(final_samples)
        self.pv_ = float("nan")
        self._mode = pv
        self._flat: np.ndarray | None = None
        self._cache: tuple[int, np.ndarray] | None = None

    def _all_constraints(self, spec: Spec) -> list[Any]:
        extra = [Budget(self.cost, self.max, spec)] if self.cost is not None else []
        return list(self.constraints) + extra

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        if self.pv == "exact" and spec.size > self.exact_threshold:
            raise SearchConfigError(
                f"pv='exact' enumerates the space, which has {spec.size:,} children > "
                f"exact_threshold={self.exact_threshold:,}; raise exact_threshold or use pv='mc'")
        super().setup(spec, constraints)
        assert self.feasibility is not None
        fs = self.feasibility.feasible_set
        if self.pv == "auto":
            self._mode = "exact" if fs is not None or not self.feasibility.constraints else "mc"
        if self._mode == "exact" and fs is None and self.feasibility.constraints:
            raise SearchConfigError("pv='exact' needs the enumerated feasible set; it was not built")
        self._cache, self._flat = None, None

    # ------------------------------------------------------------------ exact P(V)
    def _feasible_logp(self) -> np.ndarray:
        """log p(y) of every feasible child under the current logits, ``(m,)`` (cached per step)."""
        assert self.controller is not None and self.feasibility is not None
        key = self.controller.num_updates
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        if self._flat is None:
            self._flat = self.controller.flat_index(self.feasibility.feasible_set)
        lp = self.controller.log_prob_flat(self._flat)
        self._cache = (key, lp)
        return lp

    def propose_batch(self, n: int) -> np.ndarray:
        """``n`` draws from ``p(y | V)``: int64 ``(n, D)``. Exact mode samples the enumerated
        feasible set directly (no rejected draws); otherwise rejection within the pruned box."""
        self._require_setup()
        assert self.feasibility is not None
        if self._mode != "exact" or not self.feasibility.constraints:
            return super().propose_batch(n)
        lp = self._feasible_logp()
        w = np.exp(lp - lp.max())
        cum = np.cumsum(w)
        idx = np.searchsorted(cum, self.rng.random(n) * cum[-1], side="right")
        return self.feasibility.feasible_set[np.minimum(idx, len(cum) - 1)]

    # ------------------------------------------------------------------ the correction
    def _correction(self) -> np.ndarray | None:
        assert self.controller is not None and self.feasibility is not None
        ctrl, feas = self.controller, self.feasibility
        if not feas.constraints:
            self.pv_ = 1.0
            return None
        if self._mode == "exact":
            lp = self._feasible_logp()
            top = lp.max()
            w = np.exp(lp - top)
            W = w.sum()
            self.pv_ = float(np.exp(top) * W)
            return ctrl.score_grad_flat(self._flat, w / W)
        N = self.num_mc_samples
        if self._mode == "mc_sum":
            Z = ctrl.sample(N, self.rng)
            ok = feas.feasible(Z)
            if not ok.any():
                self.pv_ = 0.0
                return None
            p = np.exp(ctrl.log_prob(Z[ok]))
            self.pv_ = float(p.sum())
            return ctrl.score_grad(Z[ok], p / p.sum())
        # "mc": z_j from the policy restricted to the box B ⊇ V; add ∇log P(B) exactly
        Z = ctrl.sample(N, self.rng, feas.allowed)
        ok = feas.feasible(Z)
        pb = 1.0
        if feas.allowed is not None:
            pb = float(np.prod((ctrl.probs() * feas.allowed).sum(axis=1)))
        k = int(ok.sum())
        self.pv_ = pb * k / N
        if k == 0:  # no feasible draw: only the box's share of the gradient is known
            if feas.allowed is None:
                return None
            P = ctrl.probs()
            Q = ctrl.probs(feas.allowed)
            return Q - P
        return ctrl.score_grad(Z[ok], np.full(k, 1.0 / k))

    # ------------------------------------------------------------------ final pick
    def most_probable_feasible(self) -> DNA:
        """The most probable feasible child under the learned policy (TabNAS's final pick).

        Exact over the enumerated feasible set; exact by dynamic programming when the single
        constraint's cost is a chain of per-layer terms; otherwise the most probable feasible
        child among ``final_samples`` policy draws (and the per-decision argmax).

        Raises
        ------
        InfeasibleBudgetError
            When no feasible draw is found (the budget's feasible fraction is too small).
        """
        spec = self._require_setup()
        assert self.controller is not None and self.feasibility is not None
        ctrl, feas = self.controller, self.feasibility
        if not feas.constraints:
            return spec.from_vector(ctrl.argmax())
        if feas.feasible_set is not None:
            return spec.from_vector(feas.feasible_set[int(np.argmax(self._feasible_logp()))])
        if len(feas.constraints) == 1 and feas.chains[0] is not None:
            x = feas.chains[0].best_under(ctrl.log_probs(), feas.constraints[0].max)
            if x is not None and feas.feasible(x[None])[0]:
                return spec.from_vector(x)
        # a side stream, so that asking for the pick does not change later proposals
        rng = np.random.default_rng([0 if self.seed is None else self.seed, ctrl.num_updates])
        X = ctrl.sample(self.final_samples, rng, feas.allowed)
        X = X[feas.feasible(X)]
        if not len(X):
            X = feas.sample(1, rng, draw=lambda k: ctrl.sample(k, rng, feas.allowed))
        top = ctrl.argmax()[None]
        if feas.feasible(top)[0]:
            X = np.concatenate([X, top])
        return spec.from_vector(X[int(np.argmax(ctrl.log_prob(X)))])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pv": self.pv_}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.pv_ = float(state["pv"])
        self._cache = None
