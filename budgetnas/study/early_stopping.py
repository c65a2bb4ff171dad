"""Early-stopping policies for trials that report intermediate values (PyGlove, §1).

A policy looks at a trial's value at a step and at the values other trials reported at the same
step, and says whether to stop it. Values are "higher is better"; the study flips signs when it
minimises.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

__all__ = ["EarlyStoppingPolicy", "StopByValue", "StopByRank"]


class EarlyStoppingPolicy(ABC):
    """Decides whether a running trial should stop at a step."""

    @abstractmethod
    def should_stop(self, step: int, value: float, peers: Sequence[float]) -> bool:
        """``value``, ``peers`` (values of *other* trials at the same step): higher is better."""

    def decide(self, step: int, value: float, peers: Sequence[float], sign: float) -> bool:
        """What the study calls: ``sign`` is -1 when it minimises (values arrive negated), so a
        policy holding thresholds in the user's units can negate them too."""
        return self.should_stop(step, value, peers)


class StopByValue(EarlyStoppingPolicy):
    """Stop a trial whose value at a step is worse than that step's threshold.

    Thresholds are in the study's units: "worse" is below when it maximises, above when it
    minimises (PyGlove's early stopping by value, papers.md §1).

    >>> policy = StopByValue({1: 0.5, 5: 0.8})  # below 0.5 after step 1, or 0.8 after step 5
    """

    def __init__(self, thresholds: Mapping[int, float]) -> None:
        if not thresholds:
            raise ValueError("StopByValue needs at least one {step: threshold}")
        self.thresholds = {int(k): float(v) for k, v in thresholds.items()}

    def should_stop(self, step: int, value: float, peers: Sequence[float]) -> bool:
        return self.decide(step, value, peers, 1.0)

    def decide(self, step: int, value: float, peers: Sequence[float], sign: float) -> bool:
        t = self.thresholds.get(step)
        return t is not None and value < sign * t


class StopByRank(EarlyStoppingPolicy):
    """Stop a trial not in the top ``top_fraction`` of the trials seen at ``step``.

    Parameters
    ----------
    step : int
        The step at which the rule applies.
    top_fraction : float
        In (0, 1]; the trial continues if at most ``ceil(top_fraction * n) - 1`` peers beat it.
    min_peers : int
        No stopping until this many other trials have reported at ``step``.
    """

    def __init__(self, step: int, top_fraction: float = 0.5, min_peers: int = 3) -> None:
        if not 0 < top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        self.step, self.top_fraction, self.min_peers = int(step), float(top_fraction), int(min_peers)

    def should_stop(self, step: int, value: float, peers: Sequence[float]) -> bool:
        if step != self.step or len(peers) < self.min_peers:
            return False
        n = len(peers) + 1
        better = sum(1 for p in peers if p > value)
        return better >= math.ceil(self.top_fraction * n)
