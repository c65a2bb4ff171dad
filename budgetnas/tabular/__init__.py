"""Tabular data: loading, preprocessing, the demo data set, MLP training, metrics and a reference baseline."""

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
    "TabularData",
    "TrainResult",
    "available_datasets",
    "build_mlp",
    "classification_metrics",
    "detect_task",
    "evaluate_model",
    "hgb_baseline",
    "load_dataset",
    "load_tabular",
    "mlp_num_params",
    "read_table",
    "regression_metrics",
    "register_dataset",
    "train_mlp",
    "train_model",
]
