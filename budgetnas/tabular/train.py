"""Train a standalone MLP on a :class:`~budgetnas.tabular.data.TabularData` (Adam, mini-batches, early stopping).

The MLP is the TabNAS child network (Yang et al., NeurIPS 2022, arXiv 2204.07615; summarised
in reference/papers.md §2): a stack of fully-connected layers with ReLU, whose size is its
number of parameters (weights + biases).

Example
-------
>>> from budgetnas.tabular import load_dataset, load_tabular, train_mlp
>>> train_df, test_df, target = load_dataset("adult")
>>> data = load_tabular(train_df, target, test=test_df)
>>> result = train_mlp(data, [64, 32], max_epochs=5)
>>> round(result.val_metric, 2)  # doctest: +SKIP
0.85
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.errors import DataError
from budgetnas.tabular.data import TabularData
from budgetnas.tabular.metrics import PRIMARY_METRIC, evaluate_model

__all__ = ["TrainResult", "build_mlp", "mlp_num_params", "task_loss", "train_mlp", "train_model"]


def build_mlp(n_in: int, widths: Sequence[int], n_out: int) -> nn.Sequential:
    """A feed-forward network: ``Linear -> ReLU`` per hidden width, then a ``Linear`` output layer.

    Parameters
    ----------
    n_in : int
        Input features.
    widths : sequence of int
        Hidden layer widths, in order; may be empty (a linear model).
    n_out : int
        Output units.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(batch, n_in)`` to ``(batch, n_out)``; it has :func:`mlp_num_params` parameters.

    Raises
    ------
    ValueError
        If a size is not a positive integer.
    """
    sizes = [n_in, *widths, n_out]
    if any(int(s) != s or s < 1 for s in sizes):
        raise ValueError(
            f"MLP sizes must be positive integers, got n_in={n_in}, widths={list(widths)}, "
            f"n_out={n_out}"
        )
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(int(a), int(b)), nn.ReLU()]
    layers.append(nn.Linear(int(sizes[-2]), int(n_out)))
    return nn.Sequential(*layers)


def mlp_num_params(n_in: int, widths: Sequence[int], n_out: int) -> int:
    """Parameters (weights + biases) of :func:`build_mlp`: ``sum((in + 1) * out)`` over the layers.

    This is TabNAS's resource measure (Yang et al., NeurIPS 2022; reference/papers.md §2).

    Parameters
    ----------
    n_in, widths, n_out
        As in :func:`build_mlp`.

    Returns
    -------
    int
        Parameter count.
    """
    sizes = [int(n_in), *map(int, widths), int(n_out)]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def task_loss(outputs: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """The training loss of a task, averaged over the batch.

    Parameters
    ----------
    outputs : torch.Tensor
        shape ``(batch, n_outputs)``: one logit (binary), K logits (multiclass), or one value
        (regression, on the standardised target).
    y : torch.Tensor
        shape ``(batch,)``: int64 class indices, or float regression targets (standardised).
    task : {"binary", "multiclass", "regression"}

    Returns
    -------
    torch.Tensor
        Scalar: binary cross-entropy with logits, softmax cross-entropy, or mean squared error.

    Raises
    ------
    ValueError
        If ``task`` is unknown.
    """
    if task == "binary":
        return F.binary_cross_entropy_with_logits(outputs[:, 0], y.to(outputs.dtype))
    if task == "multiclass":
        return F.cross_entropy(outputs, y)
    if task == "regression":
        return F.mse_loss(outputs[:, 0], y.to(outputs.dtype))
    raise ValueError(f"task must be 'binary', 'multiclass' or 'regression', got {task!r}")


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The weights of the best validation epoch; regression outputs are in the target's units.
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss`` (mean over batches), ``val_loss``.
    best_epoch : int
        Epoch (1-based) whose weights were kept.
    val_loss : float
        Validation loss of ``model`` (standardised units for regression).
    val_metric : float
        The primary metric on validation data: accuracy (classification) or R² (regression);
        higher is better.
    val_metrics : dict
        Every metric of :func:`~budgetnas.tabular.metrics.evaluate_model` on validation data.
    seconds : float
        Wall-clock training time.
    """

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    val_loss: float = math.inf
    val_metric: float = math.nan
    val_metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _targets(data: TabularData, y: np.ndarray) -> torch.Tensor:
    if data.task == "regression":
        return torch.as_tensor((y - data.y_mean) / data.y_std, dtype=torch.float32)
    return torch.as_tensor(y, dtype=torch.int64)


@torch.no_grad()
def _mean_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor, task: str, batch: int) -> float:
    total = 0.0
    for i in range(0, len(X), batch):
        total += float(task_loss(model(X[i : i + batch]), y[i : i + batch], task)) * len(
            X[i : i + batch]
        )
    return total / max(len(X), 1)


@torch.no_grad()
def _unscale_output(model: nn.Module, mean: float, std: float) -> nn.Module:
    """Fold the target standardisation into the last Linear layer (outputs in target units)."""
    last = model[-1] if isinstance(model, nn.Sequential) else None
    if isinstance(last, nn.Linear):
        last.weight.mul_(std)
        last.bias.mul_(std).add_(mean)
        return model
    return nn.Sequential(model, _Affine(std, mean))


class _Affine(nn.Module):
    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def train_model(
    model: nn.Module,
    data: TabularData,
    *,
    lr: float = 1e-3,
    batch_size: int = 256,
    max_epochs: int = 50,
    patience: int = 5,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    max_train_rows: int | None = None,
) -> TrainResult:
    """Train a model with Adam on mini-batches, stopping early on validation loss.

    Each epoch shuffles the training rows (seeded), takes Adam steps on mini-batches, then
    measures the validation loss; training stops after ``patience`` epochs without a lower
    validation loss or after ``max_epochs``, and the best epoch's weights are restored.
    Regression trains on the standardised target and folds the scaling back into the output
    layer at the end.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, data.n_features)`` to ``(batch, data.n_outputs)``; trained in place.
    data : TabularData
    lr, weight_decay : float
        Adam's learning rate and (L2) weight decay.
    batch_size : int
        Rows per step.
    max_epochs, patience : int
        Epoch limit and early-stopping patience (epochs).
    seed : int
        Seed of the shuffling.
    device : str or torch.device
        Where to train; the returned model stays there.
    max_train_rows : int, optional
        Use only the first this-many training rows (a seeded random subset, for quick runs).

    Returns
    -------
    TrainResult

    Raises
    ------
    DataError
        If the model's output width does not match ``data.n_outputs``.
    ValueError
        If a hyper-parameter is out of range.
    """
    if batch_size < 1 or max_epochs < 1 or patience < 1 or lr <= 0:
        raise ValueError(
            f"need batch_size >= 1, max_epochs >= 1, patience >= 1, lr > 0; got "
            f"batch_size={batch_size}, max_epochs={max_epochs}, patience={patience}, lr={lr}"
        )
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    X_np, y_np = data.X_train, data.y_train
    if max_train_rows is not None and max_train_rows < len(X_np):
        rows = np.sort(np.random.default_rng(seed).choice(len(X_np), max_train_rows, replace=False))
        X_np, y_np = X_np[rows], y_np[rows]
    X = torch.as_tensor(X_np, device=device)
    y = _targets(data, y_np).to(device)
    X_val = torch.as_tensor(data.X_val, device=device)
    y_val = _targets(data, data.y_val).to(device)

    model = model.to(device)
    with torch.no_grad():
        n_out = model(X[:1]).shape[1]
    if n_out != data.n_outputs:
        raise DataError(
            f"the model has {n_out} outputs but the {data.task} task needs {data.n_outputs}; "
            f"build it with n_out=data.n_outputs"
        )
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = TrainResult(model=model)
    best_state = copy.deepcopy(model.state_dict())
    best, since_best = math.inf, 0
    eval_batch = max(batch_size, 4096)
    for epoch in range(1, max_epochs + 1):
        model.train()
        perm = torch.randperm(len(X), generator=gen).to(device)
        total = torch.zeros((), device=device)
        for i in range(0, len(X), batch_size):
            idx = perm[i : i + batch_size]
            loss = task_loss(model(X[idx]), y[idx], data.task)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        model.eval()
        val_loss = _mean_loss(model, X_val, y_val, data.task, eval_batch)
        result.history.append(
            {"epoch": epoch, "train_loss": float(total) / len(X), "val_loss": val_loss}
        )
        if val_loss < best:
            best, since_best, result.best_epoch = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    if data.task == "regression":
        model = _unscale_output(model, float(data.y_mean), float(data.y_std))
    result.model = model
    result.val_loss = best
    result.val_metrics = evaluate_model(
        model, data.X_val, data.y_val, data.task, n_classes=data.n_classes or None, device=device
    )
    result.val_metric = result.val_metrics[PRIMARY_METRIC[data.task]]
    result.seconds = time.perf_counter() - start
    return result


def train_mlp(
    data: TabularData, widths: Sequence[int], *, seed: int = 0, **kwargs: object
) -> TrainResult:
    """Build a :func:`build_mlp` for ``data`` (seeded initialisation) and train it with :func:`train_model`.

    Parameters
    ----------
    data : TabularData
    widths : sequence of int
        Hidden layer widths.
    seed : int
        Seeds the initialisation and the shuffling; the global torch RNG is left untouched.
    **kwargs
        Passed to :func:`train_model` (``lr``, ``batch_size``, ``max_epochs``, ``patience``,
        ``weight_decay``, ``device``, ``max_train_rows``).

    Returns
    -------
    TrainResult
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_mlp(data.n_features, widths, data.n_outputs)
    return train_model(model, data, seed=seed, **kwargs)  # type: ignore[arg-type]
