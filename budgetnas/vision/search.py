"""Task-level image search: TuNAS one-shot search, random baseline, BigNAS, on Fashion-MNIST-like
data, with latency from a linear model fitted on this machine (TuNAS, Bender et al. 2020, §3.3).

The pieces are plain functions so that benchmarks and the command line compose them:

>>> data = load_image_data(n_train=10_000, n_val=2_000)                       # doctest: +SKIP
>>> costs = image_costs("mobilenetv3_like", width_mult=0.25)                  # doctest: +SKIP
>>> lat = fit_latency_model(costs, n_children=60)                             # doctest: +SKIP
>>> res = tunas_search(costs.space, data, lat.model, target=2.0, steps=400)   # doctest: +SKIP
>>> acc = train_child(costs.space, res.pick, data, epochs=2)                  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from budgetnas.cost.latency import LatencySettings
from budgetnas.cost.space_costs import ConvSpaceCosts
from budgetnas.errors import InfeasibleBudgetError, SearchConfigError
from budgetnas.oneshot import BatchStream, OneShotSearch, resume_if_checkpointed
from budgetnas.search.controller import tunas_schedule
from budgetnas.search.reinforce import Reinforce
from budgetnas.search.tabnas import TabNAS
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet
from budgetnas.supernet.conv_task import ConvSupernetTask
from budgetnas.vision.data import load_digits_images, load_fashion_mnist, to_tensor_dataset
from budgetnas.vision.train import TrainConfig, evaluate, train_image_model

__all__ = ["ImageData", "LatencyFit", "TunasResult", "build_tunas_search", "fit_latency_model",
           "image_costs", "latency_fit_identity", "load_digits_data", "load_image_data",
           "load_latency_fit",
           "random_pick", "save_latency_fit", "train_child", "train_child_model", "tunas_pick",
           "tunas_search"]


@dataclass
class ImageData:
    """In-memory image splits: float (N, C, H, W) normalised with the training mean / std."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def num_classes(self) -> int:
        return int(self.train_y.max()) + 1

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])


def load_image_data(path: str | Path | None = None, n_train: int = 10_000, n_val: int = 2_000,
                    n_test: int | None = None, seed: int = 0) -> ImageData:
    """Fashion-MNIST (28×28 grey): ``n_train`` + ``n_val`` images from the official training
    split (disjoint, seeded), ``n_test`` (default all 10,000) from the official test split.

    Raises
    ------
    DataError
        If the files are missing (see :func:`budgetnas.vision.load_fashion_mnist`).
    SearchConfigError
        If ``n_train + n_val`` exceeds the 60,000 training images.
    """
    x, y = load_fashion_mnist(path, "train")
    if n_train + n_val > len(x):
        raise SearchConfigError(f"n_train + n_val = {n_train + n_val} exceeds the {len(x)} "
                                "training images")
    idx = np.random.default_rng(seed).permutation(len(x))
    tr, va = idx[:n_train], idx[n_train:n_train + n_val]
    train = to_tensor_dataset(x[tr], y[tr])
    mean = float(x[tr].mean() / 255.0)
    std = float((x[tr] / 255.0).std())
    val = to_tensor_dataset(x[va], y[va], mean, std)
    tx, ty = load_fashion_mnist(path, "test")
    if n_test is not None:
        tx, ty = tx[:n_test], ty[:n_test]
    test = to_tensor_dataset(tx, ty, mean, std)
    return ImageData(*train.tensors, *val.tensors, *test.tensors)


def load_digits_data(size: int | None = None, n_val: int = 300, n_test: int = 300,
                     seed: int = 0) -> ImageData:
    """scikit-learn's digits (1,797 grey 8×8 images, 10 classes) as train / val / test splits.

    Ships with scikit-learn, so it needs no download: the zero-download demo and the fast tests
    of the image search. ``n_test`` and ``n_val`` images are drawn (disjoint, seeded), the rest
    train; every split is normalised with the training mean / std.

    Parameters
    ----------
    size : int, optional
        Resize to ``size × size`` (bilinear); None keeps 8×8.

    Raises
    ------
    SearchConfigError
        If ``n_val + n_test`` leaves fewer than 100 training images.
    """
    x, y = load_digits_images(size)
    if len(x) - n_val - n_test < 100:
        raise SearchConfigError(f"n_val + n_test = {n_val + n_test} leaves fewer than 100 of the "
                                f"{len(x)} digits for training")
    idx = np.random.default_rng(seed).permutation(len(x))
    te, va, tr = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
    mean, std = float(x[tr].mean()), float(x[tr].std())
    splits = [to_tensor_dataset(x[i], y[i], mean, std).tensors for i in (tr, va, te)]
    return ImageData(*splits[0], *splits[1], *splits[2])


def image_costs(space: str | Any, width_mult: float = 0.25, input_size: int = 28,
                num_classes: int = 10, in_channels: int = 1) -> ConvSpaceCosts:
    """Per-layer cost structure (params, MACs, latency features) of a space at this image size."""
    sp = get_space(space) if isinstance(space, str) else space
    return ConvSpaceCosts(sp, input_size=input_size, num_classes=num_classes,
                          in_channels=in_channels, width_mult=width_mult)


@dataclass
class LatencyFit:
    """A fitted latency model and how well it predicts held-out measured children."""

    model: Any
    settings: LatencySettings
    train_X: np.ndarray
    train_ms: np.ndarray
    test_X: np.ndarray
    test_ms: np.ndarray
    metrics: dict[str, float]


def fit_latency_model(costs: ConvSpaceCosts, n_children: int = 60, n_test: int = 20,
                      settings: LatencySettings | None = None, alpha: float = 1e-3,
                      seed: int = 0,
                      progress: Callable[[int, int], None] | None = None) -> LatencyFit:
    """Measure ``n_children + n_test`` random children on this machine and fit TuNAS's linear
    latency model (Bender et al. 2020, §3.3) on the first ``n_children`` (ms, batch 1 by default).

    ``metrics`` holds the model's ``evaluate`` output on the held-out children.
    ``progress(done, total)`` is called after each measured child when given.
    """
    settings = settings or LatencySettings(batch_size=1, threads=1, warmup=5, repeats=20)
    rng = np.random.default_rng(seed)
    space = costs.space
    X = space.sample_batch(n_children + n_test, rng)
    X[0] = space.to_vector(space.smallest())
    X[1] = space.to_vector(space.largest())
    measured = costs.measured_latency(settings)
    if progress is None:
        y = np.asarray(measured.batch(X), dtype=np.float64)
    else:  # one child at a time, to report; the same measurements
        y = np.empty(len(X), dtype=np.float64)
        for i in range(len(X)):
            y[i] = float(measured.batch(X[i:i + 1])[0])
            progress(i + 1, len(X))
    model = costs.linear_model(alpha=alpha).fit(X[:n_children], y[:n_children])
    metrics = model.evaluate(X[n_children:], y[n_children:]) if n_test else {}
    return LatencyFit(model, settings, X[:n_children], y[:n_children], X[n_children:],
                      y[n_children:], metrics)


def save_latency_fit(fit: LatencyFit, path: str | os.PathLike,
                     costs: ConvSpaceCosts | None = None) -> None:
    """Write a :class:`LatencyFit`'s measurements and settings as JSON (atomically), so that
    :func:`load_latency_fit` rebuilds the same model without measuring again.

    With ``costs`` the file also names what was measured (space, width multiplier, input size,
    channels, classes), which :func:`load_latency_fit` checks before reusing it.
    """
    from budgetnas.store.atomic import atomic_write_json

    raw: dict[str, Any] = {
        "settings": dataclasses.asdict(fit.settings), "alpha": float(fit.model.alpha),
        "train_X": fit.train_X.tolist(), "train_ms": fit.train_ms.tolist(),
        "test_X": fit.test_X.tolist(), "test_ms": fit.test_ms.tolist(), "metrics": fit.metrics}
    if costs is not None:
        raw["measured"] = latency_fit_identity(costs)
    atomic_write_json(path, raw)


def latency_fit_identity(costs: ConvSpaceCosts) -> dict[str, Any]:
    """What a latency fit was measured on: ``space`` (registered name), ``width_mult``,
    ``input_size`` (pixels, square), ``in_channels`` and ``num_classes``."""
    return {"space": getattr(costs.space, "name", None), "width_mult": float(costs.width_mult),
            "input_size": int(costs.input_size), "in_channels": int(costs.in_channels),
            "num_classes": int(costs.num_classes)}


def load_latency_fit(costs: ConvSpaceCosts, path: str | os.PathLike, *,
                     require_identity: bool = False) -> LatencyFit:
    """The :class:`LatencyFit` saved by :func:`save_latency_fit`, refitted from its measurements
    (least squares is deterministic: the same coefficients).

    Parameters
    ----------
    require_identity : bool
        Refuse a file that does not name what it was measured on (one written without
        ``costs``); a file that names it is always checked against ``costs``.

    Raises
    ------
    StoreError
        If the file cannot be read, or was measured on another space, width multiplier, input
        size, channel or class count than ``costs`` describes.
    """
    from budgetnas.errors import StoreError

    try:
        raw = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the latency fit {path}: {exc}") from exc
    want = latency_fit_identity(costs)
    have = raw.get("measured") if isinstance(raw, dict) else None
    if have is None and require_identity:
        raise StoreError(f"the latency fit {path} does not say which space, width and input size "
                         "it was measured on (written by an older budgetnas); measure a new one "
                         "by running without --latency-fit")
    if have is not None:
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if diff:
            shown = ", ".join(f"{k} {a!r} (this search: {b!r})" for k, (a, b) in diff.items())
            raise StoreError(f"the latency fit {path} was measured on another network: {shown}; "
                             "reuse a fit of the same --space, --width-mult and image size, or "
                             "run without --latency-fit to measure one")
    try:
        X = np.asarray(raw["train_X"], dtype=np.int64)
        if X.ndim != 2 or X.shape[1] != len(costs.space.spec.names):
            raise ValueError(f"its children have {X.shape[-1]} decisions, the space "
                             f"{len(costs.space.spec.names)}")
        tX = np.asarray(raw["test_X"], dtype=np.int64).reshape(-1, X.shape[1])
        settings = LatencySettings(**{**raw["settings"],
                                      "input_size": tuple(raw["settings"]["input_size"])})
        model = costs.linear_model(alpha=float(raw["alpha"])).fit(X, raw["train_ms"])
    except (KeyError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot use the latency fit {path}: {exc}; delete it to "
                         "measure again") from exc
    return LatencyFit(model, settings, X, np.asarray(raw["train_ms"], dtype=np.float64), tX,
                      np.asarray(raw["test_ms"], dtype=np.float64), dict(raw["metrics"]))


@dataclass
class TunasResult:
    """Outcome of :func:`tunas_search`."""

    pick: tuple
    pick_cost: float
    algorithm: str
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    supernet: ConvSupernet | None = None


def build_tunas_search(space: Any, data: ImageData, cost: Any, target: float, *,
                       steps: int = 400, algorithm: str = "abs", beta: float = -0.1,
                       batch_size: int = 64, val_batch_size: int = 256,
                       width_mult: float = 0.25, lr: float = 0.1, controller_lr: float = 0.05,
                       warmup_fraction: float = 0.25, seed: int = 0,
                       callbacks: Sequence[Any] = (), checkpoint_every: int = 0,
                       time_budget_s: float | None = None) -> OneShotSearch:
    """The :class:`~budgetnas.oneshot.OneShotSearch` that :func:`tunas_search` runs, not run yet.

    Same arguments as :func:`tunas_search`; ``callbacks`` and ``checkpoint_every`` go to the
    loop (e.g. a :class:`~budgetnas.oneshot.RunCheckpoint` to resume after a crash). The
    supernet is ``search.task.supernet``, the controller ``search.algorithm``. Seeds torch's
    global generator with ``seed`` (the supernet's initialisation).

    Raises
    ------
    SearchConfigError
        For an unknown algorithm.
    """
    if algorithm not in ("abs", "tabnas"):
        raise SearchConfigError(f"algorithm must be 'abs' or 'tabnas', got {algorithm!r}")
    torch.manual_seed(seed)
    net = ConvSupernet(space, num_classes=data.num_classes, in_channels=data.in_channels,
                       width_mult=width_mult)
    train = BatchStream(data.train_x, data.train_y, batch_size, seed=seed)
    val = BatchStream(data.val_x, data.val_y, val_batch_size, seed=seed + 1)
    task = ConvSupernetTask(net, train, val, total_steps=steps, lr=lr)
    search_steps = steps - int(warmup_fraction * steps)
    _, schedule = tunas_schedule(search_steps, frozen_fraction=0.0, growth=10.0)
    if algorithm == "abs":
        algo: Any = Reinforce(reward="abs", cost=cost, target=target, beta=beta, lr=controller_lr,
                              betas=(0.0, 0.999), baseline_momentum=0.95, lr_schedule=schedule,
                              seed=seed)
        constraints: list[Any] = []
    else:
        algo = TabNAS(cost=cost, max=target, lr=controller_lr, betas=(0.0, 0.999),
                      baseline_momentum=0.95, lr_schedule=schedule, seed=seed, pv="mc")
        constraints = [_constraint(cost, target)]
    # TuNAS treats the budget as a soft target: it is checked for the history only (each step's
    # ``feasible``), never enforced, so what is sampled stays TuNAS's
    record = [_constraint(cost, target)] if algorithm == "abs" else []
    return OneShotSearch(task, algo, space.spec, constraints=constraints,
                         record_constraints=record, cost=cost,
                         steps=steps, warmup_fraction=warmup_fraction, seed=seed,
                         callbacks=list(callbacks), checkpoint_every=checkpoint_every,
                         time_budget_s=time_budget_s)


def tunas_pick(search: OneShotSearch, algorithm: str = "abs") -> tuple:
    """The final pick of a search built by :func:`build_tunas_search`, as a DNA vector tuple:
    the per-decision argmax (``"abs"``, TuNAS) or the most probable feasible child
    (``"tabnas"``, Yang et al. 2022, §3.3)."""
    algo = search.algorithm
    pick = algo.argmax_dna() if algorithm == "abs" else algo.most_probable_feasible()
    return tuple(int(v) for v in search.spec.to_vector(pick))


def tunas_search(space: Any, data: ImageData, cost: Any, target: float, *, steps: int = 400,
                 algorithm: str = "abs", beta: float = -0.1, batch_size: int = 64,
                 val_batch_size: int = 256, width_mult: float = 0.25, lr: float = 0.1,
                 controller_lr: float = 0.05, warmup_fraction: float = 0.25,
                 seed: int = 0, log_every: int = 0,
                 time_budget_s: float | None = None, callbacks: Sequence[Any] = (),
                 checkpoint_every: int = 0,
                 resume_from: str | os.PathLike | None = None) -> TunasResult:
    """TuNAS one-shot search of ``space`` on ``data`` (Bender et al., CVPR 2020, §3).

    Interleaved steps (:class:`~budgetnas.oneshot.OneShotSearch`): a supernet SGD step on a
    training batch for a sampled child, then a controller step on that child's accuracy on a
    validation batch. The first ``warmup_fraction`` of the steps train the supernet alone with op
    and filter warm-up (probability 1 → 0) while the controller is frozen; then the controller's
    learning rate rises ×10 to the end (:func:`~budgetnas.search.controller.tunas_schedule`),
    Adam with β1 = 0, EMA baseline 0.95.

    Parameters
    ----------
    cost : CostModel
        Prices DNA vectors (e.g. the fitted linear latency model, ms; or a ``MultiDeviceCost``,
        unit ratio with ``target=1``).
    target : float
        T0 of the absolute reward (``algorithm="abs"``), or the hard budget (``"tabnas"``).
    algorithm : {"abs", "tabnas"}
        TuNAS's absolute reward ``Q + β|T/T0 − 1|`` and final pick = per-decision argmax; or
        TabNAS rejection sampling (hard budget) and final pick = most probable feasible child.
    callbacks, checkpoint_every : optional
        Hooks of the loop and how often they checkpoint (see :func:`build_tunas_search`).
    resume_from : path, optional
        A folder with a :class:`~budgetnas.oneshot.RunCheckpoint` checkpoint of the same search:
        continue from it (the result equals the uninterrupted run's).

    Raises
    ------
    SearchConfigError
        For an unknown algorithm.
    StoreError
        If ``resume_from`` holds a checkpoint that cannot be used.
    """
    callbacks = [*callbacks, *([_Printer(log_every)] if log_every else [])]
    search = build_tunas_search(space, data, cost, target, steps=steps, algorithm=algorithm,
                                beta=beta, batch_size=batch_size, val_batch_size=val_batch_size,
                                width_mult=width_mult, lr=lr, controller_lr=controller_lr,
                                warmup_fraction=warmup_fraction, seed=seed, callbacks=callbacks,
                                checkpoint_every=checkpoint_every, time_budget_s=time_budget_s)
    if resume_from is not None:
        resume_if_checkpointed(search, resume_from)
    result = search.run()
    vec = np.asarray(tunas_pick(search, algorithm), dtype=np.int64)
    hist = [{k: v for k, v in r.to_dict().items() if k != "trained"} for r in result.history]
    return TunasResult(tuple(int(v) for v in vec), float(cost.batch(vec[None])[0]), algorithm,
                       hist, result.seconds, search.task.supernet)


def _constraint(cost: Any, target: float) -> Any:
    from budgetnas.cost.base import Constraint

    return Constraint(cost, max=target)


class _Printer:
    def __init__(self, every: int) -> None:
        self.every = every

    def on_step(self, search: Any, record: Any) -> None:
        if (record.step + 1) % self.every == 0:
            print(f"step {record.step + 1}/{search.steps} {record.phase} loss {record.loss:.3f} "
                  f"reward {record.reward} cost {record.cost:.3f}", flush=True)

    def on_checkpoint(self, search: Any) -> None:
        return None

    def on_end(self, search: Any, result: Any) -> None:
        return None


def random_pick(space: Any, cost: Any, target: float, tolerance: float = 0.05, seed: int = 0,
                max_draws: int = 200_000, chunk: int = 2048) -> tuple:
    """A uniformly random child whose cost is within ``tolerance`` (relative) of ``target``: the
    random-search baseline of TuNAS (Bender et al. 2020, §5), as a DNA vector tuple.

    Raises
    ------
    InfeasibleBudgetError
        If no such child turns up in ``max_draws`` draws.
    """
    rng = np.random.default_rng(seed)
    drawn = 0
    while drawn < max_draws:
        X = space.sample_batch(chunk, rng)
        drawn += chunk
        ok = np.flatnonzero(np.abs(cost.batch(X) / target - 1.0) <= tolerance)
        if len(ok):
            return tuple(int(v) for v in X[ok[0]])
    raise InfeasibleBudgetError(f"no random child within {tolerance:.0%} of {target} in "
                                f"{max_draws} draws; widen the tolerance")


def train_child_model(space: Any, child: Sequence[int], data: ImageData, *, epochs: int = 2,
                      width_mult: float = 0.25, seed: int = 0, config: TrainConfig | None = None,
                      progress: Callable[[int, int], None] | None = None
                      ) -> tuple[torch.nn.Module, dict[str, float]]:
    """Train a child (DNA vector) from scratch on ``data.train``; return the model (eval mode)
    and its val / test accuracy, seconds and last training loss (what :func:`train_child` gives).

    ``progress(epochs_done, epochs)`` is called after every epoch when given; it does not change
    the training (same batches, same learning rates).
    """
    torch.manual_seed(seed)
    vec = np.asarray(child, dtype=np.int64)
    model = space.build(space.from_vector(vec), num_classes=data.num_classes,
                        in_channels=data.in_channels, width_mult=width_mult)
    cfg = config or TrainConfig(epochs=epochs, batch_size=128, lr=0.1, seed=seed,
                                warmup_epochs=0.0)
    t0 = time.perf_counter()
    train: Any = torch.utils.data.TensorDataset(data.train_x, data.train_y)
    if progress is not None:
        train = _ReportingLoader(train, cfg, progress)
    res = train_image_model(model, train, config=cfg)
    val = evaluate(model, torch.utils.data.TensorDataset(data.val_x, data.val_y))[1]
    test = evaluate(model, torch.utils.data.TensorDataset(data.test_x, data.test_y))[1]
    return model.eval(), {"val_accuracy": val, "test_accuracy": test,
                          "seconds": time.perf_counter() - t0,
                          "train_loss": res.history[-1]["train_loss"]}


class _ReportingLoader(torch.utils.data.DataLoader):
    """The loader ``train_image_model`` would make (same seed and batches), reporting epochs."""

    def __init__(self, dataset: Any, cfg: TrainConfig,
                 progress: Callable[[int, int], None]) -> None:
        super().__init__(dataset, batch_size=cfg.batch_size, shuffle=True,
                         generator=torch.Generator().manual_seed(cfg.seed))
        self.report, self.total, self.done = progress, cfg.epochs, 0

    def __iter__(self) -> Any:
        yield from super().__iter__()
        self.done += 1
        self.report(self.done, self.total)


def train_child(space: Any, child: Sequence[int], data: ImageData, *, epochs: int = 2,
                width_mult: float = 0.25, seed: int = 0,
                config: TrainConfig | None = None) -> dict[str, float]:
    """Train a child from scratch on ``data.train`` and report val / test accuracy (standalone)."""
    return train_child_model(space, child, data, epochs=epochs, width_mult=width_mult,
                             seed=seed, config=config)[1]
