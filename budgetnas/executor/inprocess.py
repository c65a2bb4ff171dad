"""The in-process executor: runs each call at once in the driver (the default)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from budgetnas.executor.base import Executor

__all__ = ["InProcessExecutor"]


class InProcessExecutor(Executor):
    """Runs ``fn(*args)`` synchronously in this process and returns a finished future."""

    name = "inprocess"

    def __init__(self) -> None:
        self.max_workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any, isolated: bool = False) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - delivered through the future, like a pool
            future.set_exception(exc)
        return future
