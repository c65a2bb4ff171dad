"""The Ray executor: trials as Ray tasks on a local or remote cluster (extra ``budgetnas[ray]``).

Experimental: tested on a local cluster only.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from budgetnas.executor.base import Executor

__all__ = ["RayExecutor"]


class RayExecutor(Executor):
    """Runs each trial as a Ray task (Moritz et al., 2018), on ``ray_address`` or a local cluster.

    Parameters
    ----------
    workers : int, optional
        Trials in flight at once; defaults to the cluster's CPUs / ``num_cpus_per_trial``.
        When this executor starts a local cluster, it gets ``workers`` CPUs.
    ray_address : str, optional
        An existing cluster (``"auto"``, ``"ray://host:10001"``); None starts a local one
        (or reuses the one this process already joined).
    num_cpus_per_trial : float
        CPUs Ray reserves for each trial.

    Raises
    ------
    ImportError
        When Ray is not installed (``pip install 'budgetnas[ray]'``).

    Notes
    -----
    Ray's own retries are off (``max_retries=0``): the runner retries a crashed trial once,
    then marks it failed, the same for every executor.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, ray_address: str | None = None,
                 num_cpus_per_trial: float = 1.0, **init_kwargs: Any) -> None:
        ray = _import_ray()
        self._owns = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                                      **init_kwargs}
            if ray_address is None and workers is not None:
                kwargs.setdefault("num_cpus", int(workers * num_cpus_per_trial))
            ray.init(address=ray_address, **kwargs)
            self._owns = True
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.max_workers = int(workers or max(1, int(cpus // num_cpus_per_trial)))
        self._ray = ray
        self._num_cpus = num_cpus_per_trial
        self._remote_fns: dict[Callable, Any] = {}

    def submit(self, fn: Callable[..., Any], *args: Any, isolated: bool = False) -> Future:
        remote = self._remote_fns.get(fn)
        if remote is None:
            remote = self._ray.remote(max_retries=0, num_cpus=self._num_cpus)(fn)
            self._remote_fns[fn] = remote
        return remote.remote(*args).future()

    def is_crash(self, exc: BaseException) -> bool:
        ex = self._ray.exceptions
        crash = tuple(getattr(ex, n) for n in ("WorkerCrashedError", "NodeDiedError",
                                               "LocalRayletDiedError", "RayActorError",
                                               "ObjectLostError", "OutOfMemoryError")
                      if hasattr(ex, n))
        return isinstance(exc, crash)

    def shutdown(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "the Ray executor needs Ray, which is not installed: pip install 'budgetnas[ray]' "
            f"(or pip install 'ray[default]'); original error: {exc}") from exc
    return ray
