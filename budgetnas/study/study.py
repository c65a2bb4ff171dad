"""``Study``: the ask/tell loop that runs trials of a search (Optuna's shape, PyGlove's split)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
import traceback as tb
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from budgetnas.errors import (
    InfeasibleBudgetError,
    SearchExhausted,
    SettingsMismatchError,
    TrialError,
)
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
    settings : mapping, optional
        Extra JSON-able settings of the run (e.g. the command-line arguments), stored with the
        study next to the direction, seed, algorithm and a fingerprint of the space.
    force : bool
        Resume a stored study even if its settings differ (the stored settings are replaced).
    worker : str, optional
        This driver's name, recorded on its trials; defaults to ``"<hostname>:<pid>"``.

    Notes
    -----
    Resume: a study created again on a persistent store with the same ``study_name`` continues.
    Finished trials are kept; the algorithm's state is restored from the store (it is saved in the
    same transaction as each trial, after ``propose`` and after ``feedback``); a trial left
    running by a dead driver is handed out again by the next :meth:`ask` -- same number, DNA and
    seed -- once; if it is interrupted again it is marked failed. Trials left running by a live
    process (another driver sharing the study) are left alone.

    Raises
    ------
    SettingsMismatchError
        When the stored study was created with other settings and ``force`` is False.
    """

    def __init__(self, space: Space, algorithm: SearchAlgorithm, *,
                 constraints: Sequence[Any] = (), direction: str = "maximize",
                 storage: BaseStorage | None = None, study_name: str = "default", seed: int = 0,
                 early_stopping: EarlyStoppingPolicy | None = None, max_pending: int = 1,
                 max_rejections: int = 100_000, settings: Mapping[str, Any] | None = None,
                 force: bool = False, worker: str | None = None) -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.space, self.algorithm = space, algorithm
        self.constraints = list(constraints)
        self.direction, self.seed = direction, int(seed)
        self.early_stopping = early_stopping
        self.max_pending, self.max_rejections = int(max_pending), int(max_rejections)
        self.storage = storage if storage is not None else InMemoryStorage()
        self.study_name = study_name
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.settings = self._make_settings(settings)
        self.study_id = self.storage.create_study(study_name, self.settings)
        self._check_settings(force)
        self.n_rejected = 0
        algorithm.setup(space.spec, self.constraints)
        self._trials: list[Trial] = self.storage.load_trials(self.study_id)
        self._running: dict[int, Trial] = {}
        self._interrupted: list[Trial] = []  # left running by a dead driver: re-run first
        for t in self._trials:
            t._study = self
            if t.state is TrialState.RUNNING and self._was_interrupted(t):
                self._interrupted.append(t)
        state = self.storage.load_algorithm_state(self.study_id)
        if state is not None:
            algorithm.load_state_dict(state)

    # ------------------------------------------------------------------ settings / resume
    def _make_settings(self, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        settings = {"direction": self.direction, "seed": self.seed,
                    "algorithm": type(self.algorithm).__name__,
                    "space": _space_fingerprint(self.space)}
        if extra:
            settings.update(json.loads(json.dumps(dict(extra))))  # JSON-normalised, comparable
        return settings

    def _check_settings(self, force: bool) -> None:
        stored = self.storage.get_settings(self.study_id)
        if stored == self.settings:
            return
        diff = {k: (stored.get(k, "<unset>"), self.settings.get(k, "<unset>"))
                for k in sorted(set(stored) | set(self.settings))
                if stored.get(k, "<unset>") != self.settings.get(k, "<unset>")}
        if not force:
            shown = "; ".join(f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in diff.items())
            raise SettingsMismatchError(
                f"study {self.study_name!r} was created with other settings ({shown}). Resume "
                "with the original settings, use another study name or run directory, or pass "
                "force=True (--force) to continue with the new settings.")
        self.storage.update_settings(self.study_id, self.settings)

    def _was_interrupted(self, trial: Trial) -> bool:
        """Whether a stored running trial belongs to a driver that is gone (so we re-run it)."""
        owner = getattr(trial, "worker", None)
        if owner is None or owner == self.worker:
            return True
        host, _, pid = owner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return False  # another machine's driver: it may be alive, leave its trial alone
        return not _pid_alive(int(pid))

    def refresh(self) -> None:
        """Reload the trials from the store (to see trials that other drivers sharing the study
        finished); trials this driver is running keep their live objects."""
        live = {t.number: t for t in [*self._running.values(), *self._interrupted]}
        trials = self.storage.load_trials(self.study_id)
        for i, t in enumerate(trials):
            if t.number in live:
                trials[i] = live[t.number]
            else:
                t._study = self
        self._trials = trials

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
        while self._interrupted:
            trial = self._resume_interrupted(self._interrupted.pop(0))
            if trial is not None:
                return trial
        dna = self._propose_feasible()
        # Validated: an algorithm is a plugin, and a DNA of the wrong length would otherwise
        # build a garbled child or leak StopIteration (a few microseconds on the 12-decision space).
        trial = Trial(number=-1, dna=dna, child=self.space.materialize(dna), _study=self)
        trial.worker = self.worker
        state = self.algorithm.state_dict() if self.storage.persistent else None
        # Number, seed, trial and the post-propose state in one transaction: a crash right after
        # re-runs this trial on resume instead of proposing another one.
        self.storage.create_trial(self.study_id, trial, state,
                                  seed_of=lambda n: _trial_seed(self.seed, n))
        self._trials.append(trial)
        self._running[trial.number] = trial
        return trial

    def _resume_interrupted(self, trial: Trial) -> Trial | None:
        attempt = self.storage.record_attempt(self.study_id, trial.number)
        if attempt > 2:  # already re-run once and interrupted again: do not loop forever
            trial.error = (f"InterruptedError: the run stopped {attempt - 1} times while this "
                           "trial was running; it is not re-run again")
            trial.worker = self.worker
            self.tell(trial, None, TrialState.FAILED)
            return None
        trial.child = self.space.materialize(trial.dna, validate=False)
        trial.worker, trial._study = self.worker, self
        trial.intermediate = {}
        self._running[trial.number] = trial
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
        state = state if type(state) is TrialState else TrialState(state)
        self._check_running(trial)
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

    def _check_running(self, trial: Trial) -> None:
        if trial._study is not None and trial._study is not self:
            raise TrialError(f"trial {trial.number} belongs to another study; tell that study")
        if trial.state is not TrialState.RUNNING:
            raise TrialError(f"trial {trial.number} is already {trial.state.value}")

    def skip(self, trial: Trial, reason: str = "") -> None:
        """Mark a trial invalid/infeasible: recorded, never fed back, not counted as evaluated."""
        self._check_running(trial)  # before touching the trial: a finished one stays as it was
        trial.error = reason or None
        self.tell(trial, None, TrialState.SKIPPED)

    def fail(self, trial: Trial, exc: BaseException) -> None:
        """Mark a trial failed, keeping the exception and its traceback."""
        self._check_running(trial)
        trial.error = f"{type(exc).__name__}: {exc}"
        trial.traceback = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
        self.tell(trial, None, TrialState.FAILED)

    def _persist(self, trial: Trial) -> None:
        self._running.pop(trial.number, None)
        # An in-memory store cannot outlive the algorithm anyway; a persistent one gets the
        # post-feedback state in the same transaction as the finished trial.
        state = self.algorithm.state_dict() if self.storage.persistent else None
        self.storage.save_trial_and_state(self.study_id, trial, state)

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
        # Policies see "higher is better" values; thresholds given in the study's units are
        # flipped with them (StopByValue reads ``sign``).
        value = sign * trial.intermediate[step]
        decide = getattr(self.early_stopping, "decide", None)
        if decide is None:  # a duck-typed policy with should_stop only
            return bool(self.early_stopping.should_stop(step, value, peers))
        return bool(decide(step, value, peers, sign))

    # ------------------------------------------------------------------ loops
    def optimize(self, objective: Callable[[Trial], float | Mapping[str, Any]],
                 n_trials: int | None = None, timeout: float | None = None,
                 catch: tuple[type[BaseException], ...] = (Exception,), *,
                 max_trials: int | None = None, executor: Any = None, workers: int = 1,
                 ray_address: str | None = None) -> None:
        """Run ``objective(trial)`` until ``n_trials`` more trials finish, the study holds
        ``max_trials`` finished trials in all (what a resumed run wants), ``timeout`` seconds
        pass, or the algorithm is exhausted. Skipped trials count towards neither.

        An exception in ``catch`` marks the trial failed and the loop goes on; others propagate
        (the trial is marked failed first). :class:`TrialPruned` ends a trial as pruned.

        ``executor`` (``"inprocess"``, ``"process"``, ``"ray"`` or a
        :class:`budgetnas.executor.Executor`) and ``workers`` run trials in parallel: the
        objective then receives a :class:`budgetnas.executor.TrialPayload` (number, dna, child,
        seed, report) in a worker; the study stays here. See :func:`budgetnas.executor.run_trials`.
        """
        if n_trials is None and timeout is None and max_trials is None:
            raise ValueError("give n_trials, max_trials or timeout, or the loop would not end")
        if executor is not None or workers != 1:
            from budgetnas.executor import Executor, make_executor, run_trials  # imports study

            ex = make_executor(executor, workers=workers, ray_address=ray_address)
            try:
                run_trials(self, objective, ex, n_trials=n_trials, timeout=timeout, catch=catch,
                           max_trials=max_trials)
            finally:
                if not isinstance(executor, Executor):  # the caller's executor stays open
                    ex.shutdown()
            return
        start, done = time.monotonic(), 0
        base = self.n_finished()
        while n_trials is None or done < n_trials:
            if max_trials is not None and base + done >= max_trials:
                break
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
            try:
                self.tell(trial, value)
            except ValueError as exc:  # None / NaN / a dict without a reward: a failed trial,
                self.fail(trial, exc)  # never one left running (the next ask would refuse)
                if not isinstance(exc, catch):
                    raise
        return 0 if trial.state is TrialState.SKIPPED else 1

    # ------------------------------------------------------------------ results
    @property
    def trials(self) -> list[Trial]:
        return list(self._trials)

    def n_finished(self) -> int:
        """Trials that finished and count towards a budget (all but running and skipped)."""
        return sum(1 for t in self._trials
                   if t.state is not TrialState.RUNNING and t.state is not TrialState.SKIPPED)

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
        choice_cols = np.array([d.kind == "choice" for d in self.space.decision_points])
        rows = []
        for t in self._trials:
            vec = self.space.to_vector(t.dna).astype(float)
            vec[choice_cols & (vec < 0)] = np.nan  # inactive choices; a float may be < 0
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


def _space_fingerprint(space: Space) -> str:
    """A short hash of the space's decision points (names, kinds, sizes, bounds, nesting)."""
    rows = [[d.name, d.kind, d.num_choices, d.low, d.high, d.scale, d.parent, d.parent_choice]
            for d in space.spec.decision_points]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
