"""What travels to a worker (a trial's number, DNA, child and seed) and what comes back."""

from __future__ import annotations

import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from budgetnas.space import DNA
from budgetnas.study.study import TrialPruned
from budgetnas.study.trial import Trial

__all__ = ["Outcome", "TrialPayload", "execute_payload"]


@dataclass
class TrialPayload:
    """The part of a :class:`budgetnas.Trial` an objective needs, sent to a worker process.

    It has the trial's attributes and methods an objective uses (``number``, ``dna``, ``child``,
    ``seed``, ``params``, ``user_attrs``, ``report``, ``skip``, ``should_stop``), so the same
    objective runs in-process and in workers. The study stays in the driver: reports are sent
    back with the result, and ``should_stop`` is always False in a worker (early stopping needs
    the other trials' values, which live in the driver).

    Seed every random stream of the objective from ``seed`` (fixed by the study seed and the
    trial number): results then do not depend on the number of workers or on timing.
    """

    number: int
    dna: DNA
    child: Any
    seed: int
    user_attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    skipped: str | None = None

    @classmethod
    def from_trial(cls, trial: Trial) -> TrialPayload:
        return cls(number=trial.number, dna=trial.dna, child=trial.child, seed=trial.seed,
                   user_attrs=dict(trial.user_attrs))

    @property
    def params(self) -> Any:
        """The materialised child (alias of ``child``)."""
        return self.child

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value; it is stored with the trial when the worker returns."""
        self.intermediate[int(step)] = float(value)

    def skip(self, reason: str = "") -> None:
        """Mark the child invalid (recorded as skipped, never fed back to the algorithm)."""
        self.skipped = reason or "skipped"

    def should_stop(self) -> bool:
        """Always False in a worker: early stopping runs only with the in-process loop."""
        return False


@dataclass
class Outcome:
    """A worker's answer: ``kind`` is ``"value"``, ``"pruned"``, ``"skipped"`` or ``"error"``."""

    kind: str
    value: Any = None
    intermediate: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    exc_type: str | None = None
    exception: BaseException | None = None


def execute_payload(objective: Callable[[TrialPayload], Any], payload: TrialPayload) -> Outcome:
    """Run ``objective(payload)`` in a worker and package what happened (never raises an
    ``Exception``; a process that dies shows up in the driver as a crash)."""
    common = {"intermediate": payload.intermediate, "user_attrs": payload.user_attrs}
    try:
        value = objective(payload)
    except TrialPruned:
        return Outcome("pruned", **common)
    except Exception as exc:  # noqa: BLE001 - sent back to the driver, which decides
        return Outcome("error", error=f"{type(exc).__name__}: {exc}", traceback=tb.format_exc(),
                       exc_type=type(exc).__name__, exception=_picklable(exc), **common)
    if payload.skipped is not None:
        return Outcome("skipped", error=payload.skipped, **common)
    return Outcome("value", value=value, **common)


def _picklable(exc: BaseException) -> BaseException | None:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - some exceptions cannot cross processes; the text does
        return None
    exc.__traceback__ = None
    return exc
