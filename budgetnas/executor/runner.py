"""The driver loop for parallel trials: ask from the study, run on an executor, tell the study."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from budgetnas.errors import SearchExhausted
from budgetnas.executor.base import Executor
from budgetnas.executor.inprocess import InProcessExecutor
from budgetnas.executor.payload import Outcome, TrialPayload, execute_payload
from budgetnas.executor.pool import ProcessPoolTrialExecutor
from budgetnas.study.study import Study
from budgetnas.study.trial import Trial, TrialState

__all__ = ["make_executor", "run_trials"]


def make_executor(executor: str | Executor | None = None, *, workers: int = 1,
                  ray_address: str | None = None) -> Executor:
    """An executor from its name: ``None``/``"inprocess"``, ``"process"``, or ``"ray"``.

    ``executor=None`` with ``workers > 1`` gives a local process pool.

    Raises
    ------
    ValueError
        For an unknown name, or ``workers < 1``.
    ImportError
        For ``"ray"`` when Ray is not installed (install the extra ``budgetnas[ray]``).
    """
    if isinstance(executor, Executor):
        return executor
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    name = executor or ("process" if workers > 1 else "inprocess")
    if name in ("inprocess", "in-process", "local"):
        if workers != 1:
            raise ValueError(f"the in-process executor runs one trial at a time, got workers={workers}; "
                             "use executor='process' or 'ray' for parallel trials")
        return InProcessExecutor()
    if name in ("process", "pool", "processes"):
        return ProcessPoolTrialExecutor(workers)
    if name == "ray":
        from budgetnas.executor.ray_executor import RayExecutor

        return RayExecutor(workers if workers > 1 or ray_address is None else None, ray_address)
    raise ValueError(f"unknown executor {name!r}: expected 'inprocess', 'process' or 'ray'")


@dataclass
class _Job:
    trial: Trial
    payload: TrialPayload
    attempt: int
    isolated: bool


def run_trials(study: Study, objective: Callable[[TrialPayload], Any], executor: Executor, *,
               n_trials: int | None = None, timeout: float | None = None,
               catch: tuple[type[BaseException], ...] = (Exception,),
               max_trials: int | None = None) -> int:
    """Run trials of ``study`` on ``executor`` until ``n_trials`` more finish, the study holds
    ``max_trials`` finished trials, ``timeout`` seconds pass (running trials are waited for)
    or the algorithm is exhausted. Returns how many trials finished here.

    Trials are asked in order from the driver's study, so the DNA and the per-trial seeds are
    the same for any number of workers. A trial whose worker dies is retried once (isolated,
    on the same number, DNA and seed), then marked failed with :class:`WorkerCrashedError`.
    An objective's exception in ``catch`` marks its trial failed; any other is raised after
    the trial is marked failed.
    """
    if n_trials is None and timeout is None and max_trials is None:
        raise ValueError("give n_trials, max_trials or timeout, or the loop would not end")
    # The runner bounds its own trials in flight (workers, plus crashed ones awaiting a retry).
    saved_pending, study.max_pending = study.max_pending, 1 << 30
    try:
        return _run(study, objective, executor, n_trials, timeout, catch, max_trials)
    finally:
        study.max_pending = saved_pending


def _run(study: Study, objective: Callable[[TrialPayload], Any], executor: Executor,
         n_trials: int | None, timeout: float | None, catch: tuple[type[BaseException], ...],
         max_trials: int | None) -> int:
    start, done, base = time.monotonic(), 0, study.n_finished()
    in_flight: dict[Future, _Job] = {}
    retries: collections.deque[_Job] = collections.deque()
    exhausted = False

    def may_start() -> bool:
        running = len(in_flight) + len(retries)
        if n_trials is not None and done + running >= n_trials:
            return False
        if max_trials is not None and base + done + running >= max_trials:
            return False
        return not exhausted and (timeout is None or time.monotonic() - start < timeout)

    while True:
        while sum(not j.isolated for j in in_flight.values()) < executor.max_workers and may_start():
            try:
                trial = study.ask()
            except SearchExhausted:
                exhausted = True
                break
            job = _Job(trial, TrialPayload.from_trial(trial), 1, False)
            in_flight[executor.submit(execute_payload, objective, job.payload)] = job
        if retries and not any(j.isolated for j in in_flight.values()):
            job = retries.popleft()
            job.attempt, job.isolated = job.attempt + 1, True
            in_flight[executor.submit(execute_payload, objective, job.payload, isolated=True)] = job
        if not in_flight:
            break
        finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        for future in finished:
            job = in_flight.pop(future)
            try:
                outcome = future.result()
            except BaseException as exc:
                if not executor.is_crash(exc):
                    _fail(study, job.trial, f"{type(exc).__name__}: {exc}", None)
                    raise
                executor.recover()
                if job.attempt == 1:
                    retries.append(job)
                    continue
                _fail(study, job.trial, f"WorkerCrashedError: the worker died twice running "
                      f"trial {job.trial.number} ({type(exc).__name__}: {exc})", None)
                done += 1
                continue
            done += _apply(study, job.trial, outcome, catch)
    return done


def _apply(study: Study, trial: Trial, out: Outcome,
           catch: tuple[type[BaseException], ...]) -> int:
    """Record a worker's outcome on the trial; returns 1 if it counts towards the budget."""
    trial.intermediate.update(out.intermediate)
    trial.user_attrs.update(out.user_attrs)
    if out.kind == "skipped":
        study.skip(trial, out.error or "")
        return 0
    if out.kind == "pruned":
        last = trial.intermediate[max(trial.intermediate)] if trial.intermediate else None
        study.tell(trial, last, TrialState.PRUNED)
        return 1
    if out.kind == "error":
        _fail(study, trial, out.error or "error", out.traceback)
        exc = out.exception
        if exc is not None and not isinstance(exc, catch):
            raise exc
        return 1
    try:
        study.tell(trial, out.value)
    except (ValueError, TypeError) as exc:  # not a finite value nor a metrics dict
        _fail(study, trial, f"{type(exc).__name__}: {exc}", None)
        if not isinstance(exc, catch):
            raise
    return 1


def _fail(study: Study, trial: Trial, error: str, traceback: str | None) -> None:
    if trial.state is not TrialState.RUNNING:
        return
    trial.error, trial.traceback = error, traceback
    study.tell(trial, None, TrialState.FAILED)
