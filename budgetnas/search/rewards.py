"""Cost-aware rewards of reward-shaping NAS: TuNAS's absolute value and MnasNet's soft and hard.

With quality ``Q`` (e.g. validation accuracy), cost ``T`` and target ``T0`` (same unit):

- ``abs`` (TuNAS, Bender et al. 2020, §3.2): ``R = Q + β·|T/T0 − 1|``, β < 0 (default −0.10).
  Penalises being under the target as much as over it, so the search lands at the target.
- ``mnas_soft`` (MnasNet, Tan et al. 2019, §2): ``R = Q·(T/T0)^β``, β < 0 (default −0.07).
- ``mnas_hard`` (MnasNet): ``R = Q·min((T/T0)^β, 1)``, β < 0: no bonus under the target.

Every function is vectorised over numpy arrays.

>>> absolute_reward(0.7, cost=120.0, target=100.0, beta=-0.1)
0.68
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError

__all__ = ["REWARDS", "absolute_reward", "check_beta", "make_reward", "mnas_hard_reward",
           "mnas_soft_reward"]

DEFAULT_BETA = {"abs": -0.10, "mnas_soft": -0.07, "mnas_hard": -0.07}


def check_beta(beta: float, reward: str = "reward") -> float:
    """Return ``beta`` as a float if it is negative and finite.

    Raises
    ------
    SearchConfigError
        When β ≥ 0 (it would reward cost) or is not finite.
    """
    b = float(beta)
    if not np.isfinite(b) or b >= 0.0:
        raise SearchConfigError(
            f"the {reward} reward needs beta < 0 so that cost is penalised, got beta={beta!r}; "
            f"e.g. beta={DEFAULT_BETA.get(reward, -0.1)} (TuNAS uses -0.1 for 'abs', MnasNet "
            "-0.07)")
    return b


def _ratio(cost: Any, target: float) -> Any:
    t0 = float(target)
    if not np.isfinite(t0) or t0 <= 0.0:
        raise SearchConfigError(f"the cost target T0 must be a positive number, got {target!r}")
    return np.asarray(cost, dtype=np.float64) / t0


def _out(x: np.ndarray) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def absolute_reward(quality: Any, cost: Any, target: float, beta: float = -0.10) -> Any:
    """TuNAS's absolute-value reward ``Q + β·|T/T0 − 1|`` (Bender et al. 2020, §3.2).

    Parameters
    ----------
    quality : float or array (n,)
    cost : float or array (n,), in the unit of ``target``
    target : float > 0
    beta : float < 0

    Raises
    ------
    SearchConfigError
        When β ≥ 0 or the target is not positive.
    """
    b = check_beta(beta, "abs")
    return _out(np.asarray(quality, dtype=np.float64) + b * np.abs(_ratio(cost, target) - 1.0))


def mnas_soft_reward(quality: Any, cost: Any, target: float, beta: float = -0.07) -> Any:
    """MnasNet's soft reward ``Q·(T/T0)^β`` (Tan et al. 2019, §2). Raises as :func:`absolute_reward`."""
    b = check_beta(beta, "mnas_soft")
    return _out(np.asarray(quality, dtype=np.float64) * _ratio(cost, target) ** b)


def mnas_hard_reward(quality: Any, cost: Any, target: float, beta: float = -0.07) -> Any:
    """MnasNet's hard reward ``Q·min((T/T0)^β, 1)`` (Tan et al. 2019, §2). Raises as
    :func:`absolute_reward`."""
    b = check_beta(beta, "mnas_hard")
    return _out(np.asarray(quality, dtype=np.float64)
                * np.minimum(_ratio(cost, target) ** b, 1.0))


REWARDS: dict[str, Callable[..., Any]] = {
    "abs": absolute_reward, "mnas_soft": mnas_soft_reward, "mnas_hard": mnas_hard_reward,
}


def make_reward(name: str, beta: float | None = None) -> Callable[[Any, Any, float], Any]:
    """The reward ``fn(quality, cost, target)`` called ``name`` with β fixed (default per reward).

    Raises
    ------
    SearchConfigError
        For an unknown name or a β ≥ 0.
    """
    if name not in REWARDS:
        raise SearchConfigError(f"unknown reward {name!r}; choose one of {sorted(REWARDS)}")
    b = check_beta(DEFAULT_BETA[name] if beta is None else beta, name)
    fn = REWARDS[name]
    return lambda quality, cost, target: fn(quality, cost, target, b)
