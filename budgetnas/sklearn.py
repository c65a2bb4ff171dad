"""scikit-learn estimators that search the MLP for a parameter budget: NASClassifier, NASRegressor.

``fit`` runs :func:`budgetnas.tabular.search.search_table` (TabNAS one-shot search by default,
Yang et al., NeurIPS 2022) on the training data, holding out ``validation_fraction`` of it for
rewards and early stopping, and keeps the chosen network retrained from scratch.

Example
-------
>>> from sklearn.datasets import load_breast_cancer
>>> from budgetnas.sklearn import NASClassifier
>>> X, y = load_breast_cancer(return_X_y=True)
>>> clf = NASClassifier(max_params=2000, steps=300, random_state=0).fit(X, y)
>>> clf.n_params_ <= 2000
True
>>> clf.predict_proba(X[:2]).shape
(2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from budgetnas.errors import DataError

__all__ = ["NASClassifier", "NASRegressor"]

_DOC_PARAMS = """
    Parameters
    ----------
    max_params : int, default=5000
        The budget: parameters (weights + biases) of the network.
    algorithm : {"tabnas", "abs", "random", "evolution", "predictor"}, default="tabnas"
        See :func:`budgetnas.tabular.search.search_table`.
    steps : int or None, default=None
        One-shot search steps (None: about 8 epochs of the data, at least 1,500).
    n_trials : int or None, default=None
        Children trained by a trial-based algorithm (None: 12).
    time_budget : float or None, default=None
        Seconds for the search phase.
    widths, depths : sequence of int or None, default=None
        The search space (None: 20 widths from 8 to 512, depth 1 to 4).
    max_epochs : int, default=100
        Epoch limit of the final training (early stopping on the held-out rows, patience 10).
    batch_size : int or "auto", default="auto"
        Mini-batch of supernet and final training; "auto" is ``min(256, max(16, n // 8))``
        for ``n`` training rows, so that small data sets still get several steps per epoch.
    learning_rate : float, default=1e-3
        Adam learning rate of the final training and of the supernet.
    validation_fraction : float, default=0.15
        Share of the training rows held out for rewards and early stopping (stratified for
        classifiers); with fewer than 20 rows nothing is held out and the training rows serve.
    device : {"auto", "cpu", "cuda"}, default="cpu"
    random_state : int or None, default=None
        Seeds the split, the search and the training (None means 0: fits are reproducible).
"""


def _target_1d(y: Any) -> np.ndarray:
    """``y`` as a 1-d array; a column vector is raveled with a DataConversionWarning."""
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    return column_or_1d(y, warn=True)


class _NASBase(BaseEstimator):
    """Shared fit/predict machinery of :class:`NASClassifier` and :class:`NASRegressor`."""

    _task_kind = "classifier"

    def __init__(self, max_params: int = 5000, algorithm: str = "tabnas", steps: int | None = None,
                 n_trials: int | None = None, time_budget: float | None = None,
                 widths: Sequence[int] | None = None, depths: Sequence[int] | None = None,
                 max_epochs: int = 100, batch_size: int | str = "auto",
                 learning_rate: float = 1e-3, validation_fraction: float = 0.15, device: str = "cpu",
                 random_state: int | None = None) -> None:
        self.max_params = max_params
        self.algorithm = algorithm
        self.steps = steps
        self.n_trials = n_trials
        self.time_budget = time_budget
        self.widths = widths
        self.depths = depths
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # median imputation
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ fit
    def _fit(self, X: Any, y: Any) -> _NASBase:
        from budgetnas.spaces.mlp import DEFAULT_DEPTHS, DEFAULT_WIDTHS
        from budgetnas.tabular.data import TabularData
        from budgetnas.tabular.search import Recipe, search_table

        if not 0.0 < float(self.validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        seed = 0 if self.random_state is None else int(self.random_state)
        Xa, pre, columns = self._features(X, fit=True)
        y_enc, task, classes = self._targets(y)
        if len(y_enc) != len(Xa):
            raise ValueError(f"X has {len(Xa)} rows but y has {len(y_enc)}")
        idx_tr, idx_va = self._split(len(Xa), y_enc if classes is not None else None, seed)
        pre.fit(Xa.iloc[idx_tr] if isinstance(Xa, pd.DataFrame) else Xa[idx_tr])
        Z = pre.transform(Xa).astype(np.float32)
        y_mean = y_std = None
        if task == "regression":
            y_mean = float(np.mean(y_enc[idx_tr]))
            y_std = float(np.std(y_enc[idx_tr])) or 1.0
        n_out = len(classes) if task == "multiclass" else 1
        batch = self.batch_size
        if batch == "auto":
            batch = int(min(256, max(16, len(idx_tr) // 8)))
        elif isinstance(batch, str) or int(batch) < 1:
            raise ValueError(f"batch_size must be a positive int or 'auto', got {batch!r}")
        data = TabularData(
            X_train=Z[idx_tr], y_train=y_enc[idx_tr], X_val=Z[idx_va], y_val=y_enc[idx_va],
            X_test=Z[idx_va], y_test=y_enc[idx_va], task=task, classes_=classes,
            n_features=Z.shape[1], n_outputs=n_out, preprocessor=pre,
            feature_names=[f"f{i}" for i in range(Z.shape[1])], feature_columns=columns,
            target="y", y_mean=y_mean, y_std=y_std)
        result = search_table(
            data, max_params=self.max_params, algorithm=self.algorithm, steps=self.steps,
            n_trials=self.n_trials, time_budget_s=self.time_budget, seed=seed,
            device=self.device, widths=self.widths or DEFAULT_WIDTHS,
            depths=self.depths or DEFAULT_DEPTHS, batch_size=batch,
            supernet_lr=self.learning_rate,
            recipe=Recipe(lr=self.learning_rate, batch_size=batch, max_epochs=self.max_epochs,
                          patience=10),
            n_random=0, reference=False)
        self.preprocessor_ = pre
        self.model_ = result.model.double().eval()  # float64 inference: batch-size invariant
        self.widths_ = tuple(result.widths)
        self.n_params_ = int(result.params)
        self.validation_score_ = float(result.final.val_metric)
        self.search_history_ = (result.history_frame() if result.oneshot is not None
                                else result.children_frame())
        return self

    def _features(self, X: Any, fit: bool) -> tuple[Any, Any, list[str]]:
        """Validated features and the (unfitted, at fit) preprocessor."""
        from budgetnas.tabular.data import build_preprocessor

        if isinstance(X, pd.DataFrame) and any(
                not is_numeric_dtype(X[c]) or is_bool_dtype(X[c]) for c in X.columns):
            if fit:
                self.n_features_in_ = X.shape[1]
                self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
                frame = X.rename(columns=str)
                numeric = [c for c in frame.columns
                           if is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c])]
                categorical = [c for c in frame.columns if c not in set(numeric)]
                return frame, build_preprocessor(numeric, categorical), list(frame.columns)
            frame = X.rename(columns=str)
            missing = [c for c in self.feature_names_in_ if c not in frame.columns]
            if missing:
                raise ValueError(f"X lacks the columns {missing} seen in fit")
            return frame[list(self.feature_names_in_)], self.preprocessor_, []
        Xa = validate_data(self, X, reset=fit, dtype=np.float64, ensure_all_finite="allow-nan",
                           ensure_min_samples=2 if fit else 1)
        pre = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler())]) if fit else self.preprocessor_
        return Xa, pre, [f"x{i}" for i in range(Xa.shape[1])]

    def _split(self, n: int, strata: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(n)
        if n < 20:
            return rows, rows
        stratify = strata
        if strata is not None and np.bincount(strata).min() < 2:
            stratify = None
        tr, va = train_test_split(rows, test_size=self.validation_fraction, random_state=seed,
                                  stratify=stratify)
        return np.sort(tr), np.sort(va)

    def _transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        Xa, pre, _ = self._features(X, fit=False)
        return pre.transform(Xa).astype(np.float64)

    def _outputs(self, X: Any) -> np.ndarray:
        import torch

        Z = self._transform(X)
        with torch.no_grad():
            return self.model_(torch.as_tensor(Z, dtype=torch.float64)).numpy()


class NASClassifier(ClassifierMixin, _NASBase):
    __doc__ = """A classifier whose MLP is searched under a parameter budget (TabNAS).
    """ + _DOC_PARAMS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when fitted on a DataFrame with column names
    model_ : torch.nn.Sequential
        The chosen network (float64), logits out.
    widths_ : tuple of int
        Its hidden widths.
    n_params_ : int
        Its parameters (at most ``max_params``).
    validation_score_ : float
        Accuracy on the held-out rows.
    search_history_ : pandas.DataFrame
        Steps of the one-shot search (or the trials of a trial-based one).

    Raises
    ------
    ValueError
        In ``fit``: a single class, or a budget below the smallest network (the message names
        the minimum).

    See Also
    --------
    NASRegressor, budgetnas.tabular.search.search_table
    """

    def fit(self, X: Any, y: Any) -> NASClassifier:
        """Search, train and keep the best MLP within ``max_params`` for ``X`` (n, p), ``y`` (n,)."""
        return self._fit(X, y)

    def _targets(self, y: Any) -> tuple[np.ndarray, str, np.ndarray]:
        y = _target_1d(y)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass"):
            raise ValueError(f"NASClassifier supports binary and multiclass targets, got "
                             f"{type_of_target(y)}")
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"the target has a single class ({classes[0]!r}); a classifier "
                            "needs at least 2 classes")
        self.classes_ = classes
        return y_enc.astype(np.int64), ("binary" if len(classes) == 2 else "multiclass"), classes

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, columns in the order of ``classes_``."""
        out = self._outputs(X)
        if len(self.classes_) == 2:
            p1 = 1.0 / (1.0 + np.exp(-out[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, shape ``(n,)``."""
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[proba.argmax(axis=1)]


class NASRegressor(RegressorMixin, _NASBase):
    __doc__ = """A regressor whose MLP is searched under a parameter budget (TabNAS).
    """ + _DOC_PARAMS + """
    Attributes
    ----------
    n_features_in_ : int
    model_ : torch.nn.Sequential
        The chosen network (float64), outputs in the target's units.
    widths_, n_params_, validation_score_, search_history_
        As in :class:`NASClassifier`; ``validation_score_`` is R².

    Raises
    ------
    ValueError
        In ``fit``: a non-numeric or constant target, or a budget below the smallest network.

    See Also
    --------
    NASClassifier, budgetnas.tabular.search.search_table
    """

    def fit(self, X: Any, y: Any) -> NASRegressor:
        """Search, train and keep the best MLP within ``max_params`` for ``X`` (n, p), ``y`` (n,)."""
        return self._fit(X, y)

    def _targets(self, y: Any) -> tuple[np.ndarray, str, None]:
        y = _target_1d(y)
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("NASRegressor needs a numeric target; convert it to numbers "
                            "or use NASClassifier for labels") from None
        if not np.all(np.isfinite(y)):
            raise ValueError("the target y contains NaN or infinity")
        return y.astype(np.float32), "regression", None

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape ``(n,)``, in the target's units."""
        return self._outputs(X)[:, 0]
