"""Tabular data: loading, preprocessing, the demo data set, MLP training, metrics and a reference baseline.

``load_run(RUN_DIR)`` loads a finished ``budgetnas search`` run for prediction
(:class:`~budgetnas.tabular.search.SavedRun`: ``predict_proba(df)``, ``predict(df)``,
``features(df)`` — the input of ``model.onnx``).
"""

from typing import Any

from budgetnas.tabular.baseline import BaselineResult, hgb_baseline
from budgetnas.tabular.data import TabularData, detect_task, load_tabular, read_table
from budgetnas.tabular.datasets import available_datasets, load_dataset, register_dataset
from budgetnas.tabular.metrics import (
    classification_metrics,
    evaluate_model,
    regression_metrics,
)
from budgetnas.tabular.train import TrainResult, build_mlp, mlp_num_params, train_mlp, train_model

__all__ = [
    "BaselineResult",
    "SavedRun",
    "TabularData",
    "TrainResult",
    "available_datasets",
    "build_mlp",
    "classification_metrics",
    "detect_task",
    "evaluate_model",
    "hgb_baseline",
    "load_dataset",
    "load_run",
    "load_tabular",
    "mlp_num_params",
    "read_table",
    "regression_metrics",
    "register_dataset",
    "train_mlp",
    "train_model",
]


def __getattr__(name: str) -> Any:
    # lazily: budgetnas.tabular.search imports the search machinery, which imports this package
    if name in ("load_run", "SavedRun"):
        from budgetnas.tabular import search

        return getattr(search, name)
    raise AttributeError(f"module 'budgetnas.tabular' has no attribute {name!r}")
