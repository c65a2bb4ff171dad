"""A local process pool: ``workers`` processes started with forkserver (or spawn)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from budgetnas.executor.base import Executor

__all__ = ["ProcessPoolTrialExecutor"]


class ProcessPoolTrialExecutor(Executor):
    """Runs trials in ``workers`` local processes (``concurrent.futures.ProcessPoolExecutor``).

    Processes are started with ``forkserver`` where the platform has it, else ``spawn``: never
    ``fork``, which copies a driver's threads and locks (PyTorch's, SQLite's) into a
    child in an undefined state. The objective and the child must therefore be picklable: a
    module-level function, not a lambda or a closure.

    A worker that dies breaks the whole pool (every running call fails); :meth:`recover`
    replaces it, and retries run ``isolated`` in a separate single-process pool, one at a time,
    so a second crash is blamed on the right trial.

    Parameters
    ----------
    workers : int
        Number of processes (>= 1).
    start_method : {"forkserver", "spawn"}, optional
    """

    name = "process"

    def __init__(self, workers: int = 2, start_method: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        methods = mp.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        if start_method not in ("forkserver", "spawn") or start_method not in methods:
            raise ValueError(f"start_method must be one of {sorted(set(methods) - {'fork'})} "
                             f"(fork is unsafe with torch and SQLite), got {start_method!r}")
        self.max_workers = int(workers)
        self._ctx = mp.get_context(start_method)
        if start_method == "forkserver":
            # Workers fork from a server that has budgetnas imported: each starts in
            # milliseconds instead of re-importing numpy/pandas (effective if the server is
            # not yet running in this process).
            self._ctx.set_forkserver_preload(["budgetnas.executor.payload"])
        self._pool = self._new_pool(self.max_workers)
        self._isolated: ProcessPoolExecutor | None = None

    def _new_pool(self, n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=n, mp_context=self._ctx)

    def submit(self, fn: Callable[..., Any], *args: Any, isolated: bool = False) -> Future:
        # A crash may break the pool before the runner has seen its failed futures: replace
        # a broken pool here too.
        self.recover()
        if isolated:
            if self._isolated is None:
                self._isolated = self._new_pool(1)
            pool = self._isolated
        else:
            pool = self._pool
        try:
            return pool.submit(fn, *args)
        except BrokenProcessPool:  # broke between the check and the submit
            self.recover()
            return self.submit(fn, *args, isolated=isolated)

    def is_crash(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def recover(self) -> None:
        if _broken(self._pool):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool(self.max_workers)
        if self._isolated is not None and _broken(self._isolated):
            self._isolated.shutdown(wait=False, cancel_futures=True)
            self._isolated = None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._isolated is not None:
            self._isolated.shutdown(wait=True, cancel_futures=True)


def _broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False))
