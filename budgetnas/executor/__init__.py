"""Executors: where trials run -- in this process, a local process pool, or a Ray cluster.

The study stays in the driver; only a :class:`TrialPayload` (number, DNA, child, seed) travels.
"""

from budgetnas.errors import WorkerCrashedError
from budgetnas.executor.base import Executor
from budgetnas.executor.inprocess import InProcessExecutor
from budgetnas.executor.payload import Outcome, TrialPayload, execute_payload
from budgetnas.executor.pool import ProcessPoolTrialExecutor
from budgetnas.executor.runner import make_executor, run_trials

__all__ = ["Executor", "InProcessExecutor", "Outcome", "ProcessPoolTrialExecutor",
           "RayExecutor", "TrialPayload", "WorkerCrashedError", "execute_payload",
           "make_executor", "run_trials"]


def __getattr__(name: str):  # RayExecutor imports lazily: Ray is an optional extra
    if name == "RayExecutor":
        from budgetnas.executor.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'budgetnas.executor' has no attribute {name!r}")
