"""Test and validation metrics of tabular models, computed with scikit-learn.

Classification: accuracy, balanced accuracy, ROC AUC (binary; one-vs-rest macro average for
multiclass) and log loss. Regression: RMSE, MAE and R².

Example
-------
>>> import numpy as np
>>> from budgetnas.tabular.metrics import classification_metrics
>>> m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.4, 0.3]))
>>> m["accuracy"], m["roc_auc"]
(0.75, 1.0)
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn import metrics as skm
from torch import nn

__all__ = [
    "PRIMARY_METRIC",
    "classification_metrics",
    "evaluate_model",
    "outputs_to_predictions",
    "predict_outputs",
    "regression_metrics",
]

#: The metric that ranks models per task (higher is better for both).
PRIMARY_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, n_classes: int | None = None
) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC and log loss of predicted class probabilities.

    Parameters
    ----------
    y_true : np.ndarray
        int class indices, shape ``(n,)``.
    proba : np.ndarray
        shape ``(n,)``: probability of class 1 (binary); or ``(n, K)``: class probabilities.
    n_classes : int, optional
        K; defaults to 2 for 1-d ``proba`` and ``proba.shape[1]`` otherwise.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``roc_auc`` (binary AUC, or one-vs-rest macro
        average over the classes present in ``y_true``; NaN when ``y_true`` holds one class),
        ``log_loss`` (natural log, probabilities clipped by scikit-learn).

    Raises
    ------
    ValueError
        If the shapes of ``y_true`` and ``proba`` disagree.
    """
    y_true = np.asarray(y_true).astype(np.int64, copy=False)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"proba must have shape (n,) or (n, K) with n = len(y_true) = {len(y_true)}, "
            f"got {proba.shape}"
        )
    k = n_classes or proba.shape[1]
    labels = np.arange(k)
    pred = proba.argmax(axis=1)
    present = np.unique(y_true)
    if len(present) < 2:
        auc = math.nan
    elif k == 2:
        auc = float(skm.roc_auc_score(y_true, proba[:, 1]))
    else:
        # One-vs-rest over the classes that occur, each against all others.
        aucs = [skm.roc_auc_score(y_true == c, proba[:, c]) for c in present]
        auc = float(np.mean(aucs))
    with warnings.catch_warnings():
        # Mean recall over the classes present in y_true; predicting another class is no error.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(skm.balanced_accuracy_score(y_true, pred))
    return {
        "accuracy": float(skm.accuracy_score(y_true, pred)),
        "balanced_accuracy": balanced,
        "roc_auc": auc,
        "log_loss": float(
            skm.log_loss(y_true, proba / proba.sum(axis=1, keepdims=True), labels=labels)
        ),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of predictions (in the target's units).

    Parameters
    ----------
    y_true, y_pred : np.ndarray
        shape ``(n,)``.

    Returns
    -------
    dict
        ``rmse``, ``mae`` (target units) and ``r2`` (1 is perfect, 0 is the mean predictor).
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


@torch.no_grad()
def predict_outputs(
    model: nn.Module, X: np.ndarray, *, batch_size: int = 8192, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Raw model outputs (logits or regression values) for a float32 feature array.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_features)`` to ``(batch, n_outputs)``.
    X : np.ndarray
        float32, shape ``(n, n_features)``.
    batch_size : int
        Rows per forward pass.
    device : str or torch.device
        Where the model runs (the model is used where it already is; inputs are moved there).

    Returns
    -------
    np.ndarray
        float32, shape ``(n, n_outputs)``.
    """
    was_training = model.training
    model.eval()
    out = [
        model(torch.as_tensor(X[i : i + batch_size], device=device)).float().cpu().numpy()
        for i in range(0, len(X), batch_size)
    ]
    model.train(was_training)
    return np.concatenate(out) if out else np.empty((0, 0), np.float32)


def outputs_to_predictions(outputs: np.ndarray, task: str) -> np.ndarray:
    """Turn raw outputs into probabilities (classification) or values (regression).

    Parameters
    ----------
    outputs : np.ndarray
        shape ``(n, n_outputs)``: one logit (binary), K logits (multiclass) or one value.
    task : {"binary", "multiclass", "regression"}

    Returns
    -------
    np.ndarray
        binary: ``(n,)`` probability of class 1; multiclass: ``(n, K)`` softmax probabilities;
        regression: ``(n,)`` values.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if task == "binary":
        return 1.0 / (1.0 + np.exp(-outputs[:, 0]))
    if task == "multiclass":
        z = outputs - outputs.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if task == "regression":
        return outputs[:, 0]
    raise ValueError(f"task must be 'binary', 'multiclass' or 'regression', got {task!r}")


def evaluate_model(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    task: str,
    *,
    n_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """All metrics of a model on one split.

    Parameters
    ----------
    model : torch.nn.Module
        Outputs as described in :func:`outputs_to_predictions` (regression in target units).
    X : np.ndarray
        float32, shape ``(n, n_features)``.
    y : np.ndarray
        int64 class indices or float regression targets, shape ``(n,)``.
    task : {"binary", "multiclass", "regression"}
    n_classes : int, optional
        Number of classes (for log loss labels); defaults from the outputs.
    device : str or torch.device

    Returns
    -------
    dict
        See :func:`classification_metrics` and :func:`regression_metrics`.
    """
    pred = outputs_to_predictions(predict_outputs(model, X, device=device), task)
    if task == "regression":
        return regression_metrics(y, pred)
    return classification_metrics(y, pred, n_classes)
