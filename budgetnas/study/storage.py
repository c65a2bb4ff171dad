"""Where a study keeps its trials and its algorithm's state.

The interface is small (Optuna's habit): a study never touches a database itself. The in-memory
store lives here; the SQL store (SQLite by default, any SQLAlchemy URL) implements the same
methods and gets the same test suite.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any

from budgetnas.study.trial import Trial

__all__ = ["BaseStorage", "InMemoryStorage"]


class BaseStorage(ABC):
    """The storage interface of :class:`budgetnas.Study`.

    ``persistent`` stores outlive the process: the study then saves the algorithm's state after
    every told trial, so a resumed run continues exactly.
    """

    persistent: bool = True

    @abstractmethod
    def create_study(self, name: str, settings: dict[str, Any]) -> int:
        """Create a study (or return the id of an existing one with this name)."""

    @abstractmethod
    def get_settings(self, study_id: int) -> dict[str, Any]:
        """The settings the study was created with (to refuse resuming with other settings)."""

    @abstractmethod
    def save_trial(self, study_id: int, trial: Trial) -> None:
        """Insert the trial, or update it if a trial with its number exists."""

    @abstractmethod
    def load_trials(self, study_id: int) -> list[Trial]:
        """Every trial of the study, ordered by number (without the materialised child)."""

    @abstractmethod
    def save_algorithm_state(self, study_id: int, state: dict[str, Any]) -> None:
        """Store the algorithm's latest ``state_dict``."""

    @abstractmethod
    def load_algorithm_state(self, study_id: int) -> dict[str, Any] | None:
        """The latest stored algorithm state, or None."""


class InMemoryStorage(BaseStorage):
    """Keeps everything in this process; lost when it ends."""

    persistent = False

    def __init__(self) -> None:
        self._studies: dict[str, int] = {}
        self._settings: dict[int, dict[str, Any]] = {}
        self._trials: dict[int, dict[int, Trial]] = {}
        self._states: dict[int, dict[str, Any]] = {}

    def create_study(self, name: str, settings: dict[str, Any]) -> int:
        if name not in self._studies:
            sid = len(self._studies)
            self._studies[name] = sid
            self._settings[sid] = copy.deepcopy(settings)
            self._trials[sid] = {}
        return self._studies[name]

    def get_settings(self, study_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._settings[study_id])

    def save_trial(self, study_id: int, trial: Trial) -> None:
        stored = copy.copy(trial)
        stored.child, stored._study = None, None
        stored.metrics, stored.intermediate = dict(trial.metrics), dict(trial.intermediate)
        self._trials[study_id][trial.number] = stored

    def load_trials(self, study_id: int) -> list[Trial]:
        return [copy.copy(t) for _, t in sorted(self._trials[study_id].items())]

    def save_algorithm_state(self, study_id: int, state: dict[str, Any]) -> None:
        self._states[study_id] = copy.deepcopy(state)

    def load_algorithm_state(self, study_id: int) -> dict[str, Any] | None:
        state = self._states.get(study_id)
        return copy.deepcopy(state) if state is not None else None
