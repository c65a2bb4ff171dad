"""The executor interface: run a function on a trial payload somewhere, get a future back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["Executor"]


class Executor(ABC):
    """Runs trials' objectives for :func:`budgetnas.executor.run_trials`.

    Attributes
    ----------
    max_workers : int
        How many trials run at once.
    name : str
        ``"inprocess"``, ``"process"`` or ``"ray"``.
    """

    max_workers: int = 1
    name: str = "executor"

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any, isolated: bool = False) -> Future:
        """Start ``fn(*args)``; return a future of its result.

        ``isolated=True`` asks to run it where a crash can be blamed on it alone (a retry after
        a worker crash); the runner keeps at most one isolated call in flight.
        """

    def is_crash(self, exc: BaseException) -> bool:
        """Whether ``exc`` (raised by a future) means the worker died rather than the objective
        failing."""
        return False

    def recover(self) -> None:
        """Make the executor usable again after a crash (e.g. replace a broken process pool)."""
        return None

    def shutdown(self) -> None:
        """Release workers (waits for running calls)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
