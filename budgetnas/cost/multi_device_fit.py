"""Per-device latency models for a convolutional space: measure children on several execution
targets of this machine, fit one TuNAS linear model per target, aggregate with
:class:`~budgetnas.cost.multi.MultiDeviceCost`.

A "device" here is an execution target with its own latency profile: PyTorch eager at batch 1
(dominated by per-layer dispatch overhead), ONNX Runtime at batch 1 (dominated by arithmetic and
memory traffic), PyTorch eager at batch 64 (throughput, per example), ... They rank children
differently (:meth:`DeviceFit.rank_correlation` says how differently), which is what a
multi-hardware search (Chu et al., arXiv 2008.08178, §3; papers.md §8) has to trade off.

Times are thread CPU time by default (``time.thread_time_ns``): with one intra-op thread both
PyTorch and ONNX Runtime run the whole forward pass on the calling thread, and CPU time does not
count the time other processes of a shared machine hold the core.

Example
-------
>>> from budgetnas.spaces import get_space
>>> from budgetnas.cost.space_costs import ConvSpaceCosts
>>> costs = ConvSpaceCosts(get_space("multihw"), input_size=28, num_classes=10, in_channels=1,
...                        width_mult=0.25)
>>> devices = [Device("eager_b1", repeats=5), Device("ort_b1", backend="onnxruntime", repeats=5)]
>>> fit = fit_device_models(costs, devices, n_children=8, n_test=4)          # doctest: +SKIP
>>> fit.multi_cost(fit.quantile_targets(0.5), "max").batch(fit.test_X).shape  # doctest: +SKIP
(4,)
"""

from __future__ import annotations

import dataclasses
import io
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.cost.linear import LinearLatencyModel
from budgetnas.cost.multi import MultiDeviceCost
from budgetnas.errors import CostError

__all__ = ["CLOCKS", "FEATURES", "Device", "DeviceFit", "default_devices", "fit_device_models",
           "latency_model", "measure_devices", "spearman_matrix"]

CLOCKS = ("thread", "wall")
FEATURES = ("position", "stage")
_BODY = re.compile(r"blocks\[(\d+)\]\.layers\[(\d+)\]")


def latency_model(costs: Any, features: str = "stage", alpha: float = 1e-3) -> LinearLatencyModel:
    """An unfitted TuNAS linear latency model (ms) of a conv space (Bender et al. 2020, §3.3).

    ``position``: one-hot(op) ⊗ one-hot(in filters) ⊗ one-hot(out filters) per layer position
    (:meth:`ConvSpaceCosts.linear_model`). ``stage``: the same features, but the non-first layers
    of a block share their coefficients: they run at one resolution with in = out filters, so
    they are the same layer at the same cost, and sharing cuts the features a fit must learn
    (multihw at 28×28: 4,753 -> 2,209) while predicting the same latency for the same layer.

    Raises
    ------
    CostError
        For an unknown ``features`` value.
    """
    if features not in FEATURES:
        raise CostError(f"features must be one of {FEATURES}, got {features!r}")
    if features == "position":
        return costs.linear_model(alpha=alpha)
    specs = []
    for spec in costs.feature_layers():
        m = _BODY.fullmatch(str(spec.group))
        group = spec.group if m is None or m.group(2) == "0" else f"blocks[{m.group(1)}].rest"
        specs.append(dataclasses.replace(spec, group=group))
    return LinearLatencyModel(specs, space=costs.space, alpha=alpha)


@dataclasses.dataclass(frozen=True)
class Device:
    """One execution target on this machine and how its latency is timed.

    Parameters
    ----------
    name : str
    backend : {"torch", "onnxruntime"}
        PyTorch eager under ``torch.inference_mode``, or ONNX Runtime (CPU provider, sequential).
    batch_size : int
        Images per forward pass.
    per_example : bool
        Report the batch latency divided by ``batch_size`` (ms per image, throughput view).
    warmup, repeats : int
        Untimed and timed forward passes; the latency is the median of the timed ones.
    clock : {"thread", "wall"}
        Thread CPU time (needs ``threads == 1``) or wall-clock (``time.perf_counter_ns``).
    threads : int
        Intra-op threads.

    Raises
    ------
    CostError
        On an unknown backend or clock, non-positive sizes, or ``clock="thread"`` with more than
        one thread (the other threads' CPU time would be missed).
    """

    name: str
    backend: str = "torch"
    batch_size: int = 1
    per_example: bool = False
    warmup: int = 5
    repeats: int = 30
    clock: str = "thread"
    threads: int = 1

    def __post_init__(self) -> None:
        if self.backend not in ("torch", "onnxruntime"):
            raise CostError(f"device {self.name!r}: backend must be 'torch' or 'onnxruntime', "
                            f"got {self.backend!r}")
        if self.clock not in CLOCKS:
            raise CostError(f"device {self.name!r}: clock must be one of {CLOCKS}, "
                            f"got {self.clock!r}")
        if self.batch_size < 1 or self.repeats < 1 or self.warmup < 0 or self.threads < 1:
            raise CostError(f"device {self.name!r}: needs batch_size, repeats, threads >= 1 and "
                            f"warmup >= 0, got {self}")
        if self.clock == "thread" and self.threads != 1:
            raise CostError(f"device {self.name!r}: clock='thread' times only the calling "
                            f"thread, so it needs threads=1 (got {self.threads}); use "
                            "clock='wall' for multi-threaded runs")

    def describe(self) -> str:
        """One line: backend, batch, unit, clock, repeats."""
        unit = "ms per image" if self.per_example else "ms per pass"
        clock = "thread CPU time" if self.clock == "thread" else "wall-clock"
        return (f"{self.backend} batch {self.batch_size}, {unit}, {self.threads} thread, "
                f"median of {self.repeats} passes after {self.warmup} warm-up, {clock}")


def default_devices(repeats: int = 30) -> list[Device]:
    """Three targets with different profiles: eager batch 1, ONNX Runtime batch 1 (twice the
    passes: a pass takes ~0.1 ms, so single timings are noisier), eager batch 64 (ms per image,
    a third of the passes)."""
    return [Device("torch_b1", "torch", 1, repeats=repeats),
            Device("onnxrt_b1", "onnxruntime", 1, repeats=2 * repeats),
            Device("torch_b64", "torch", 64, per_example=True, warmup=2,
                   repeats=max(3, repeats // 3))]


def _median_ms(fn: Callable[[], Any], warmup: int, repeats: int, clock: str) -> float:
    now = time.thread_time_ns if clock == "thread" else time.perf_counter_ns
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for k in range(repeats):
        t0 = now()
        fn()
        out[k] = now() - t0
    return float(np.median(out)) / 1e6


def _ort_session(module: Any, input_shape: tuple[int, ...], threads: int) -> Any:
    """An ONNX Runtime session of ``module`` with a dynamic batch axis (TorchScript exporter:
    a fraction of a second per child, where the torch.export one takes seconds)."""
    import onnxruntime as ort
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros((1, *input_shape)),), buf, dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])


def measure_devices(build: Callable[[np.ndarray], Any], X: np.ndarray,
                    devices: Sequence[Device], input_shape: tuple[int, ...],
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Median latency of each child on each device, shape (n, H), in ms (per pass, or per image
    for ``per_example`` devices), on this machine.

    Each child is built once (``build(row)`` -> ``torch.nn.Module``) and exported to ONNX at most
    once; inputs are seeded normal noise of shape (batch, *input_shape).

    Raises
    ------
    CostError
        If ``devices`` is empty or two share a name.
    ImportError
        For an ONNX Runtime device without ``onnx`` / ``onnxruntime`` (``budgetnas[onnx]``).
    """
    import torch

    names = [d.name for d in devices]
    if not names or len(set(names)) != len(names):
        raise CostError(f"need one or more devices with distinct names, got {names}")
    X = np.asarray(X)
    gen = torch.Generator().manual_seed(0)
    inputs = {b: torch.randn((b, *input_shape), generator=gen)
              for b in sorted({d.batch_size for d in devices})}
    out = np.empty((len(X), len(devices)))
    before = torch.get_num_threads()
    try:
        for i, row in enumerate(X):
            module = build(row).eval()
            session = None
            for h, dev in enumerate(devices):
                x = inputs[dev.batch_size]
                torch.set_num_threads(dev.threads)
                if dev.backend == "torch":
                    with torch.inference_mode():
                        ms = _median_ms(lambda m=module, x=x: m(x), dev.warmup, dev.repeats, dev.clock)
                else:
                    if session is None or session[0] != dev.threads:
                        session = (dev.threads, _ort_session(module, input_shape, dev.threads))
                    run = session[1].run
                    feed = {"x": x.numpy()}
                    ms = _median_ms(lambda r=run, f=feed: r(None, f), dev.warmup, dev.repeats,
                                    dev.clock)
                out[i, h] = ms / dev.batch_size if dev.per_example else ms
            if progress is not None:
                progress(i + 1, len(X))
    finally:
        torch.set_num_threads(before)
    return out


def spearman_matrix(Y: np.ndarray) -> np.ndarray:
    """Spearman rank correlation (H, H) between the columns of Y (n, H) (scipy, ties averaged).

    Raises
    ------
    CostError
        With fewer than 3 rows.
    """
    from scipy.stats import spearmanr

    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] < 3:
        raise CostError(f"need latencies (n >= 3, H), got shape {Y.shape}")
    if Y.shape[1] == 1:
        return np.ones((1, 1))
    if Y.shape[1] == 2:  # spearmanr returns a scalar, not a matrix, for two columns
        r = float(spearmanr(Y[:, 0], Y[:, 1]).statistic)
        return np.array([[1.0, r], [r, 1.0]])
    return np.asarray(spearmanr(Y).statistic)


@dataclasses.dataclass
class DeviceFit:
    """Per-device linear latency models and the measurements they were fitted to.

    Attributes
    ----------
    devices : list of Device
    models : dict of device name -> LinearLatencyModel (ms, or ms per image)
    train_X, test_X : np.ndarray (n, D) int64
        Children used to fit, and held-out children.
    train_ms, test_ms : np.ndarray (n, H)
        Their measured latencies, one column per device.
    metrics : dict of device name -> dict
        :meth:`LinearLatencyModel.evaluate` on the held-out children (``mape``, ``kendall_tau``,
        ...).
    seconds : float
        Wall-clock seconds the measurements and fits took.
    """

    devices: list[Device]
    models: dict[str, LinearLatencyModel]
    train_X: np.ndarray
    train_ms: np.ndarray
    test_X: np.ndarray
    test_ms: np.ndarray
    metrics: dict[str, dict[str, float]]
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.devices]

    def rank_correlation(self) -> np.ndarray:
        """Spearman correlation (H, H) of the measured latencies of all children, by device."""
        return spearman_matrix(np.vstack([self.train_ms, self.test_ms]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted latencies (n, H) of DNA vectors X (n, D), one column per device."""
        return np.stack([self.models[n].batch(X) for n in self.names], axis=1)

    def quantile_targets(self, q: float, space: Any = None, n_samples: int = 20_000,
                         seed: int = 0) -> dict[str, float]:
        """Per-device target T_h: the ``q`` quantile of the device's predicted latency over
        ``n_samples`` uniformly random children of ``space`` (default: the models' space), so
        that every device's target is equally demanding.

        Raises
        ------
        CostError
            If ``q`` is outside (0, 1) or no space is known.
        """
        if not 0 < q < 1:
            raise CostError(f"quantile q must be in (0, 1), got {q}")
        space = space if space is not None else self.models[self.names[0]].space
        if space is None:
            raise CostError("quantile_targets needs the space to sample children from")
        X = space.sample_batch(n_samples, np.random.default_rng(seed))
        return dict(zip(self.names, np.quantile(self.predict(X), q, axis=0).tolist()))

    def multi_cost(self, targets: Mapping[str, float], aggregate: str = "mean",
                   devices: Sequence[str] | None = None) -> MultiDeviceCost:
        """:class:`MultiDeviceCost` of the fitted models (unit ``ratio``) over ``devices``
        (default all): ``mean`` (average case), ``geomean`` or ``max`` (worst case) of
        L_h / T_h (Chu et al., arXiv 2008.08178, §3)."""
        names = list(devices) if devices is not None else self.names
        unknown = [n for n in names if n not in self.models]
        if unknown:
            raise CostError(f"no fitted model for devices {unknown}; fitted: {self.names}")
        return MultiDeviceCost({n: self.models[n] for n in names}, targets={n: targets[n]
                               for n in names}, aggregate=aggregate)


def fit_device_models(costs: Any, devices: Sequence[Device], n_children: int = 120,
                      n_test: int = 30, alpha: float = 1e-3, seed: int = 0,
                      features: str = "stage",
                      progress: Callable[[int, int], None] | None = None) -> DeviceFit:
    """Measure ``n_children + n_test`` random children of a conv space on every device and fit
    one TuNAS linear latency model per device (Bender et al. 2020, §3.3; MobileDets, Xiong et al.
    2021, fit one per target device) on the first ``n_children``.

    Parameters
    ----------
    costs : ConvSpaceCosts
        The space at its input size, classes and width (``budgetnas.cost.space_costs``).
    devices : sequence of Device
    n_children, n_test : int
        Fitting and held-out children; the smallest and largest children are always among the
        fitting ones, so every model sees both ends of the range.
    alpha, features
        Ridge penalty and feature layout of :func:`latency_model`.

    Raises
    ------
    CostError
        If ``n_children < 2`` or ``n_test`` is 1 or 2 (too few to rank).
    """
    if n_children < 2 or 0 < n_test < 3:
        raise CostError(f"need n_children >= 2 and n_test 0 or >= 3, got {n_children}, {n_test}")
    t0 = time.perf_counter()
    space = costs.space
    X = space.sample_batch(n_children + n_test, np.random.default_rng(seed))
    X[0] = space.to_vector(space.smallest())
    X[1] = space.to_vector(space.largest())
    shape = (costs.in_channels, costs.input_size, costs.input_size)
    Y = measure_devices(costs.build, X, devices, shape, progress)
    models, metrics = {}, {}
    for h, dev in enumerate(devices):
        model = latency_model(costs, features, alpha).fit(X[:n_children], Y[:n_children, h])
        model.name = f"latency[{dev.name}]"
        models[dev.name] = model
        metrics[dev.name] = model.evaluate(X[n_children:], Y[n_children:, h]) if n_test else {}
    return DeviceFit(list(devices), models, X[:n_children], Y[:n_children], X[n_children:],
                     Y[n_children:], metrics, time.perf_counter() - t0)
