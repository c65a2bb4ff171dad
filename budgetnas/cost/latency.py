"""Latency measured on this machine: PyTorch eager or ONNX Runtime, a distribution, never one timing.

Example
-------
>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
>>> res = measure_latency(net, LatencySettings(input_size=(3, 2, 2), warmup=2, repeats=5))
>>> res.n, res.iqr_ms >= 0
(5, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.cost.base import CostModel, as_batch
from budgetnas.errors import CostError

BACKENDS = ("torch", "onnxruntime")


@dataclasses.dataclass(frozen=True)
class LatencySettings:
    """How a latency is measured.

    Parameters
    ----------
    batch_size : int
        Examples per forward pass.
    input_size : tuple of int
        One example's shape, without the batch dimension (C, H, W for images, (F,) for tabular).
    threads : int
        Intra-op threads (``torch.set_num_threads`` / ONNX Runtime ``intra_op_num_threads``).
    warmup : int
        Untimed forward passes before timing (allocator, caches, lazy init).
    repeats : int
        Timed forward passes; every one is kept in the result.
    backend : {"torch", "onnxruntime"}
        PyTorch eager under ``torch.inference_mode``, or ONNX Runtime on the CPU provider.

    Raises
    ------
    CostError
        On a non-positive size, thread count or repeat count, or an unknown backend.
    """

    batch_size: int = 1
    input_size: tuple[int, ...] = (3, 224, 224)
    threads: int = 1
    warmup: int = 10
    repeats: int = 50
    backend: str = "torch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(s) for s in self.input_size))
        if self.batch_size < 1 or self.threads < 1 or self.repeats < 1 or self.warmup < 0:
            raise CostError(f"LatencySettings needs batch_size, threads, repeats >= 1 and "
                            f"warmup >= 0, got {self}")
        if not self.input_size or min(self.input_size) < 1:
            raise CostError(f"input_size must be a non-empty shape of positive sizes, "
                            f"got {self.input_size}")
        if self.backend not in BACKENDS:
            raise CostError(f"unknown latency backend {self.backend!r}; expected one of {BACKENDS}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencySettings:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "input_size": tuple(d["input_size"])})

    def key(self) -> str:
        """Stable string identity, used as part of cache keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass(frozen=True)
class LatencyResult:
    """The distribution of repeated latency measurements of one model, in milliseconds.

    Attributes
    ----------
    median_ms, iqr_ms, p10, p90, mean : float
        Median, interquartile range (p75 - p25), 10th and 90th percentiles, mean (ms per forward
        pass of ``settings.batch_size`` examples, on this machine).
    n : int
        Number of timed passes (``settings.repeats``).
    settings : LatencySettings
    samples : tuple of float
        Every timing, in order.
    """

    median_ms: float
    iqr_ms: float
    p10: float
    p90: float
    mean: float
    n: int
    settings: LatencySettings
    samples: tuple[float, ...]

    @classmethod
    def from_samples(cls, samples: Any, settings: LatencySettings) -> LatencyResult:
        """Summarise timings (ms) taken under ``settings``."""
        s = np.asarray(samples, dtype=np.float64).reshape(-1)
        if s.size == 0:
            raise CostError("a latency result needs at least one timing")
        p10, p25, p50, p75, p90 = np.percentile(s, [10, 25, 50, 75, 90])
        return cls(median_ms=float(p50), iqr_ms=float(p75 - p25), p10=float(p10), p90=float(p90),
                   mean=float(s.mean()), n=int(s.size), settings=settings,
                   samples=tuple(float(v) for v in s))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (settings nested)."""
        d = dataclasses.asdict(self)
        d["settings"] = self.settings.to_dict()
        d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "settings": LatencySettings.from_dict(d["settings"]),
                      "samples": tuple(d["samples"])})


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _example_input(settings: LatencySettings) -> Any:
    import torch

    gen = torch.Generator().manual_seed(0)
    return torch.randn((settings.batch_size, *settings.input_size), generator=gen)


def _time_calls(fn: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def _measure_torch(module: Any, x: Any, settings: LatencySettings) -> list[float]:
    import torch

    with _torch_threads(settings.threads), torch.inference_mode():
        return _time_calls(lambda: module(x), settings.warmup, settings.repeats)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("latency backend 'onnxruntime' needs ONNX Runtime and the ONNX exporter: "
                          "pip install 'budgetnas[onnx]'") from exc
    return onnxruntime


def export_onnx(module: Any, x: Any, path: str | os.PathLike[str]) -> Path:
    """Export ``module`` on example input ``x`` to an ONNX file; returns its path.

    Uses the torch.export-based exporter (the default since PyTorch 2.9) and falls back to the
    TorchScript exporter for modules it cannot trace.

    Raises
    ------
    ImportError
        When the ``onnx`` package is missing (install ``budgetnas[onnx]``).
    """
    import torch

    try:
        import onnx  # noqa: F401  (both exporters need it)
    except ImportError as exc:
        raise ImportError("exporting to ONNX needs the onnx package: "
                          "pip install 'budgetnas[onnx]'") from exc
    path = Path(path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (x,), str(path), dynamo=True, verbose=False)
        except Exception:  # noqa: BLE001  (any tracing failure: retry with the older exporter)
            torch.onnx.export(module, (x,), str(path), dynamo=False)
    return path


def _measure_onnxruntime(module: Any, x: Any, settings: LatencySettings) -> list[float]:
    ort = _import_onnxruntime()
    with tempfile.TemporaryDirectory(prefix="budgetnas-onnx-") as tmp:
        path = export_onnx(module, x, Path(tmp) / "model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = settings.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    return _time_calls(lambda: session.run(None, feed), settings.warmup, settings.repeats)


def measure_latency(module: Any, settings: LatencySettings | None = None) -> LatencyResult:
    """Measure the forward latency of ``module`` on this machine, ``settings.repeats`` times.

    Parameters
    ----------
    module : torch.nn.Module
        Put in eval mode for the measurement (and restored after).
    settings : LatencySettings, optional
        Defaults to batch 1, input (3, 224, 224), 1 thread, 10 warm-up and 50 timed passes, torch.

    Returns
    -------
    LatencyResult
        Median, IQR, p10/p90 and mean in ms per forward pass, with every sample.

    Raises
    ------
    ImportError
        For ``backend="onnxruntime"`` without ONNX Runtime (install ``budgetnas[onnx]``).

    Notes
    -----
    On-device measurement is what TuNAS (Bender et al. 2020, §3.3) fits its latency model to; a
    median over repeats resists the outliers of a shared machine better than one timing or a mean.
    """
    settings = settings or LatencySettings()
    x = _example_input(settings)
    was_training = bool(getattr(module, "training", False))
    module.eval()
    try:
        if settings.backend == "torch":
            samples = _measure_torch(module, x, settings)
        else:
            samples = _measure_onnxruntime(module, x, settings)
    finally:
        module.train(was_training)
    return LatencyResult.from_samples(samples, settings)


def _dna_key(dna: Any) -> str:
    values = [v.item() if hasattr(v, "item") else v for v in dna]
    return json.dumps(values, separators=(",", ":"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file in the same folder + os.replace)."""
    # Imported here: budgetnas.store's package imports the study, which imports cost.
    from budgetnas.store.atomic import atomic_write_json as write

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write(path, obj, indent=1)


class LatencyCache:
    """Measured latencies keyed by (DNA, settings), persisted as JSON with atomic writes.

    Parameters
    ----------
    path : str or Path, optional
        JSON file; loaded when it exists, rewritten (temp file + ``os.replace``) after each
        :meth:`put` when ``autosave``. Without a path the cache lives in memory.
    autosave : bool
        Save after each new entry (measurements are slow, so the write is cheap by comparison).

    Raises
    ------
    CostError
        When the file exists but is not a latency cache.
    """

    FORMAT = "budgetnas.latency_cache.v1"

    def __init__(self, path: str | os.PathLike[str] | None = None, autosave: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.autosave = autosave
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != self.FORMAT:
                raise CostError(f"{self.path} is not a budgetnas latency cache "
                                f"(format {data.get('format')!r}, expected {self.FORMAT!r})")
            self._entries = data["entries"]

    @staticmethod
    def key(dna: Any, settings: LatencySettings) -> str:
        """The cache key of a DNA (sequence of decisions) under ``settings``."""
        return f"{_dna_key(dna)}|{settings.key()}"

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, item: tuple[Any, LatencySettings]) -> bool:
        return self.key(*item) in self._entries

    def get(self, dna: Any, settings: LatencySettings) -> LatencyResult | None:
        """The stored result, or None."""
        entry = self._entries.get(self.key(dna, settings))
        return None if entry is None else LatencyResult.from_dict(entry)

    def put(self, dna: Any, settings: LatencySettings, result: LatencyResult) -> None:
        """Store a result (and save when ``autosave``)."""
        self._entries[self.key(dna, settings)] = result.to_dict()
        if self.autosave:
            self.save()

    def save(self) -> None:
        """Write the cache to ``path`` atomically; no-op without a path."""
        if self.path is not None:
            atomic_write_json(self.path, {"format": self.FORMAT, "entries": self._entries})

    def measure(self, dna: Any, settings: LatencySettings,
                build: Callable[[Any], Any]) -> LatencyResult:
        """The cached result for ``dna``, or build the module with ``build(dna)`` and measure it."""
        hit = self.get(dna, settings)
        if hit is None:
            hit = measure_latency(build(dna), settings)
            self.put(dna, settings, hit)
        return hit


class MeasuredLatency(CostModel):
    """Latency of a child measured on this machine: builds the module per child, caches by DNA.

    Slow (a forward pass times ``warmup + repeats`` per new child); use it to collect training
    data for :class:`~budgetnas.cost.linear.LinearLatencyModel` or to check a final architecture,
    not inside rejection sampling.

    Parameters
    ----------
    build : callable
        DNA -> torch.nn.Module (e.g. ``lambda dna: space.materialize(dna)`` for module spaces).
    space : Space
        Converts vectors to DNA (``from_vector``) and back.
    settings : LatencySettings, optional
    cache : LatencyCache, optional
        Defaults to an in-memory cache.
    statistic : {"median_ms", "mean", "p90"}
        Which summary is the cost.
    """

    unit = "ms"
    # each price is a measurement: search feasibility checks never enumerate or probe it
    is_expensive = True

    def __init__(self, build: Callable[[Any], Any], space: Any,
                 settings: LatencySettings | None = None, cache: LatencyCache | None = None,
                 statistic: str = "median_ms", name: str = "latency") -> None:
        if statistic not in ("median_ms", "mean", "p90"):
            raise CostError(f"statistic must be 'median_ms', 'mean' or 'p90', got {statistic!r}")
        self.build = build
        self.space = space
        self.num_decisions = int(space.num_decisions)
        self.settings = settings or LatencySettings()
        self.cache = cache if cache is not None else LatencyCache()
        self.statistic = statistic
        self.name = name

    def result(self, dna: Any) -> LatencyResult:
        """The full measured distribution for one DNA (cached)."""
        return self.cache.measure(dna, self.settings, self.build)

    def batch(self, X: np.ndarray) -> np.ndarray:
        X = as_batch(X, self.num_decisions)
        return np.array([getattr(self.result(self.space.from_vector(row)), self.statistic)
                         for row in X], dtype=np.float64)
