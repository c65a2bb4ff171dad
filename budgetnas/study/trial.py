"""Trials: one child proposed, evaluated and recorded."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from budgetnas.errors import TrialError
from budgetnas.space import DNA

if TYPE_CHECKING:
    from budgetnas.study.study import Study

__all__ = ["Trial", "TrialState"]


class TrialState(str, enum.Enum):
    """Where a trial stands. ``SKIPPED`` covers invalid or infeasible children (never trained)."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    SKIPPED = "skipped"
    PRUNED = "pruned"  # stopped early by an early-stopping policy

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


@dataclass
class Trial:
    """A child under evaluation, handed out by :meth:`budgetnas.Study.ask`.

    Attributes
    ----------
    number : int
        Position in the study (0-based), in order of asking.
    dna : DNA
        The child's decisions.
    child : Any
        The materialised child (``space.materialize(dna)``).
    state : TrialState
    value : float or None
        The reward told for the trial (higher is better unless the study minimises).
    metrics : dict
        Every metric told with it.
    intermediate : dict[int, float]
        Values reported at steps (for early stopping).
    seed : int
        A per-trial seed, fixed by the study's seed and the trial number, so results do not
        depend on the order or the number of workers.
    worker : str or None
        ``host:pid`` of the driver that asked for the trial (resume re-runs dead owners' trials).
    params : Any
        The materialised child as stored (JSON when it can be), for reports and ``show``.
    """

    number: int
    dna: DNA
    child: Any = None
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    worker: str | None = None
    params: Any = None
    datetime_start: float = field(default_factory=time.time)
    datetime_complete: float | None = None
    error: str | None = None
    traceback: str | None = None
    _study: Study | None = field(default=None, repr=False, compare=False)

    def report(self, value: float, step: int) -> None:
        """Record an intermediate measurement (e.g. validation accuracy after ``step`` epochs)."""
        if self.state is not TrialState.RUNNING:
            raise TrialError(f"trial {self.number} is {self.state.value}; report() needs a "
                             "running trial (report before study.tell)")
        self.intermediate[int(step)] = float(value)
        if self._study is not None:
            self._study._on_report(self)

    def tell(self, value: float | dict[str, Any]) -> None:
        """Shortcut for ``study.tell(trial, value)``."""
        self._require_study().tell(self, value)

    def skip(self, reason: str = "") -> None:
        """Shortcut for ``study.skip(trial, reason)``: an invalid child, never fed back."""
        self._require_study().skip(self, reason)

    @property
    def study(self) -> Study:
        """The study that asked for this trial (for ``trial.study.tell(...)`` in a sample loop).

        Raises
        ------
        TrialError
            If the trial is not attached to a study (e.g. one loaded straight from a store).
        """
        return self._require_study()

    def _require_study(self) -> Study:
        if self._study is None:
            raise TrialError("this trial is not attached to a study")
        return self._study

    def should_stop(self) -> bool:
        """True when the study's early-stopping policy says to stop this trial at its last step."""
        if self._study is None or not self.intermediate:
            return False
        return self._study._should_stop(self)

    @property
    def duration(self) -> float | None:
        """Seconds from ask to tell, or None while running."""
        return None if self.datetime_complete is None else self.datetime_complete - self.datetime_start
