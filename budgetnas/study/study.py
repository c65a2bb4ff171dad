"""``Study``: the ask/tell loop that runs trials of a search (Optuna's shape, PyGlove's split)."""

from __future__ import annotations

import math
import time
import traceback as tb
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from budgetnas.errors import InfeasibleBudgetError, SearchExhausted, TrialError
from budgetnas.search.base import SearchAlgorithm
from budgetnas.space import DNA, Space
from budgetnas.study.early_stopping import EarlyStoppingPolicy
from budgetnas.study.storage import BaseStorage, InMemoryStorage
from budgetnas.study.trial import Trial, TrialState

__all__ = ["Study", "TrialPruned", "sample"]


class TrialPruned(Exception):
    """Raise inside an objective to stop a trial early (after ``trial.should_stop()``)."""


class Study:
    """Runs a search: the algorithm proposes DNA, the study materialises and records trials.

    >>> space = bn.Space({"width": bn.oneof([16, 32, 64])})
    >>> study = bn.Study(space, bn.Random(seed=0))
    >>> trial = study.ask()
    >>> study.tell(trial, 0.9)

    Parameters
    ----------
    space : Space
    algorithm : SearchAlgorithm
    constraints : sequence of Constraint, optional
        Hard constraints. Infeasible proposals are rejected before a trial exists: they never
        consume the trial budget and are never trained.
    direction : {"maximize", "minimize"}
        The algorithm always maximises a reward; with "minimize" it receives ``-value``.
    storage : BaseStorage, optional
        Defaults to :class:`InMemoryStorage`.
    study_name : str
    seed : int
        Fixes the per-trial seeds (``trial.seed``), independent of workers and timing.
    early_stopping : EarlyStoppingPolicy, optional
    max_pending : int
        How many trials may be running at once (1 for a sequential loop; an executor raises it).
    max_rejections : int
        Consecutive infeasible proposals tolerated before :class:`InfeasibleBudgetError`.
    """

    def __init__(self, space: Space, algorithm: SearchAlgorithm, *,
                 constraints: Sequence[Any] = (), direction: str = "maximize",
                 storage: BaseStorage | None = None, study_name: str = "default", seed: int = 0,
                 early_stopping: EarlyStoppingPolicy | None = None, max_pending: int = 1,
                 max_rejections: int = 100_000) -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.space, self.algorithm = space, algorithm
        self.constraints = list(constraints)
        self.direction, self.seed = direction, int(seed)
        self.early_stopping = early_stopping
        self.max_pending, self.max_rejections = int(max_pending), int(max_rejections)
        self.storage = storage if storage is not None else InMemoryStorage()
        self.study_name = study_name
        self.study_id = self.storage.create_study(study_name, {"direction": direction})
        self.n_rejected = 0
        algorithm.setup(space.spec, self.constraints)
        self._trials: list[Trial] = self.storage.load_trials(self.study_id)
        self._running: dict[int, Trial] = {}
        for t in self._trials:
            t._study = self
            if t.state is TrialState.RUNNING:
                self._running[t.number] = t
        state = self.storage.load_algorithm_state(self.study_id)
        if state is not None:
            algorithm.load_state_dict(state)

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> Trial:
        """Propose, check constraints, materialise: a new running trial.

        Raises
        ------
        TrialError
            If ``max_pending`` trials are still running (neither told nor skipped).
        SearchExhausted
            When the algorithm has nothing left to propose.
        InfeasibleBudgetError
            After ``max_rejections`` infeasible proposals in a row.
        """
        running = [n for n, t in self._running.items() if t.state is TrialState.RUNNING]
        if len(running) >= self.max_pending:
            raise TrialError(
                f"trial(s) {running} are still running: call study.tell(trial, value) or "
                "study.skip(trial) before asking for another")
        dna = self._propose_feasible()
        number = len(self._trials)
        trial = Trial(number=number, dna=dna, child=self.space.materialize(dna, validate=False),
                      seed=_trial_seed(self.seed, number), _study=self)
        self._trials.append(trial)
        self._running[number] = trial
        self.storage.save_trial(self.study_id, trial)
        return trial

    def _propose_feasible(self) -> DNA:
        for _ in range(self.max_rejections):
            dna = self.algorithm.propose()
            if not self.constraints or self._feasible(dna):
                return dna
            self.n_rejected += 1
        raise InfeasibleBudgetError(
            f"{self.max_rejections:,} proposals in a row broke the constraints "
            f"({', '.join(map(str, self.constraints))}): the estimated feasible fraction is below "
            f"{1 / self.max_rejections:.1e}. Raise the budget or use an algorithm that samples under it.")

    def _feasible(self, dna: DNA) -> bool:
        x = self.space.to_vector(dna)[None]
        return all(bool(np.asarray(c.feasible_batch(x))[0]) for c in self.constraints)

    def tell(self, trial: Trial, value: float | Mapping[str, Any] | None = None,
             state: TrialState | str = TrialState.COMPLETE) -> None:
        """Finish a trial with its value (or a metrics dict with ``"reward"`` or ``"value"``)."""
        state = TrialState(state)
        if trial.state is not TrialState.RUNNING:
            raise TrialError(f"trial {trial.number} is already {trial.state.value}")
        metrics: dict[str, Any] = {}
        if isinstance(value, Mapping):
            metrics = dict(value)
            key = "reward" if "reward" in metrics else "value" if "value" in metrics else None
            if key is None and state is TrialState.COMPLETE:
                raise ValueError(f"a metrics dict needs a 'reward' or 'value' key, got {sorted(metrics)}")
            value = metrics.get(key) if key else None
        if state is TrialState.COMPLETE and (value is None or not math.isfinite(float(value))):
            raise ValueError(f"a complete trial needs a finite value, got {value!r}; "
                             "use study.fail(trial, ...) or study.skip(trial)")
        trial.value = None if value is None else float(value)
        trial.metrics, trial.state = metrics, state
        trial.datetime_complete = time.time()
        if trial.value is not None and state in (TrialState.COMPLETE, TrialState.PRUNED):
            sign = 1.0 if self.direction == "maximize" else -1.0
            self.algorithm.feedback(trial.dna, {**metrics, "reward": sign * trial.value})
        self._persist(trial)

    def skip(self, trial: Trial, reason: str = "") -> None:
        """Mark a trial invalid/infeasible: recorded, never fed back, not counted as evaluated."""
        trial.error = reason or None
        self.tell(trial, None, TrialState.SKIPPED)

    def fail(self, trial: Trial, exc: BaseException) -> None:
        """Mark a trial failed, keeping the exception and its traceback."""
        trial.error = f"{type(exc).__name__}: {exc}"
        trial.traceback = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        self.tell(trial, None, TrialState.FAILED)

    def _persist(self, trial: Trial) -> None:
        self._running.pop(trial.number, None)
        self.storage.save_trial(self.study_id, trial)
        if self.storage.persistent:  # an in-memory store cannot outlive the algorithm anyway
            self.storage.save_algorithm_state(self.study_id, self.algorithm.state_dict())

    # ------------------------------------------------------------------ early stopping
    def _on_report(self, trial: Trial) -> None:
        self.storage.save_trial(self.study_id, trial)

    def _should_stop(self, trial: Trial) -> bool:
        if self.early_stopping is None:
            return False
        step = max(trial.intermediate)
        sign = 1.0 if self.direction == "maximize" else -1.0
        peers = [sign * t.intermediate[step] for t in self._trials
                 if t is not trial and step in t.intermediate]
        return self.early_stopping.should_stop(step, sign * trial.intermediate[step], peers)

    # ------------------------------------------------------------------ loops
    def optimize(self, objective: Callable[[Trial], float | Mapping[str, Any]],
                 n_trials: int | None = None, timeout: float | None = None,
                 catch: tuple[type[BaseException], ...] = (Exception,)) -> None:
        """Run ``objective(trial)`` until ``n_trials`` more trials finish, ``timeout`` seconds
        pass, or the algorithm is exhausted. Skipped trials do not count towards ``n_trials``.

        An exception in ``catch`` marks the trial failed and the loop goes on; others propagate
        (the trial is marked failed first). :class:`TrialPruned` ends a trial as pruned.
        """
        if n_trials is None and timeout is None:
            raise ValueError("give n_trials or timeout, or the loop would not end")
        start, done = time.monotonic(), 0
        while n_trials is None or done < n_trials:
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            try:
                trial = self.ask()
            except SearchExhausted:
                break
            done += self._run_one(objective, trial, catch)

    def _run_one(self, objective: Callable, trial: Trial,
                 catch: tuple[type[BaseException], ...]) -> int:
        try:
            value = objective(trial)
        except TrialPruned:
            last = trial.intermediate[max(trial.intermediate)] if trial.intermediate else None
            self.tell(trial, last, TrialState.PRUNED)
            return 1
        except catch as exc:
            self.fail(trial, exc)
            return 1
        except BaseException as exc:
            self.fail(trial, exc)
            raise
        if trial.state is TrialState.RUNNING:
            self.tell(trial, value)
        return 0 if trial.state is TrialState.SKIPPED else 1

    # ------------------------------------------------------------------ results
    @property
    def trials(self) -> list[Trial]:
        return list(self._trials)

    def completed_trials(self) -> list[Trial]:
        return [t for t in self._trials if t.state is TrialState.COMPLETE]

    def top_k(self, k: int) -> list[Trial]:
        """The k best complete trials, best first."""
        reverse = self.direction == "maximize"
        return sorted(self.completed_trials(), key=lambda t: t.value, reverse=reverse)[:k]

    @property
    def best_trial(self) -> Trial:
        """The best complete trial. Raises ``ValueError`` when none is complete."""
        best = self.top_k(1)
        if not best:
            raise ValueError("no complete trial yet")
        return best[0]

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: number, state, value, dna (JSON), duration, one column per decision
        point (``"dp:<name>"``, candidate index or float, NaN when inactive) and the metrics."""
        names = self.space.spec.names
        rows = []
        for t in self._trials:
            vec = self.space.to_vector(t.dna).astype(float)
            vec[vec < 0] = np.nan
            row = {"number": t.number, "state": t.state.value, "value": t.value,
                   "dna": t.dna.to_json(), "duration": t.duration}
            row.update({f"dp:{n}": v for n, v in zip(names, vec)})
            row.update({k: v for k, v in t.metrics.items() if np.isscalar(v)})
            rows.append(row)
        return pd.DataFrame(rows)


def sample(space: Space, algorithm: SearchAlgorithm, num_trials: int | None = None, *,
           constraints: Sequence[Any] = (), study: Study | None = None
           ) -> Iterator[tuple[Any, Trial]]:
    """Iterate ``(child, trial)`` pairs; finish each with ``study.tell`` / ``trial.study``.

    >>> for child, trial in bn.sample(space, bn.Random(seed=0), num_trials=10):
    ...     trial.tell(score(child))

    The next iteration raises :class:`TrialError` if the body neither told nor skipped the trial:
    the same trial is never re-yielded (PyGlove re-yields it forever, papers.md §1).
    """
    study = study or Study(space, algorithm, constraints=constraints)
    count = 0
    while num_trials is None or count < num_trials:
        try:
            trial = study.ask()
        except SearchExhausted:
            return
        yield trial.child, trial
        if trial.state is not TrialState.SKIPPED:
            count += 1


def _trial_seed(study_seed: int, number: int) -> int:
    """A per-trial seed from (study seed, trial number) alone, so workers cannot change it.

    SplitMix64's finaliser: cheap, and well mixed for neighbouring numbers."""
    z = (study_seed * 0x9E3779B97F4A7C15 + number + 1) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & 0x7FFFFFFF


_MASK64 = (1 << 64) - 1
