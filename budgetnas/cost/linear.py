"""TuNAS's linear latency model: per-layer one-hot(output filters) ⊗ one-hot(input filters) ⊗
one-hot(op) features, summed over layers, fitted by least squares to measured latencies.

Example
-------
>>> import numpy as np
>>> # a 2-layer chain: decision 0 = op of layer 0, decision 1 = width of layer 0 = input of layer 1
>>> widths, ops = [8, 16], ["conv3", "conv5"]
>>> layers = [LayerFeatureSpec((0, 1), lambda v: (ops[v[0]], 3, widths[v[1]])),
...           LayerFeatureSpec((1,), lambda v: ("linear", widths[v[0]], 10))]
>>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
>>> model = LinearLatencyModel(layers, num_choices=[2, 2]).fit(X, [1.0, 2.0, 1.5, 2.5])
>>> np.round(model.predict_batch(X), 6).tolist()
[1.0, 2.0, 1.5, 2.5]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from budgetnas.cost._lookup import LayerLookup
from budgetnas.cost.base import CostModel, as_batch, check_unit
from budgetnas.cost.table import _num_choices_of
from budgetnas.errors import CostError

DENSE_SOLVE_MAX_FEATURES = 4096


@dataclasses.dataclass(frozen=True)
class LayerFeatureSpec:
    """How one layer's (op, input filters, output filters) follow from a few decisions.

    Attributes
    ----------
    deps : tuple of int
        Indices of the decisions that determine the layer (its op, its own and the previous
        layer's filter counts, whether it is skipped).
    describe : callable
        ``values -> (op, in_filters, out_filters) | None``: the values of ``deps`` (choice indices,
        -1 when inactive) to the layer's op (any hashable, e.g. ``"ibn-k5-e6"``) and filter
        counts, or None when the layer is absent (skipped: contributes nothing).
    group : hashable, optional
        Layers in one group share coefficients (their features are summed); by default each
        layer is its own group, i.e. the per-layer features are concatenated, which lets the
        same op cost differently at different resolutions (TuNAS, Bender et al. 2020, §3.3).
    """

    deps: tuple[int, ...]
    describe: Callable[[tuple[int, ...]], tuple[Hashable, int, int] | None]
    group: Hashable | None = None


class LinearLatencyModel(CostModel):
    """Latency as a linear function of per-layer Kronecker one-hot features (ms on the device the
    training latencies were measured on).

    A layer with op o, input filters i and output filters f sets feature
    one-hot(f) ⊗ one-hot(i) ⊗ one-hot(o) of its group; a child's feature vector sums its layers'.
    Because each layer sets one feature, a fitted model prices a batch by one gather of per-layer
    precomputed coefficients: ``intercept_ + sum_j W_j[combo_j(X)]``.

    Parameters
    ----------
    layers : sequence of LayerFeatureSpec
    space : Space, optional
        Gives ``num_choices`` and DNA -> vector conversion.
    num_choices : array of int, optional
        Instead of ``space``.
    alpha : float
        Ridge penalty on the coefficients (not on the intercept); 0 = plain least squares
        (minimum-norm solution when features are collinear).
    fit_intercept : bool
        Fit a constant term (the layers outside the search space).
    name, unit : str
        Shown in constraints; ``unit`` is the unit of the training targets (default ms).

    Attributes
    ----------
    coef_ : np.ndarray (n_features_,)
    intercept_ : float
    n_features_ : int
    feature_names_ : list of (group, op, in_filters, out_filters)
    seen_features_ : np.ndarray of bool (n_features_,)
        Features present in the training data; children with unseen features are extrapolated
        with coefficient 0 for them (see :meth:`unseen`).

    Notes
    -----
    TuNAS (Bender et al., CVPR 2020, §3.3 and appendix) fits this model to on-device latencies
    and uses it for the reward; MobileDets (Xiong et al. 2021) fits one per target device.
    """

    is_additive = True

    def __init__(self, layers: Sequence[LayerFeatureSpec], space: Any = None,
                 num_choices: Any = None, *, alpha: float = 0.0, fit_intercept: bool = True,
                 name: str = "latency", unit: str = "ms") -> None:
        if alpha < 0:
            raise CostError(f"alpha must be >= 0, got {alpha}")
        self.layers = list(layers)
        self.space = space
        self.alpha = float(alpha)
        self.fit_intercept = fit_intercept
        self.name = name
        self.unit = check_unit(unit)
        nc = _num_choices_of(space, num_choices)
        self.num_decisions = len(nc)
        self._lookup = LayerLookup([layer.deps for layer in self.layers], nc)
        self._build_features()

    def _build_features(self) -> None:
        descs = self._lookup.tabulate(lambda j, v: self.layers[j].describe(v))
        groups: dict[Hashable, tuple[set, set, set]] = {}
        combo_group = []
        for j in range(self._lookup.num_layers):
            g = self.layers[j].group if self.layers[j].group is not None else ("layer", j)
            combo_group += [g] * int(self._lookup.sizes[j])
            groups.setdefault(g, (set(), set(), set()))
        for g, d in zip(combo_group, descs):
            if d is None:
                continue
            try:
                op, cin, cout = d
            except (TypeError, ValueError):
                raise CostError(f"LayerFeatureSpec.describe must return (op, in_filters, "
                                f"out_filters) or None, got {d!r}") from None
            groups[g][0].add(op)
            groups[g][1].add(int(cin))
            groups[g][2].add(int(cout))
        names: list[tuple[Hashable, Hashable, int, int]] = []
        index: dict[tuple[Hashable, Hashable, int, int], int] = {}
        for g, (ops, ins, outs) in groups.items():
            # order: output filters ⊗ input filters ⊗ op, as in the Kronecker product
            for cout in sorted(outs):
                for cin in sorted(ins):
                    for op in sorted(ops, key=repr):
                        index[(g, op, cin, cout)] = len(names)
                        names.append((g, op, cin, cout))
        self.feature_names_ = names
        self.n_features_ = len(names)
        self._col = np.array([-1 if d is None else index[(g, d[0], int(d[1]), int(d[2]))]
                              for g, d in zip(combo_group, descs)], dtype=np.int64)

    # --- features -------------------------------------------------------------------------

    def features(self, X: np.ndarray) -> Any:
        """Sparse feature matrix (n, n_features_) of layer counts for DNA vectors X (n, D)."""
        from scipy import sparse

        X = as_batch(X, self.num_decisions)
        cols = self._col[self._lookup.index(X)]
        rows = np.broadcast_to(np.arange(len(X))[:, None], cols.shape)
        keep = cols >= 0
        data = np.ones(int(keep.sum()), dtype=np.float64)
        # duplicates (layers of one group with the same feature) are summed by tocsr()
        return sparse.coo_matrix((data, (rows[keep], cols[keep])),
                                 shape=(len(X), self.n_features_)).tocsr()

    def _as_features(self, X: Any) -> Any:
        from scipy import sparse

        if sparse.issparse(X):
            F = X.tocsr().astype(np.float64)
        else:
            arr = np.asarray(X)
            if arr.ndim != 2:
                raise CostError(f"expected a 2-D batch, got shape {arr.shape}")
            if arr.dtype.kind in "iu" and arr.shape[1] == self.num_decisions:
                return self.features(arr)
            F = sparse.csr_matrix(arr.astype(np.float64))
        if F.shape[1] != self.n_features_:
            raise CostError(f"expected DNA vectors (integer, width {self.num_decisions}) or "
                            f"features (width {self.n_features_}), got shape {F.shape}")
        return F

    # --- fit / predict --------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> LinearLatencyModel:
        """Least-squares fit to latencies.

        Parameters
        ----------
        X : array (n, D) of int DNA vectors, or features (n, n_features_) (sparse or float)
        y : array (n,)
            Latencies in ``self.unit`` (ms), measured or summed from a lookup table.

        Returns
        -------
        self

        Raises
        ------
        CostError
            On mismatched lengths or non-finite targets.
        """
        from scipy import sparse
        from scipy.sparse.linalg import lsqr

        F = self._as_features(X)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if F.shape[0] != len(y):
            raise CostError(f"X has {F.shape[0]} rows but y has {len(y)} latencies")
        if not np.all(np.isfinite(y)):
            raise CostError("latencies y must be finite")
        self.seen_features_ = np.asarray(F.getnnz(axis=0) > 0).reshape(-1)
        y_mean = y.mean() if self.fit_intercept else 0.0
        F_mean = np.asarray(F.mean(axis=0)).reshape(-1) if self.fit_intercept else None
        if self.n_features_ <= DENSE_SOLVE_MAX_FEATURES:
            A = F.toarray()
            if self.fit_intercept:  # centring removes the intercept from the penalised problem
                A = A - F_mean
            b = y - y_mean
            if self.alpha > 0:
                A = np.vstack([A, np.sqrt(self.alpha) * np.eye(self.n_features_)])
                b = np.concatenate([b, np.zeros(self.n_features_)])
            coef = np.linalg.lstsq(A, b, rcond=None)[0]
        else:
            A = F
            if self.fit_intercept:
                A = sparse.hstack([F, np.ones((F.shape[0], 1))]).tocsr()
            sol = lsqr(A, y, damp=np.sqrt(self.alpha), atol=1e-12, btol=1e-12,
                       iter_lim=20 * A.shape[1])[0]
            coef = sol[: self.n_features_]
            y_mean, F_mean = (sol[-1], None) if self.fit_intercept else (0.0, None)
        self.coef_ = coef
        self.intercept_ = float(y_mean - (F_mean @ coef if F_mean is not None else 0.0))
        coef_ext = np.append(coef, 0.0)  # index -1 (absent layer) reads the appended 0
        self._layer_values = coef_ext[self._col]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise CostError("this LinearLatencyModel is not fitted yet; call fit(X, latencies)")

    def predict_batch(self, X: np.ndarray) -> np.ndarray:
        """Predicted latency (n,) for DNA vectors X (n, D): one gather + row sum."""
        self._check_fitted()
        X = as_batch(X, self.num_decisions)
        return self.intercept_ + self._layer_values[self._lookup.index(X)].sum(axis=1)

    def batch(self, X: np.ndarray) -> np.ndarray:
        return self.predict_batch(X)

    def predict_features(self, F: Any) -> np.ndarray:
        """Predicted latency for a feature matrix (n, n_features_)."""
        self._check_fitted()
        return np.asarray(self._as_features(F) @ self.coef_).reshape(-1) + self.intercept_

    def unseen(self, X: np.ndarray) -> np.ndarray:
        """Bool (n,): rows with a feature absent from the training data (extrapolated)."""
        self._check_fitted()
        F = self.features(X)
        return np.asarray(F[:, ~self.seen_features_].getnnz(axis=1) > 0).reshape(-1)

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """Held-out quality of the predictions for X (DNA vectors or features) against y.

        Returns
        -------
        dict
            ``mape`` and ``mdape`` (mean and median of |error| / |y|, fractions: 0.05 = 5 %),
            ``r2``, ``kendall_tau`` (rank agreement, scipy.stats.kendalltau), ``rmse`` (in
            ``self.unit``).
        """
        from scipy.stats import kendalltau

        y = np.asarray(y, dtype=np.float64).reshape(-1)
        pred = self.predict_features(self._as_features(X))
        resid = pred - y
        ss_tot = float(((y - y.mean()) ** 2).sum())
        ape = np.abs(resid) / np.abs(y)
        return {"mape": float(np.mean(ape)), "mdape": float(np.median(ape)),
                "r2": 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
                "kendall_tau": float(kendalltau(pred, y).statistic),
                "rmse": float(np.sqrt(np.mean(resid**2)))}

    def min_cost(self) -> float | None:
        if not hasattr(self, "coef_"):
            return None
        parent = getattr(self.space, "parent", None) if self.space is not None else None
        m = self._lookup.separable_min(self._layer_values, parent)
        return None if m is None else m + self.intercept_
