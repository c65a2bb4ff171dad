"""How the domains' losses are weighted in a joint step: uniform, by data size, or adaptive.

Multi-path multi-domain networks (Wang et al., WACV 2021, papers.md §9) balance the domains with
an "adaptive balanced domain prioritisation"; its exact formula is not verified, so three rules
are offered, each returning weights that sum to 1:

- ``uniform``: ``w_d = 1 / K``.
- ``size``: ``w_d ∝ n_d`` (training images).
- ``focal``: ``w_d ∝ −(1 − κ_d)^γ · log κ_d`` on each domain's running accuracy ``κ_d`` (focal
  loss's modulation, Lin et al. 2017, applied per domain): domains that do worse weigh more.

>>> domain_weights("focal", accuracy=[0.5, 0.9], gamma=0.0).round(4)
array([0.868, 0.132])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from budgetnas.errors import SearchConfigError

__all__ = ["WEIGHTINGS", "domain_weights"]

WEIGHTINGS = ("uniform", "size", "focal")


def domain_weights(rule: str, *, sizes: Sequence[float] | None = None,
                   accuracy: Sequence[float | None] | None = None, gamma: float = 2.0,
                   eps: float = 1e-4) -> np.ndarray:
    """Loss weights of the domains under ``rule``, float ``(K,)`` summing to 1.

    Parameters
    ----------
    rule : {"uniform", "size", "focal"}
    sizes : sequence of K numbers
        Training-set sizes (needed by ``size``; gives K for the others).
    accuracy : sequence of K floats in [0, 1] or None
        Running accuracies κ (``focal``). Any None (no estimate yet) → uniform weights.
    gamma : float ≥ 0
        Focusing exponent γ of ``focal`` (γ = 0 gives ``w ∝ −log κ``).
    eps : float
        κ is clipped to [eps, 1 − eps] so a perfect or hopeless domain keeps a finite weight.

    Raises
    ------
    SearchConfigError
        Unknown rule, negative γ, no sizes / accuracies to count the domains, or non-positive sizes.
    """
    if rule not in WEIGHTINGS:
        raise SearchConfigError(f"unknown domain weighting {rule!r}; choose one of {WEIGHTINGS}")
    if gamma < 0:
        raise SearchConfigError(f"gamma must be >= 0, got {gamma}")
    ref = sizes if sizes is not None else accuracy
    if ref is None or len(ref) == 0:
        raise SearchConfigError("pass sizes= or accuracy= (one entry per domain)")
    k = len(ref)
    uniform = np.full(k, 1.0 / k)
    if rule == "uniform":
        return uniform
    if rule == "size":
        if sizes is None:
            raise SearchConfigError("the 'size' weighting needs sizes= (training images per domain)")
        n = np.asarray(sizes, dtype=np.float64)
        if np.any(n <= 0):
            raise SearchConfigError(f"domain sizes must be positive, got {n.tolist()}")
        return n / n.sum()
    if accuracy is None or any(a is None for a in accuracy):
        return uniform
    kappa = np.clip(np.asarray(accuracy, dtype=np.float64), eps, 1.0 - eps)
    w = -((1.0 - kappa) ** gamma) * np.log(kappa)
    return w / w.sum()
