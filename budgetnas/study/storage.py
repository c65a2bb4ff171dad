"""Where a study keeps its trials and its algorithm's state.

The interface is small (Optuna's habit): a study never touches a database itself. The in-memory
store lives here; the SQL store (SQLite by default, any SQLAlchemy URL) implements the same
methods and gets the same test suite.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from budgetnas.study.trial import Trial

__all__ = ["BaseStorage", "InMemoryStorage", "SupernetCheckpoint"]


@dataclass(frozen=True)
class SupernetCheckpoint:
    """A supernet's weights written to ``path`` at training ``step`` (SHA-256 of the file)."""

    step: int
    path: str
    sha256: str
    created: float


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

    # -- optional, with defaults built on the methods above; a database store overrides them
    #    to make each one a single transaction (what crash-safe resume relies on).
    def create_trial(self, study_id: int, trial: Trial, state: dict[str, Any] | None = None,
                     seed_of: Callable[[int], int] | None = None) -> int:
        """Give ``trial`` the study's next number, store it (and ``state``), return the number.

        Sets ``trial.number`` (and ``trial.seed = seed_of(number)`` when given) before storing.
        Database stores do all of it in one transaction, so several processes sharing a study
        never get the same number, and a crash never stores the trial without the state.
        """
        trials = self.load_trials(study_id)
        trial.number = trials[-1].number + 1 if trials else 0
        if seed_of is not None:
            trial.seed = seed_of(trial.number)
        self.save_trial_and_state(study_id, trial, state)
        return trial.number

    def save_trial_and_state(self, study_id: int, trial: Trial,
                             state: dict[str, Any] | None) -> None:
        """Save the trial and (unless None) the algorithm's state together (one transaction in
        a database store: a resumed run never sees one without the other)."""
        self.save_trial(study_id, trial)
        if state is not None:
            self.save_algorithm_state(study_id, state)

    def update_settings(self, study_id: int, settings: dict[str, Any]) -> None:
        """Replace the stored settings (a resume forced with other settings)."""
        raise NotImplementedError(f"{type(self).__name__} cannot change a study's settings")

    def record_attempt(self, study_id: int, number: int) -> int:
        """Count one more start of trial ``number`` (1 = first run) and return the count.

        A study re-runs a trial interrupted by a crash once; the count survives the crash so
        that a trial that kills its process every time is failed instead of re-run forever.
        """
        counts = self.__dict__.setdefault("_attempts", {})
        counts[study_id, number] = counts.get((study_id, number), 1) + 1
        return counts[study_id, number]

    def get_study_id(self, name: str) -> int | None:
        """The id of the study called ``name``, or None when there is none."""
        raise NotImplementedError(f"{type(self).__name__} cannot look studies up by name")

    def list_studies(self) -> list[str]:
        """The names of every study in the store."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its studies")

    def save_checkpoint(self, study_id: int, name: str, state: dict[str, Any]) -> None:
        """Store the latest state of a named component (``"algorithm"``, ``"controller"``...)."""
        if name != "algorithm":
            raise NotImplementedError(f"{type(self).__name__} stores the 'algorithm' state only")
        self.save_algorithm_state(study_id, state)

    def load_checkpoint(self, study_id: int, name: str) -> dict[str, Any] | None:
        """The latest state stored under ``name``, or None."""
        if name != "algorithm":
            raise NotImplementedError(f"{type(self).__name__} stores the 'algorithm' state only")
        return self.load_algorithm_state(study_id)

    def record_supernet_checkpoint(self, study_id: int, path: str, step: int,
                                   sha256: str) -> None:
        """Record that the supernet's weights at ``step`` were written (atomically) to ``path``."""
        raise NotImplementedError(f"{type(self).__name__} does not record supernet checkpoints")

    def list_supernet_checkpoints(self, study_id: int) -> list[SupernetCheckpoint]:
        """Recorded supernet checkpoints, oldest step first."""
        raise NotImplementedError(f"{type(self).__name__} does not record supernet checkpoints")


_EMPTY: dict = {}  # never mutated: stands for an empty dict in stored snapshots


class InMemoryStorage(BaseStorage):
    """Keeps everything in this process; lost when it ends."""

    persistent = False

    def __init__(self) -> None:
        self._studies: dict[str, int] = {}
        self._settings: dict[int, dict[str, Any]] = {}
        self._trials: dict[int, dict[int, Trial]] = {}
        self._states: dict[int, dict[str, Any]] = {}
        self._checkpoints: dict[tuple[int, str], dict[str, Any]] = {}
        self._supernet: dict[int, list[SupernetCheckpoint]] = {}

    def create_study(self, name: str, settings: dict[str, Any]) -> int:
        if name not in self._studies:
            sid = len(self._studies)
            self._studies[name] = sid
            self._settings[sid] = copy.deepcopy(settings)
            self._trials[sid] = {}
        return self._studies[name]

    def get_settings(self, study_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._settings[study_id])

    def update_settings(self, study_id: int, settings: dict[str, Any]) -> None:
        self._settings[study_id] = copy.deepcopy(settings)

    def get_study_id(self, name: str) -> int | None:
        return self._studies.get(name)

    def list_studies(self) -> list[str]:
        return sorted(self._studies)

    def save_checkpoint(self, study_id: int, name: str, state: dict[str, Any]) -> None:
        if name == "algorithm":
            self.save_algorithm_state(study_id, state)
        else:
            self._checkpoints[study_id, name] = copy.deepcopy(state)

    def load_checkpoint(self, study_id: int, name: str) -> dict[str, Any] | None:
        if name == "algorithm":
            return self.load_algorithm_state(study_id)
        state = self._checkpoints.get((study_id, name))
        return copy.deepcopy(state) if state is not None else None

    def record_supernet_checkpoint(self, study_id: int, path: str, step: int,
                                   sha256: str) -> None:
        found = self._supernet.setdefault(study_id, [])
        found.append(SupernetCheckpoint(int(step), str(path), sha256, time.time()))
        found.sort(key=lambda c: (c.step, c.created))

    def list_supernet_checkpoints(self, study_id: int) -> list[SupernetCheckpoint]:
        return list(self._supernet.get(study_id, []))

    def create_trial(self, study_id: int, trial: Trial, state: dict[str, Any] | None = None,
                     seed_of: Callable[[int], int] | None = None) -> int:
        # O(1): the base class reloads every trial to find the next number (quadratic here).
        trials = self._trials[study_id]
        trial.number = next(reversed(trials)) + 1 if trials else 0  # numbers are stored in order
        if seed_of is not None:
            trial.seed = seed_of(trial.number)
        self.save_trial_and_state(study_id, trial, state)
        return trial.number

    def save_trial(self, study_id: int, trial: Trial) -> None:
        # A snapshot without the child or the study; a plain __dict__ copy is ~4x faster than
        # copy.copy, which matters at tens of thousands of trials per second.
        stored = Trial.__new__(Trial)
        stored.__dict__.update(trial.__dict__)
        stored.child, stored._study = None, None
        # Empty dicts are shared (load_trials copies them), which halves the objects kept per
        # trial and so the garbage collector's work.
        stored.metrics = dict(trial.metrics) if trial.metrics else _EMPTY
        stored.intermediate = dict(trial.intermediate) if trial.intermediate else _EMPTY
        stored.user_attrs = dict(trial.user_attrs) if trial.user_attrs else _EMPTY
        trials = self._trials[study_id]
        if trials and trial.number < next(reversed(trials)) and trial.number not in trials:
            # keep insertion order == number order (create_trial relies on it)
            trials[trial.number] = stored
            self._trials[study_id] = dict(sorted(trials.items()))
        else:
            trials[trial.number] = stored

    def load_trials(self, study_id: int) -> list[Trial]:
        out = []
        for _, t in sorted(self._trials[study_id].items()):
            loaded = Trial.__new__(Trial)
            loaded.__dict__.update(t.__dict__)
            loaded.metrics, loaded.intermediate = dict(t.metrics), dict(t.intermediate)
            loaded.user_attrs = dict(t.user_attrs)
            out.append(loaded)
        return out

    def save_algorithm_state(self, study_id: int, state: dict[str, Any]) -> None:
        self._states[study_id] = copy.deepcopy(state)

    def load_algorithm_state(self, study_id: int) -> dict[str, Any] | None:
        state = self._states.get(study_id)
        return copy.deepcopy(state) if state is not None else None
