"""Tabular NAS end to end: a table and a parameter budget in, the best MLP that fits out.

:func:`search_table` runs the whole TabNAS recipe (Yang et al., NeurIPS 2022, §3): preprocess the
table, build the MLP search space, search it under the hard budget (one-shot weight sharing with
rejection sampling by default), retrain the most probable feasible child from scratch with early
stopping, and measure it on the test split next to the best of an equal-compute set of random
feasible children trained standalone and scikit-learn's HistGradientBoosting on the same split.

Example
-------
>>> from budgetnas.tabular.search import search_table
>>> result = search_table(dataset="adult", max_params=5000, seed=0)  # doctest: +SKIP
>>> result.widths, result.params, round(result.test_metrics["accuracy"], 3)  # doctest: +SKIP
((40,), 3801, 0.858)
>>> result.save("runs/adult")  # architecture, weights, ONNX, metrics, report  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import pickle
import shutil
import socket
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from threadpoolctl import threadpool_limits
from torch import nn

from budgetnas.errors import DataError, InfeasibleBudgetError, SearchConfigError
from budgetnas.oneshot import (
    BatchStream,
    Callback,
    OneShotResult,
    OneShotSearch,
    RunCheckpoint,
    StepRecord,
    SupervisedTask,
    accuracy_reward,
    policy_probabilities,
    resume_if_checkpointed,
)
from budgetnas.search.random import Random
from budgetnas.space import DNA
from budgetnas.spaces.mlp import DEFAULT_DEPTHS, DEFAULT_WIDTHS, MLPSpace
from budgetnas.store.atomic import process_umask
from budgetnas.store.rundir import replace_dir
from budgetnas.study import Study
from budgetnas.supernet.mlp import MLPSupernet, SlicedAdam
from budgetnas.tabular.baseline import BaselineResult, hgb_baseline
from budgetnas.tabular.data import TabularData, load_tabular, read_table
from budgetnas.tabular.datasets import load_dataset
from budgetnas.tabular.metrics import (
    PRIMARY_METRIC,
    evaluate_model,
    outputs_to_predictions,
    predict_outputs,
)
from budgetnas.tabular.train import TrainResult, build_mlp, task_loss, train_mlp

__all__ = [
    "ALGORITHMS",
    "ChildResult",
    "Progress",
    "Recipe",
    "SavedRun",
    "TableSearchResult",
    "UnconstrainedBudgetWarning",
    "CSV_READ",
    "load_run",
    "most_probable_feasible",
    "resolve_device",
    "search_table",
]

logger = logging.getLogger(__name__)

#: Search algorithms of :func:`search_table`: two one-shot controllers, three trial-based searches.
ALGORITHMS = ("tabnas", "abs", "random", "evolution", "predictor")
ONE_SHOT = ("tabnas", "abs")

#: ``progress(phase, done, total)``: called as work advances; ``total`` may be None when unknown.
Progress = Callable[[str, float, "float | None"], None]

RUN_FILES = ("architecture.json", "model.safetensors", "model.onnx", "metrics.json",
             "preprocessor.pkl", "preprocessing.json", "history.csv", "children.csv", "report.md")

#: How :func:`~budgetnas.tabular.data.read_table` reads a CSV (and the shipped Adult reader its
#: files): recorded in ``preprocessing.json`` so that :meth:`SavedRun.features` cleans rows
#: read any other way (plain ``pandas.read_csv``) the same.
CSV_READ = {"na_values": ["?"], "skipinitialspace": True}


class UnconstrainedBudgetWarning(UserWarning):
    """The budget is at least the largest child's size: the search is unconstrained."""


@dataclass(frozen=True)
class Recipe:
    """How a child is trained standalone (final model, random children, trial-based searches).

    Adam on mini-batches with early stopping on the validation loss
    (:func:`budgetnas.tabular.train.train_model`); every standalone child uses the same recipe
    and the same seed, so their differences are the architectures'.
    """

    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 5
    weight_decay: float = 0.0
    max_train_rows: int | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"lr": self.lr, "batch_size": self.batch_size, "max_epochs": self.max_epochs,
                "patience": self.patience, "weight_decay": self.weight_decay,
                "max_train_rows": self.max_train_rows}


@dataclass
class ChildResult:
    """A child trained standalone: its widths, size, validation metric and time."""

    widths: tuple[int, ...]
    params: int
    val_metric: float
    seconds: float
    source: str
    test_metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0


@dataclass
class TableSearchResult:
    """Everything :func:`search_table` produced.

    Attributes
    ----------
    widths : tuple of int
        Hidden widths of the final model.
    store_dir : pathlib.Path or None
        The persistent store of a trial-based search (``store_dir=`` of :func:`search_table`);
        :meth:`save` copies it into the run directory and removes it.
    dna : DNA
        Its DNA in ``space``.
    params : int
        Its parameters (weights + biases).
    model : torch.nn.Module
        The final model (``Linear``/``ReLU`` stack, CPU, eval mode), trained from scratch;
        outputs are logits (classification) or values in the target's units (regression).
    val_metrics, test_metrics : dict
        Metrics of the final model (accuracy, balanced accuracy, ROC AUC, log loss; RMSE, MAE, R²).
    random_children : list of ChildResult
        The random feasible children trained standalone for comparison.
    random_best : ChildResult or None
        The best of them by validation metric, with its test metrics.
    hgb : BaselineResult or None
        HistGradientBoosting on the same split.
    oneshot : OneShotResult or None
        Step history and policy snapshots of a one-shot search.
    trials : list of ChildResult
        Children trained by a trial-based search.
    timings : dict
        Seconds per phase (``data``, ``reference``, ``search``, ``final``, ``random``, ``total``).
    notices : list of str
        What the run changed or warned about.
    read_options : dict or None
        How the training rows were read from text (:data:`CSV_READ` for a CSV file or the
        shipped data set; None for a DataFrame, Parquet or prepared data).
    """

    data: TabularData
    space: MLPSpace
    max_params: float
    algorithm: str
    seed: int
    widths: tuple[int, ...]
    dna: DNA
    params: int
    model: nn.Module
    final: TrainResult
    val_metrics: dict[str, float]
    test_metrics: dict[str, float]
    random_children: list[ChildResult] = field(default_factory=list)
    random_best: ChildResult | None = None
    hgb: BaselineResult | None = None
    oneshot: OneShotResult | None = None
    trials: list[ChildResult] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    dataset_name: str | None = None
    store_dir: Path | None = None
    read_options: dict[str, Any] | None = None

    @property
    def task(self) -> str:
        return self.data.task

    @property
    def primary_metric(self) -> str:
        """``accuracy`` for classification, ``r2`` for regression."""
        return PRIMARY_METRIC[self.data.task]

    def metrics_dict(self) -> dict[str, Any]:
        """The run's numbers as plain JSON-compatible values (what ``metrics.json`` holds)."""
        rb = self.random_best
        return {
            "task": self.task,
            "primary_metric": self.primary_metric,
            "algorithm": self.algorithm,
            "max_params": self.max_params,
            "final": {"widths": list(self.widths), "params": self.params,
                      "val": self.val_metrics, "test": self.test_metrics,
                      "best_epoch": self.final.best_epoch, "train_seconds": self.final.seconds},
            "random_best": None if rb is None else {
                "widths": list(rb.widths), "params": rb.params, "val_metric": rb.val_metric,
                "test": rb.test_metrics, "n_children": len(self.random_children)},
            "hist_gradient_boosting": None if self.hgb is None else {
                "val": self.hgb.val_metrics, "test": self.hgb.test_metrics,
                "seconds": self.hgb.seconds},
            "search": {"steps": None if self.oneshot is None else self.oneshot.steps_done,
                       "trials": len(self.trials) or None,
                       "stopped": None if self.oneshot is None else self.oneshot.stopped,
                       "resumed_from": None if self.oneshot is None else self.oneshot.resumed_from},
            "data": {"n_train": len(self.data.y_train), "n_val": len(self.data.y_val),
                     "n_test": len(self.data.y_test), "n_features": self.data.n_features,
                     "target": self.data.target, "dataset": self.dataset_name},
            "space": {"widths": list(self.space.widths), "depths": list(self.space.depths),
                      "size": self.space.size, "min_params": self.space.min_params(),
                      "max_params": self.space.max_params()},
            "settings": _jsonable(self.settings),
            "timings": self.timings,
            "notices": list(self.notices),
        }

    def predict_outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities (classification) or values (regression) for raw rows of the table."""
        X = self.data.transform(frame)
        return outputs_to_predictions(predict_outputs(self.model, X), self.task)

    def save(self, out: str | os.PathLike, *, overwrite: bool = False, onnx: bool = True,
             plots: bool = True) -> Path:
        """Write the run directory: architecture, weights, ONNX, metrics, history, report.

        The directory is built in a temporary sibling and renamed into place at the end, so an
        error leaves no half-written run directory. A trial-based search run with a store
        (``store_dir``) also gets its ``run.json``, ``study.db`` (a consistent SQLite backup) and
        ``status.json`` (``complete``), so ``budgetnas show/report`` work on it; the store
        directory is removed once the run directory is in place.

        Parameters
        ----------
        out : path
            The run directory to create.
        overwrite : bool
            Replace an existing non-empty directory.
        onnx : bool
            Export ``model.onnx`` (needs the ``onnx`` extra; skipped with a notice if missing).
        plots : bool
            Draw the report's PNG plots (needs matplotlib; skipped with a notice if missing).

        Returns
        -------
        pathlib.Path
            The run directory.

        Raises
        ------
        FileExistsError
            If ``out`` exists, is not empty and ``overwrite`` is False.
        """
        from budgetnas.report.tabular import write_tabular_report

        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
            raise FileExistsError(f"{str(out)!r} already exists and is not empty; choose another "
                                  "output directory or pass overwrite=True (--overwrite)")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        os.chmod(tmp, 0o777 & ~process_umask())  # mkdtemp makes it private; a run dir is not
        try:
            self._write_files(tmp, onnx=onnx)
            write_tabular_report(self, tmp, plots=plots)
            if self.store_dir is not None:
                _copy_store(self.store_dir, tmp)
            replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if self.store_dir is not None and self.store_dir.resolve() != out.resolve():
            shutil.rmtree(self.store_dir, ignore_errors=True)  # its content now lives in ``out``
        return out

    def _write_files(self, d: Path, onnx: bool) -> None:
        from safetensors.torch import save

        arch = {"widths": list(self.widths), "dna": list(self.dna), "params": self.params,
                "n_in": self.data.n_features, "n_out": self.data.n_outputs, "task": self.task,
                "target": self.data.target, "feature_columns": list(self.data.feature_columns),
                "classes": None if self.data.classes_ is None else [_py(c) for c in self.data.classes_],
                "layers": "Linear -> ReLU per hidden width, then Linear (budgetnas.tabular.train.build_mlp)",
                "space": {"widths": list(self.space.widths), "depths": list(self.space.depths)}}
        (d / "architecture.json").write_text(json.dumps(arch, indent=2) + "\n")
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        (d / "model.safetensors").write_bytes(
            save(state, metadata={"widths": json.dumps(arch["widths"])}))
        (d / "metrics.json").write_text(json.dumps(self.metrics_dict(), indent=2, default=_py) + "\n")
        with open(d / "preprocessor.pkl", "wb") as f:  # the fitted ColumnTransformer itself
            pickle.dump(self.data.preprocessor, f)
        (d / "preprocessing.json").write_text(json.dumps(
            _preprocessing_meta(self.data, self.read_options, self.dataset_name), indent=2,
            default=_py) + "\n")
        self.history_frame().to_csv(d / "history.csv", index=False)
        self.children_frame().to_csv(d / "children.csv", index=False)
        if onnx:
            note = _export_onnx(self.model, self.data.n_features, d / "model.onnx")
            if note:
                self.notices.append(note)

    def history_frame(self) -> pd.DataFrame:
        """One row per one-shot step (empty for trial-based searches)."""
        if self.oneshot is None:
            return pd.DataFrame(columns=["step", "phase", "widths", "trained", "params", "loss", "reward"])
        return pd.DataFrame([{"step": r.step, "phase": r.phase,
                              "widths": _wstr(self.space.widths_of(list(r.dna))),
                              "trained": _wstr(r.trained), "params": r.cost, "loss": r.loss,
                              "reward": r.reward, "seconds": r.seconds}
                             for r in self.oneshot.history])

    def children_frame(self) -> pd.DataFrame:
        """Every evaluated child, one row each.

        Columns: ``source`` (oneshot / trial / random / final), ``widths``, ``params``,
        ``val_metric`` (the primary metric), ``val_set`` (what it was measured on:
        ``val_batches_shared_weights`` — the mean reward over ``val_evaluations`` validation
        batches of 4 × batch size rows with the supernet's shared weights — or ``val_split``,
        the whole validation split with the child trained standalone), ``val_evaluations``,
        ``seconds`` (standalone training time; NaN for one-shot samples, which are not timed
        apart) and ``test_metric`` (NaN where not measured).
        """
        rows = []
        for child in self.evaluated_children():
            oneshot = child.source == "oneshot"
            rows.append({"source": child.source, "widths": _wstr(child.widths),
                         "params": child.params, "val_metric": child.val_metric,
                         "val_set": "val_batches_shared_weights" if oneshot else "val_split",
                         "val_evaluations": child.epochs if oneshot else 1,
                         "seconds": child.seconds,
                         "test_metric": child.test_metrics.get(self.primary_metric, math.nan)})
        return pd.DataFrame(rows, columns=["source", "widths", "params", "val_metric", "val_set",
                                           "val_evaluations", "seconds", "test_metric"])

    def evaluated_children(self) -> list[ChildResult]:
        """Children with a measured quality: one-shot samples (mean validation-batch reward with
        shared weights; ``seconds`` NaN and ``epochs`` the number of rewards averaged),
        trial-based and random children (standalone), and the final model."""
        out: list[ChildResult] = []
        if self.oneshot is not None:
            stats: dict[tuple, list[float]] = {}
            for r in self.oneshot.history:
                if r.reward is not None:
                    stats.setdefault(tuple(r.dna), []).append(r.reward)
            for dna, rewards in stats.items():
                widths = self.space.widths_of(list(dna))
                out.append(ChildResult(widths, self.space.params(list(dna)),
                                       float(np.mean(rewards)), math.nan, "oneshot",
                                       epochs=len(rewards)))
        out += self.trials + self.random_children
        out.append(ChildResult(self.widths, self.params, self.final.val_metric, self.final.seconds,
                               "final", self.test_metrics, self.final.best_epoch))
        return out


# ------------------------------------------------------------------------------------------------
# The entry point


def search_table(
    data: TabularData | str | os.PathLike | pd.DataFrame | None = None,
    target: str | None = None,
    *,
    max_params: float,
    dataset: str | None = None,
    test: str | os.PathLike | pd.DataFrame | None = None,
    task: str | None = None,
    algorithm: str = "tabnas",
    steps: int | None = None,
    n_trials: int | None = None,
    time_budget_s: float | None = None,
    seed: int = 0,
    device: str = "auto",
    widths: Sequence[int] = DEFAULT_WIDTHS,
    depths: Sequence[int] = DEFAULT_DEPTHS,
    batch_size: int = 256,
    supernet_lr: float = 3e-3,
    warmup_fraction: float = 0.25,
    controller_lr: float | None = None,
    recipe: Recipe | None = None,
    n_random: int | None = None,
    reference: bool = True,
    drop_columns: Sequence[str] = (),
    strict_columns: bool = False,
    progress: Progress | None = None,
    callbacks: Sequence[Callback] = (),
    num_threads: int | None = 1,
    store_dir: str | os.PathLike | None = None,
    store_args: Mapping[str, Any] | None = None,
    store_force: bool = False,
    store_fresh: bool = False,
    checkpoint_every: int | None = None,
) -> TableSearchResult:
    """Find, train and measure the most accurate MLP with at most ``max_params`` parameters.

    Steps: load and preprocess the table (:func:`budgetnas.tabular.load_tabular`); build the
    :class:`~budgetnas.spaces.mlp.MLPSpace` (depth 1–4, 20 widths 8–512 by default) and the hard
    constraint ``params <= max_params``; search; retrain the chosen child from scratch with early
    stopping on validation (:class:`Recipe`); report its test metrics next to the best of
    ``n_random`` random feasible children trained standalone with the same recipe and seed, and
    HistGradientBoosting on the same split.

    Algorithms (``algorithm``):

    - ``"tabnas"`` (default): one-shot weight sharing with TabNAS rejection sampling and the
      corrected REINFORCE gradient (Yang et al. 2022, §3); the final child is the most probable
      feasible one under the learned policy.
    - ``"abs"``: the same loop with TuNAS's absolute-value reward ``Q + β|T/T0 − 1|`` (Bender
      et al. 2020, §3.2), which samples infeasible children too; the final child is the most
      probable *feasible* one.
    - ``"random"``, ``"evolution"``, ``"predictor"``: trial-based searches (uniform random,
      regularized evolution, neural predictor) that train ``n_trials`` children standalone
      with the recipe; the final model is the best by validation metric.

    Parameters
    ----------
    data : TabularData, path or DataFrame, optional
        The table (CSV / Parquet path or DataFrame, with ``target``), or data already prepared
        by :func:`~budgetnas.tabular.load_tabular`. Give ``data`` or ``dataset``.
    target : str, optional
        The target column (required for a path or DataFrame).
    max_params : float
        The budget: parameters (weights + biases) of the MLP, ``n_in → widths → n_out``.
    dataset : str, optional
        A named data set (``"adult"``, shipped inside the package) instead of ``data``.
    test : path or DataFrame, optional
        A separate test table; otherwise a stratified 70/15/15 train/validation/test split.
    task : {"binary", "multiclass", "regression"}, optional
        Overrides task detection.
    algorithm : str
        One of :data:`ALGORITHMS`.
    steps : int, optional
        One-shot steps (warm-up included). Default: about 8 epochs of the training split,
        between 1,500 and 6,000 steps.
    n_trials : int, optional
        Children trained by a trial-based search (default 12).
    time_budget_s : float, optional
        Wall-clock seconds for the search phase (one-shot steps or trials); it stops early when
        they run out. The random comparison gets the same time; final training and the
        reference come on top.
    seed : int
        Seeds the split, the search, and every standalone training.
    device : {"auto", "cpu", "cuda"}
    widths, depths : sequence of int
        The search space (see :class:`~budgetnas.spaces.mlp.MLPSpace`).
    batch_size : int
        Supernet training batch; the validation batch for rewards is 4× larger (TuNAS).
    supernet_lr : float
        Adam learning rate of the shared weights (sliced Adam). 3e-3 by default: on the
        exhaustive Letter check (``benchmarks/results/tabular_letter_exhaustive.md``) 1e-3
        picked within the seed spread of the best feasible child in 7 of 10 searches, 3e-3 in
        9 and 1e-2 in 10; 3e-3 is the cautious choice for wider inputs.
    warmup_fraction : float
        Share of one-shot steps that train the supernet alone with layer warm-up.
    controller_lr : float, optional
        Adam learning rate of the controller (default: the algorithm's, 0.1 for TabNAS as in
        the paper's toy example, 0.05 for the absolute reward).
    recipe : Recipe, optional
        Standalone training recipe (default :class:`Recipe()`).
    n_random : int, optional
        Random feasible children to train for the comparison. Default: as many as fit in the
        search's wall-clock time (at least 3, at most 30) for a one-shot search — equal compute —
        and the number of trials for a trial-based one; 0 disables the comparison.
    reference : bool
        Fit HistGradientBoosting on the same split.
    drop_columns : sequence of str
        Columns that are not features.
    strict_columns : bool
        Raise :class:`DataError` on an all-missing feature column instead of dropping it with a
        notice (the command line sets this).
    progress : callable, optional
        ``progress(phase, done, total)``.
    callbacks : sequence of Callback
        Hooks of the one-shot loop (e.g. checkpoints).
    num_threads : int or None
        torch intra-op threads on CPU during the run, restored afterwards. The default 1 is the
        fastest for MLPs this small: a step of a 104-48-1 network at batch 256 took 0.8 ms on
        one thread and 30-50 ms on two on a busy 2-core machine. None leaves torch's setting.
    store_dir : path, optional
        A run directory (:class:`budgetnas.store.RunDir`) that makes the search resumable: the
        same call after a crash or ``kill -9`` continues it. A trial-based search keeps every
        trial in its SQLite store (finished trials are kept, the interrupted one is re-run once,
        the search ends with ``n_trials`` finished trials); a one-shot search saves its whole
        state (supernet, optimiser, controller, RNGs, step) to ``checkpoints/oneshot.pt``
        every ``checkpoint_every`` steps, atomically, and continues from the last checkpoint to
        the result of an uninterrupted run. Created only after the data and budget are
        validated.
    checkpoint_every : int, optional
        One-shot searches with ``store_dir``: steps between checkpoints (default: 1/40 of the
        steps, at least 25).
    store_args : mapping, optional
        JSON-able arguments recorded in ``run.json`` (the command line's); resuming with other
        arguments raises :class:`~budgetnas.errors.SettingsMismatchError` unless
        ``store_force``.
    store_force : bool
        Resume the stored search even if its settings differ.
    store_fresh : bool
        Discard an existing ``store_dir`` and start the search again.

    Returns
    -------
    TableSearchResult

    Raises
    ------
    DataError
        Bad input data (see :func:`~budgetnas.tabular.load_tabular`), or an all-missing column
        with ``strict_columns``.
    InfeasibleBudgetError
        ``max_params`` is below the smallest child (the message names the minimum).
    SearchConfigError
        Unknown algorithm, or inconsistent settings.
    SettingsMismatchError
        ``store_dir`` holds a search with other settings and ``store_force`` is False.

    Warns
    -----
    UnconstrainedBudgetWarning
        ``max_params`` is at least the largest child's size.
    """
    args = dict(locals())  # every parameter, passed on unchanged
    threads = args.pop("num_threads")
    with _torch_threads(threads if resolve_device(device).type == "cpu" else None):
        return _search_table(**args)


def _search_table(data, target, *, max_params, dataset, test, task, algorithm, steps, n_trials,
                  time_budget_s, seed, device, widths, depths, batch_size, supernet_lr,
                  warmup_fraction, controller_lr, recipe, n_random, reference, drop_columns,
                  strict_columns, progress, callbacks, store_dir, store_args, store_force,
                  store_fresh, checkpoint_every) -> TableSearchResult:
    t_start = time.perf_counter()
    algorithm = _check_algorithm(algorithm)
    recipe = recipe or Recipe()
    dev = resolve_device(device)
    report = progress or (lambda phase, done, total: None)
    notices: list[str] = []

    report("data", 0, 1)
    prepared, dataset_name, read_options = _prepare_data(
        data, target, dataset=dataset, test=test, task=task, seed=seed,
        drop_columns=drop_columns, strict_columns=strict_columns)
    notices += prepared.notices
    space = MLPSpace(prepared.n_features, prepared.n_outputs, widths, depths)
    budget = check_budget(space, max_params, notices)
    report("data", 1, 1)
    timings = {"data": time.perf_counter() - t_start}

    hgb = None
    if reference:
        report("reference", 0, 1)
        t0 = time.perf_counter()
        with threadpool_limits(limits=torch.get_num_threads()):  # as many threads as torch
            hgb = hgb_baseline(prepared, seed=seed)
        timings["reference"] = time.perf_counter() - t0
        report("reference", 1, 1)

    settings = {"algorithm": algorithm, "max_params": max_params, "seed": seed,
                "device": str(dev), "batch_size": batch_size, "supernet_lr": supernet_lr,
                "warmup_fraction": warmup_fraction, "controller_lr": controller_lr,
                "recipe": recipe.kwargs(),
                "time_budget_s": time_budget_s, "widths": list(space.widths),
                "depths": list(space.depths)}
    t0 = time.perf_counter()
    oneshot = None
    trials: list[ChildResult] = []
    trial_models: dict[tuple, TrainResult] = {}
    if algorithm in ONE_SHOT:
        steps = steps or default_steps(len(prepared.y_train), batch_size)
        settings["steps"] = steps
        run = None
        if store_dir is not None:  # only now: bad input above has written nothing
            run = _open_store(store_dir, settings, store_args, force=store_force,
                              fresh=store_fresh, kind="oneshot")
            store_dir = run.path
        every = int(checkpoint_every or max(25, steps // 40))
        try:
            if run is not None:
                run.mark("running")
            oneshot, dna = _run_oneshot(prepared, space, budget, algorithm, steps=steps,
                                        seed=seed, device=dev, batch_size=batch_size,
                                        lr=supernet_lr, warmup_fraction=warmup_fraction,
                                        time_budget_s=time_budget_s, report=report,
                                        callbacks=callbacks, controller_lr=controller_lr,
                                        checkpoint_dir=None if run is None else run.checkpoints_dir,
                                        checkpoint_every=every)
        except BaseException as exc:
            if run is not None:
                run.mark("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        if oneshot.resumed_from:
            notices.append(f"resumed from the checkpoint of step {oneshot.resumed_from:,} of "
                           f"{steps:,}")
        if oneshot.stopped == "time":
            notices.append(f"the time budget ended the search after {oneshot.steps_done:,} of "
                           f"{steps:,} steps")
    else:
        n_trials = int(n_trials or 12)
        settings["n_trials"] = n_trials
        run = None
        if store_dir is not None:  # only now: bad input above has written nothing
            run = _open_store(store_dir, settings, store_args, force=store_force,
                              fresh=store_fresh)
            store_dir = run.path
        trials, trial_models = _run_trials(prepared, space, budget, algorithm, n_trials=n_trials,
                                           seed=seed, device=dev, recipe=recipe,
                                           time_budget_s=time_budget_s, report=report, run=run,
                                           force=store_force)
        best = max(trials, key=lambda c: c.val_metric)
        dna = space.dna_of(best.widths)
    timings["search"] = time.perf_counter() - t0

    chosen = space.widths_of(list(dna))
    report("final", 0, 1)
    t0 = time.perf_counter()
    if algorithm in ONE_SHOT or chosen not in trial_models:
        # a resumed search trained its best child in an earlier process: the same seed and
        # recipe train it again to the same weights
        final = train_mlp(prepared, chosen, seed=seed, device=dev, **recipe.kwargs())
    else:
        final = trial_models[chosen]  # already trained from scratch with the same recipe
    model = final.model.to("cpu").eval()
    test_metrics = evaluate_model(model, prepared.X_test, prepared.y_test, prepared.task,
                                  n_classes=prepared.n_classes or None)
    timings["final"] = time.perf_counter() - t0
    report("final", 1, 1)

    random_children: list[ChildResult] = []
    random_best = None
    if algorithm == "random":
        random_children = []
        notices.append("the search itself is random search: its trials are the random comparison")
        random_best = max(trials, key=lambda c: c.val_metric)
        random_best.test_metrics = test_metrics
    elif n_random != 0:
        t0 = time.perf_counter()
        if n_random is None:
            count, seconds = (None, timings["search"]) if algorithm in ONE_SHOT else (len(trials), None)
        else:
            count, seconds = int(n_random), None
        random_children, random_model = _random_children(
            prepared, space, budget, count=count, seconds=seconds, seed=seed, device=dev,
            recipe=recipe, report=report)
        random_best = max(random_children, key=lambda c: c.val_metric)
        random_best.test_metrics = evaluate_model(random_model, prepared.X_test, prepared.y_test,
                                                  prepared.task, n_classes=prepared.n_classes or None)
        timings["random"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start

    return TableSearchResult(
        data=prepared, space=space, max_params=float(max_params), algorithm=algorithm, seed=seed,
        widths=tuple(chosen), dna=DNA(dna), params=space.params(list(dna)), model=model,
        final=final, val_metrics=final.val_metrics, test_metrics=test_metrics,
        random_children=random_children, random_best=random_best, hgb=hgb, oneshot=oneshot,
        trials=trials, settings=settings, timings=timings, notices=notices,
        dataset_name=dataset_name, read_options=read_options,
        store_dir=None if store_dir is None else Path(store_dir))


# ------------------------------------------------------------------------------------------------
# Pieces


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"`` / ``"cuda"`` as given.

    Raises
    ------
    SearchConfigError
        For another name, or ``"cuda"`` without a CUDA device.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise SearchConfigError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SearchConfigError("device 'cuda' was asked for but torch sees no CUDA device; "
                                "use --device cpu or auto")
    return torch.device(device)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op threads for the block and restore them after."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_steps(n_train: int, batch_size: int) -> int:
    """One-shot steps by default: about 8 epochs of the training split, within [1500, 6000]."""
    return int(min(6000, max(1500, round(8 * n_train / batch_size))))


def check_budget(space: MLPSpace, max_params: float, notices: list[str] | None = None):
    """The constraint ``params <= max_params`` on ``space``, checked against its extremes.

    Raises
    ------
    InfeasibleBudgetError
        If ``max_params`` is below the smallest child; the message names the minimum.

    Warns
    -----
    UnconstrainedBudgetWarning
        If ``max_params`` is at least the largest child (every child fits).
    """
    try:
        max_params = float(max_params)
    except (TypeError, ValueError):
        raise SearchConfigError(f"max_params must be a number, got {max_params!r}") from None
    if not math.isfinite(max_params) or max_params <= 0:
        raise SearchConfigError(f"max_params must be a positive number, got {max_params!r}")
    smallest, largest = space.min_params(), space.max_params()
    if max_params < smallest:
        raise InfeasibleBudgetError(
            f"max_params={max_params:,.0f} is below the smallest MLP of the search space: "
            f"the minimum is {smallest:,} parameters (one hidden layer of width "
            f"{space.widths[0]} for {space.n_in} input features and {space.n_out} output(s)); "
            f"raise --max-params to at least {smallest:,}")
    if max_params >= largest:
        message = (f"max_params={max_params:,.0f} is at least the largest MLP of the space "
                   f"({largest:,} parameters): the search is unconstrained")
        warnings.warn(message, UnconstrainedBudgetWarning, stacklevel=3)
        if notices is not None:
            notices.append(message)
    return space.constraint(max_params)


def most_probable_feasible(space: MLPSpace, probabilities: Sequence[np.ndarray],
                           constraint) -> DNA:
    """The feasible child of highest probability under a factorised policy, by enumeration.

    ``log p(x) = Σ_active log p_d[x_d]`` over the active decisions of each child; the
    per-decision argmax can be infeasible, so the maximum is taken over the feasible set
    (TabNAS, Yang et al. 2022, §3.3). Exact; enumerates ``space.size`` children as arrays.

    Raises
    ------
    InfeasibleBudgetError
        If no child is feasible.
    """
    X = space.all_vectors()
    ok = np.asarray(constraint.feasible_batch(X), dtype=bool)
    if not ok.any():
        raise InfeasibleBudgetError("no child of the space is feasible under the constraint")
    X = X[ok]
    logp = np.zeros(len(X))
    for d, p in enumerate(probabilities):
        col = X[:, d]
        live = col >= 0
        logp[live] += np.log(np.maximum(np.asarray(p, dtype=np.float64)[col[live]], 1e-300))
    return space.spec.from_vector(X[int(np.argmax(logp))])


def _check_algorithm(algorithm: str) -> str:
    name = str(algorithm).lower()
    if name not in ALGORITHMS:
        raise SearchConfigError(f"unknown algorithm {algorithm!r}; choose one of {list(ALGORITHMS)}")
    return name


def _prepare_data(data, target, *, dataset, test, task, seed, drop_columns, strict_columns
                  ) -> tuple[TabularData, str | None, dict[str, Any] | None]:
    """The prepared data, the shipped data set's name (or None), and how the training rows
    were read from text (:data:`CSV_READ`, or None when they were not read from a CSV)."""
    if isinstance(data, TabularData):
        return data, None, None
    if (data is None) == (dataset is None):
        raise DataError("give either a table (a path or DataFrame, with target=...) or a named "
                        "dataset (dataset='adult'), not both and not neither")
    name = None
    if dataset is not None:
        train_df, test_df, dataset_target = load_dataset(dataset)
        data, test, name = train_df, test_df if test is None else test, dataset
        target = target or dataset_target
    if target is None:
        raise DataError("target=... is required: the name of the column to predict")
    read_options = None
    if name is not None or (isinstance(data, (str, os.PathLike))
                            and not str(data).lower().endswith((".parquet", ".pq"))):
        read_options = dict(CSV_READ)
    frame = read_table(data)
    test_frame = None if test is None else read_table(test)
    if strict_columns:
        skip = {str(c) for c in drop_columns}
        _reject_all_missing(frame, "the data", skip)
        if test_frame is not None:
            _reject_all_missing(test_frame, "the test data", skip, only=list(frame.columns))
    return load_tabular(frame, target, test=test_frame, task=task, seed=seed,
                        drop_columns=drop_columns), name, read_options


def _reject_all_missing(frame: pd.DataFrame, where: str, skip: set[str],
                        only: list | None = None) -> None:
    empty = [str(c) for c in frame.columns if str(c) not in skip and frame[c].isna().all()
             and (only is None or c in only)]
    if empty:
        raise DataError(f"column(s) {empty} of {where} are missing in every row; drop them from "
                        "the file or pass --drop COLUMN for each")


def _run_oneshot(data: TabularData, space: MLPSpace, budget, algorithm: str, *, steps: int,
                 seed: int, device: torch.device, batch_size: int, lr: float,
                 warmup_fraction: float, time_budget_s: float | None, report: Progress,
                 callbacks: Sequence[Callback], controller_lr: float | None = None,
                 checkpoint_dir: Path | None = None, checkpoint_every: int = 0
                 ) -> tuple[OneShotResult, DNA]:
    """Build the MLP supernet task and run :class:`~budgetnas.oneshot.OneShotSearch`; with
    ``checkpoint_dir``, checkpoint into it and resume from the checkpoint found there
    (``result.resumed_from`` is the step it resumed at, 0 for a fresh search)."""
    max_widths = space.feasible_max_widths(budget.max)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        supernet = MLPSupernet(space.n_in, max_widths, space.n_out).to(device)
    X_train = torch.as_tensor(data.X_train, device=device)
    X_val = torch.as_tensor(data.X_val, device=device)
    y_train, y_val = _targets(data, data.y_train, device), _targets(data, data.y_val, device)
    task_name = data.task
    loss_fn = lambda out, y: task_loss(out, y, task_name)  # noqa: E731
    reward_fn = accuracy_reward if task_name != "regression" else _r2_reward
    task = SupervisedTask(
        supernet, SlicedAdam(supernet, lr=lr),
        BatchStream(X_train, y_train, batch_size, seed=seed),
        BatchStream(X_val, y_val, 4 * batch_size, seed=seed + 1),
        loss_fn, reward_fn, decode=lambda dna: space.widths_of(list(dna)),
        warmup=supernet.warmup_widths)
    controller = _make_controller(algorithm, seed, controller_lr)

    class _Report(Callback):
        def on_step(self, search, record: StepRecord) -> None:
            if record.step % 25 == 0 or search.step == search.steps:
                report("search", search.step, search.steps)

    saver = [] if checkpoint_dir is None else [RunCheckpoint(checkpoint_dir)]
    search = OneShotSearch(task, controller, space.spec, constraints=[budget],
                           cost=space.param_cost(), steps=steps,
                           warmup_fraction=warmup_fraction, seed=seed,
                           callbacks=[_Report(), *saver, *callbacks], time_budget_s=time_budget_s,
                           checkpoint_every=checkpoint_every if saver else 0)
    if checkpoint_dir is not None:
        resume_if_checkpointed(search, checkpoint_dir)
    result = search.run()
    if hasattr(controller, "most_probable_feasible"):
        dna = controller.most_probable_feasible()
    else:
        probs = policy_probabilities(controller)
        if probs is None:
            raise SearchConfigError(f"controller {type(controller).__name__} exposes no policy")
        dna = most_probable_feasible(space, probs, budget)
    return result, DNA(dna)


def _make_controller(algorithm: str, seed: int, controller_lr: float | None):
    """TabNAS (exact P(V) up to 200,000 children: the default MLP space has 168,420) or
    REINFORCE with TuNAS's absolute reward; both reject infeasible children."""
    from budgetnas.search import Reinforce, TabNAS

    kw = {} if controller_lr is None else {"lr": controller_lr}
    if algorithm == "tabnas":
        return TabNAS(seed=seed, exact_threshold=200_000, **kw)
    return Reinforce(reward="abs", seed=seed, enumerate_limit=200_000, **kw)


def _make_trial_algorithm(algorithm: str, seed: int, n_trials: int):
    """Random search, regularized evolution or the neural predictor, sized for ``n_trials``.

    The feasible set is enumerated up to 200,000 children (the default space has 168,420), so
    that the predictor ranks unseen feasible children directly instead of drawing them by
    rejection.
    """
    from budgetnas.search import NeuralPredictor, RegularizedEvolution
    from budgetnas.search import Random as RandomSearch

    if algorithm == "random":
        return RandomSearch(seed=seed)
    if algorithm == "evolution":
        population = max(2, n_trials // 3)
        return RegularizedEvolution(population_size=population,
                                    tournament_size=max(1, population // 2), seed=seed,
                                    enumerate_limit=200_000)
    initial = max(2, n_trials // 2)
    return NeuralPredictor(num_initial=initial, top_k=max(1, (n_trials - initial) // 2),
                           num_candidates=10_000, seed=seed, enumerate_limit=200_000)


def _run_trials(data: TabularData, space: MLPSpace, budget, algorithm: str, *, n_trials: int,
                seed: int, device: torch.device, recipe: Recipe, time_budget_s: float | None,
                report: Progress, run=None, force: bool = False
                ) -> tuple[list[ChildResult], dict[tuple, TrainResult]]:
    """A trial-based search: each child proposed is trained standalone; reward = val metric.

    With ``run`` (a :class:`budgetnas.store.RunDir`) the trials live in its SQLite store and
    the search resumes from it: it stops at ``n_trials`` finished trials in all. Every child is
    trained with the run's ``seed`` (a function of the seed and the widths alone), so a trial
    re-run after a kill gives the value it would have had.
    """
    algo = _make_trial_algorithm(algorithm, seed, n_trials)
    storage = None if run is None else run.storage()
    study_kw = {} if run is None else {
        "storage": storage, "study_name": run.study_name, "force": force,
        "settings": {"recipe": recipe.kwargs(), "max_params": float(budget.max),
                     "widths": list(space.widths), "depths": list(space.depths),
                     "task": data.task, "n_features": data.n_features}}
    models: dict[tuple, TrainResult] = {}
    try:
        study = Study(space.space, algo, constraints=[budget], seed=seed, **study_kw)

        def objective(trial) -> dict[str, float]:
            widths = space.widths_of(list(trial.dna))
            res = models.get(widths) or train_mlp(data, widths, seed=seed, device=device,
                                                  **recipe.kwargs())
            models[widths] = res
            report("search", study.n_finished() + 1, n_trials)
            return {"reward": res.val_metric, "seconds": res.seconds,
                    "epochs": len(res.history), "params": space.params(list(trial.dna))}

        if run is not None:
            run.mark("running")
        study.optimize(objective, max_trials=n_trials, timeout=time_budget_s, catch=())
    except BaseException as exc:
        if run is not None:
            run.mark("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    finally:
        if storage is not None:
            storage.dispose()
    children = [ChildResult(space.widths_of(list(t.dna)), space.params(list(t.dna)),
                            float(t.value), float(t.metrics.get("seconds", 0.0)), "trial",
                            epochs=int(t.metrics.get("epochs", 0)))
                for t in sorted(study.completed_trials(), key=lambda t: t.number)]
    if not children:
        raise SearchConfigError("the trial-based search trained no child (time budget too small?)")
    return children, models


def _open_store(path, settings: Mapping[str, Any], args: Mapping[str, Any] | None, *,
                force: bool, fresh: bool, kind: str = "trials"):
    """The run directory that keeps a search's trials or one-shot checkpoints (created or
    reopened)."""
    from budgetnas.store.rundir import RunDir

    path = Path(path)
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    kept = {k: v for k, v in settings.items() if k not in ("time_budget_s", "n_trials")}
    extra = {"kind": "oneshot"} if kind == "oneshot" else {}
    return RunDir.create(path, {
        "command": "search", "study_name": "search", **extra,
        "args": _jsonable(dict(args) if args is not None else kept),
        "entry": "budgetnas.cli.search:resume_run",
        "report": "budgetnas.cli.search:report_run"}, force=force)


def _copy_store(store: Path, dest: Path) -> None:
    """Copy a run's ``run.json``, ``study.db`` (SQLite backup API: consistent under WAL) and
    ``checkpoints/`` into ``dest`` and mark it ``complete``."""
    from budgetnas.store.atomic import atomic_write_json

    shutil.copy2(store / "run.json", dest / "run.json")
    if (store / "study.db").exists():
        with contextlib.closing(sqlite3.connect(store / "study.db")) as src, \
                contextlib.closing(sqlite3.connect(dest / "study.db")) as dst:
            src.backup(dst)
    if (store / "checkpoints").is_dir():
        shutil.copytree(store / "checkpoints", dest / "checkpoints", dirs_exist_ok=True)
    (dest / "report").mkdir(exist_ok=True)
    atomic_write_json(dest / "status.json", {"state": "complete", "pid": os.getpid(),
                                             "host": socket.gethostname(), "updated": time.time()})


def _random_children(data: TabularData, space: MLPSpace, budget, *, count: int | None,
                     seconds: float | None, seed: int, device: torch.device, recipe: Recipe,
                     report: Progress, min_count: int = 3, max_count: int = 30
                     ) -> tuple[list[ChildResult], nn.Module]:
    """Random feasible children trained standalone: ``count`` of them, or as many as fit in
    ``seconds`` (between ``min_count`` and ``max_count``). Returns them and the best model."""
    sampler = Random(seed=seed + 7919)  # its own stream: independent of the search's draws
    sampler.setup(space.spec, [budget])
    children: list[ChildResult] = []
    best_model, best = None, -math.inf
    start = time.perf_counter()
    target = count if count is not None else max_count
    while len(children) < target:
        if count is None and len(children) >= min_count and time.perf_counter() - start >= seconds:
            break
        dna = sampler.propose()
        widths = space.widths_of(list(dna))
        res = train_mlp(data, widths, seed=seed, device=device, **recipe.kwargs())
        children.append(ChildResult(widths, space.params(list(dna)), res.val_metric, res.seconds,
                                    "random", epochs=len(res.history)))
        if res.val_metric > best:
            best, best_model = res.val_metric, res.model.to("cpu").eval()
        report("random", len(children), count)
    assert best_model is not None
    return children, best_model


def _targets(data: TabularData, y: np.ndarray, device: torch.device) -> torch.Tensor:
    if data.task == "regression":
        return torch.as_tensor((y - data.y_mean) / data.y_std, dtype=torch.float32, device=device)
    return torch.as_tensor(y, dtype=torch.int64, device=device)


def _r2_reward(outputs: torch.Tensor, y: torch.Tensor) -> float:
    """1 − MSE on the standardised target: about R² on the batch."""
    return float(1.0 - torch.mean((outputs[:, 0] - y) ** 2))


# ------------------------------------------------------------------------------------------------
# Run directories


@dataclass
class SavedRun:
    """A finished run directory loaded back for prediction (see :func:`load_run`).

    It applies what ``budgetnas predict`` applies: :meth:`read` reads a file as the search read
    its training data (``"?"`` is missing in CSVs; raw UCI Adult files are recognised),
    :meth:`features` cleans a DataFrame read any other way the same (e.g. plain
    ``pandas.read_csv``, which keeps Adult's ``"?"`` as text) and turns it into the float32
    features that ``model.onnx`` takes, and :meth:`predict_proba` / :meth:`predict` /
    :meth:`predict_frame` give the model's outputs.

    Attributes
    ----------
    path : pathlib.Path
    architecture : dict
        ``architecture.json``.
    model : torch.nn.Module
        The final MLP (CPU, eval mode); outputs logits (classification) or values in the
        target's units (regression).
    preprocessing : dict
        ``preprocessing.json`` (feature columns, classes, task, target, read options, shipped
        data set) plus ``"preprocessor"``: the fitted ColumnTransformer of ``preprocessor.pkl``.
    """

    path: Path
    architecture: dict[str, Any]
    model: nn.Module
    preprocessing: dict[str, Any]

    @property
    def task(self) -> str:
        return self.architecture["task"]

    @property
    def classes(self) -> list | None:
        """The class labels, in the order of the probability columns (None for regression)."""
        return self.preprocessing.get("classes")

    @property
    def preprocessor(self) -> Any:
        """The fitted scikit-learn ``ColumnTransformer`` (raw feature columns → features)."""
        return self.preprocessing["preprocessor"]

    def read(self, source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
        """Rows to predict, read as ``budgetnas predict`` reads them: a raw UCI Adult file
        (``adult.test``, gzip too) with its reader, any other CSV / Parquet file with
        :func:`~budgetnas.tabular.data.read_table`; a DataFrame passes through.

        Raises
        ------
        DataError
            If the file cannot be read.
        """
        from budgetnas.tabular.datasets import is_raw_adult, read_adult

        if not isinstance(source, pd.DataFrame) and is_raw_adult(source):
            return read_adult(source)
        return read_table(source)

    def features(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input for raw rows: float32, shape ``(len(frame), n_in)``.

        Cells are first cleaned as the training rows were read (``preprocessing.json``'s
        ``read``: leading spaces dropped, ``"?"`` counted as missing), so a frame from plain
        ``pandas.read_csv`` gives the same features as ``budgetnas predict``. This is what
        ``model.onnx`` takes (input ``features``).

        Raises
        ------
        DataError
            If a feature column of the training data is missing, or a numeric column holds
            text that is not a number.
        """
        columns = self.preprocessing["feature_columns"]
        frame = frame.rename(columns=str)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"the data lacks feature columns {missing} that the model was "
                            f"trained on; it needs: {columns}")
        clean = _clean_like_reader(frame[columns], self.preprocessing.get("read"),
                                   _numeric_columns(self.preprocessor))
        return self.preprocessor.transform(clean).astype(np.float32)

    def outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities ``(n,)`` of the second class (binary), ``(n, k)`` (multiclass), or
        values ``(n,)`` in the target's units (regression)."""
        return outputs_to_predictions(predict_outputs(self.model, self.features(frame)),
                                      self.task)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(len(frame), n_classes)``, columns in :attr:`classes`.

        Raises
        ------
        DataError
            For a regression run, or a missing feature column.
        """
        if self.task == "regression":
            raise DataError("predict_proba is for classification runs; this run is a "
                            "regression: use predict()")
        pred = self.outputs(frame)
        return np.column_stack([1 - pred, pred]) if self.task == "binary" else pred

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels (classification) or values (regression), shape ``(len(frame),)``."""
        return self.predict_frame(frame)["prediction"].to_numpy()

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for raw rows: ``prediction`` and, for classification, ``proba_<class>``.

        Raises
        ------
        DataError
            If a feature column of the training data is missing.
        """
        if self.task == "regression":
            return pd.DataFrame({"prediction": self.outputs(frame)})
        classes = self.classes
        proba = self.predict_proba(frame)
        out = pd.DataFrame({"prediction": np.asarray(classes, dtype=object)[proba.argmax(axis=1)]})
        for i, c in enumerate(classes):
            out[f"proba_{c}"] = proba[:, i]
        return out

    def normalise_labels(self, y: pd.Series) -> pd.Series:
        """Target values spelled as in training: for a run on the shipped UCI Adult data the
        trailing ``"."`` of ``adult.test``'s labels (``"<=50K."``) is stripped, as the shipped
        reader does; other runs' labels are returned unchanged."""
        if self.preprocessing.get("dataset") != "adult" or is_numeric_dtype(y):
            return y
        return y.where(y.isna(), y.astype(str).str.strip().str.rstrip("."))


def load_run(path: str | os.PathLike) -> SavedRun:
    """Load a finished tabular run directory for prediction (see :class:`SavedRun`).

    >>> run = load_run("runs/adult")                               # doctest: +SKIP
    >>> run.predict_proba(pd.read_csv("new.csv"))                  # doctest: +SKIP
    >>> onnx_input = run.features(pd.read_csv("new.csv"))          # model.onnx's input

    Reads ``architecture.json``, ``model.safetensors``, ``preprocessor.pkl`` (the fitted
    ColumnTransformer; a dict in runs written before ``preprocessing.json`` existed) and
    ``preprocessing.json``.

    Raises
    ------
    DataError
        If the directory or one of its files is missing or unreadable.
    """
    from safetensors.torch import load_file

    path = Path(path)
    needed = ["architecture.json", "model.safetensors", "preprocessor.pkl"]
    if not path.is_dir():
        raise DataError(f"run directory {str(path)!r} does not exist; give the --out directory "
                        "of a finished `budgetnas search`")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise DataError(f"{str(path)!r} is not a complete run directory: {missing} missing")
    try:
        arch = json.loads((path / "architecture.json").read_text())
        with open(path / "preprocessor.pkl", "rb") as f:
            pre = pickle.load(f)  # noqa: S301 - the user's own run directory
        if isinstance(pre, dict):  # older runs: the transformer and its metadata in one dict
            meta = {k: v for k, v in pre.items() if k != "preprocessor"}
            pre = pre["preprocessor"]
            meta.setdefault("read", dict(CSV_READ))  # they were all read by read_table
        elif (path / "preprocessing.json").is_file():
            meta = json.loads((path / "preprocessing.json").read_text())
        else:
            meta = {"read": None}
        for key in ("feature_columns", "classes", "task", "target"):
            meta.setdefault(key, arch.get(key))
        if "dataset" not in meta:
            meta["dataset"] = _metrics_dataset(path)
        model = build_mlp(arch["n_in"], arch["widths"], arch["n_out"])
        model.load_state_dict(load_file(str(path / "model.safetensors")))
    except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError) as exc:
        raise DataError(f"cannot load the run in {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    return SavedRun(path, arch, model.eval(), {**meta, "preprocessor": pre})


def _metrics_dataset(path: Path) -> str | None:
    try:
        return (json.loads((path / "metrics.json").read_text()).get("data") or {}).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None


def _numeric_columns(pre: Any) -> set[str]:
    return {str(c) for name, _, cols in getattr(pre, "transformers_", []) if name == "num"
            for c in cols}


def _clean_like_reader(frame: pd.DataFrame, read: Mapping[str, Any] | None,
                       numeric: set[str]) -> pd.DataFrame:
    """Apply ``read_csv``'s ``skipinitialspace`` and ``na_values`` to text cells of a frame
    read otherwise, and turn numeric columns that were text (because of a ``"?"``) into
    numbers."""
    if not read:
        return frame
    markers = {str(m) for m in read.get("na_values") or []}
    strip = bool(read.get("skipinitialspace"))
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if is_numeric_dtype(col) or is_bool_dtype(col):
            continue
        known = col.notna()
        text = col[known].astype(str)
        if strip:
            text = text.str.lstrip(" ")
        text = text.where(~text.isin(markers))
        cleaned = pd.Series(np.nan, index=col.index, dtype=object)
        cleaned[known] = text.astype(object)
        if c in numeric:
            try:
                cleaned = pd.to_numeric(cleaned)
            except (TypeError, ValueError) as exc:
                raise DataError(f"numeric feature column {c!r} holds text that is not a "
                                f"number: {exc}") from None
        out[c] = cleaned
    return out


def _preprocessing_meta(data: TabularData, read: Mapping[str, Any] | None,
                        dataset: str | None) -> dict[str, Any]:
    """What ``preprocessing.json`` holds: everything besides the fitted transformer."""
    pre = data.preprocessor
    return {"preprocessor": "preprocessor.pkl: a fitted sklearn ColumnTransformer; "
                            "pickle.load(f).transform(rows[feature_columns]) gives the "
                            "features of model.onnx once rows are read as `read` says",
            "feature_columns": list(data.feature_columns),
            "numeric_columns": sorted(_numeric_columns(pre)),
            "feature_names": list(data.feature_names),
            "n_features": data.n_features,
            "classes": None if data.classes_ is None else [_py(c) for c in data.classes_],
            "task": data.task, "target": data.target, "y_mean": data.y_mean,
            "y_std": data.y_std, "read": None if read is None else dict(read),
            "dataset": dataset}


def _export_onnx(model: nn.Module, n_in: int, path: Path) -> str | None:
    """Export with the TorchScript exporter (fast, no onnxscript); a notice if it cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(copy.deepcopy(model).eval(), (torch.zeros(1, n_in),), str(path),
                              input_names=["features"], output_names=["outputs"],
                              dynamic_axes={"features": {0: "batch"}, "outputs": {0: "batch"}},
                              dynamo=False)
    except Exception as exc:  # an optional artefact: the run stays usable without it
        path.unlink(missing_ok=True)
        return (f"ONNX export skipped ({type(exc).__name__}: {exc}); install the extra with "
                "`pip install budgetnas[onnx]`")
    return None



def _wstr(widths: Sequence[int]) -> str:
    return "-".join(str(int(w)) for w in widths)


def _py(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return _py(obj)
