"""Load a table, detect the task, preprocess it into float32 arrays and split it.

The result, :class:`TabularData`, is what every tabular trainer and search in budgetnas consumes:
dense float32 features (numeric columns median-imputed and standardised, categorical columns
one-hot encoded with rare categories grouped), integer class indices or float32 regression
targets, and a fitted scikit-learn ``ColumnTransformer`` that applies the same preprocessing to
new rows.

Example
-------
>>> from budgetnas.tabular import load_dataset, load_tabular
>>> train_df, test_df, target = load_dataset("adult")
>>> data = load_tabular(train_df, target, test=test_df, seed=0)
>>> data.task, data.n_outputs, data.X_train.dtype
('binary', 1, dtype('float32'))
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from budgetnas.errors import DataError

__all__ = [
    "MAX_INT_CLASSES",
    "MISSING_CATEGORY",
    "TabularData",
    "Task",
    "build_preprocessor",
    "detect_task",
    "load_tabular",
    "read_table",
]

logger = logging.getLogger(__name__)

Task = Literal["binary", "multiclass", "regression"]
TableSource = Union[str, Path, pd.DataFrame]

#: A numeric target whose values are all integers is a classification target when it has at
#: most this many distinct values (e.g. 0/1 labels, ratings 1..5); otherwise it is regression.
MAX_INT_CLASSES = 20
#: The category that missing values of a categorical column are imputed with.
MISSING_CATEGORY = "__missing__"
#: Tables with fewer rows than this are never screened for ID-like columns (too little evidence).
_MIN_ROWS_FOR_ID_CHECK = 20
#: Rows transformed at a time, so that the float64 intermediates of the transformer stay small.
_TRANSFORM_CHUNK = 32768

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_DEFAULTS: dict[str, Any] = {"skipinitialspace": True, "na_values": ["?"]}


@dataclass
class TabularData:
    """A preprocessed, split tabular data set ready for an MLP.

    Attributes
    ----------
    X_train, X_val, X_test : np.ndarray
        float32 arrays of shape ``(n_rows, n_features)``; no NaN.
    y_train, y_val, y_test : np.ndarray
        shape ``(n_rows,)``: int64 class indices into ``classes_`` for ``binary`` / ``multiclass``,
        float32 values in the target's own units for ``regression``.
    task : {"binary", "multiclass", "regression"}
    classes_ : np.ndarray or None
        The sorted class labels (``classes_[y]`` is the original label); None for regression.
    n_features : int
        Width of the preprocessed input (after one-hot encoding).
    n_outputs : int
        Output units an MLP needs: 1 for binary (a single logit), the number of classes for
        multiclass (softmax logits), 1 for regression.
    preprocessor : sklearn.compose.ColumnTransformer
        Fitted on the training rows only; ``transform(df)`` maps raw feature columns to features.
    feature_names : list of str
        Names of the ``n_features`` output columns.
    feature_columns : list of str
        The raw columns the preprocessor reads, in order.
    target : str
        Name of the target column.
    y_mean, y_std : float or None
        Mean and standard deviation of ``y_train`` for regression (trainers fit on the
        standardised target); None for classification.
    index_train, index_val, index_test : np.ndarray
        int64 row positions of each split in the table it came from (the test positions refer
        to the test table when one was given).
    notices : list of str
        What was changed on the way (dropped columns, dropped rows); each is also logged as a
        warning.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: Task
    classes_: np.ndarray | None
    n_features: int
    n_outputs: int
    preprocessor: ColumnTransformer
    feature_names: list[str]
    feature_columns: list[str]
    target: str
    y_mean: float | None = None
    y_std: float | None = None
    index_train: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    index_val: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    index_test: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    notices: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return 0 if self.classes_ is None else len(self.classes_)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Preprocess new raw rows with the fitted preprocessor.

        Parameters
        ----------
        frame : pandas.DataFrame
            Must hold every column of ``feature_columns`` (extra columns are ignored).

        Returns
        -------
        np.ndarray
            float32, shape ``(len(frame), n_features)``.

        Raises
        ------
        DataError
            If a feature column is missing.
        """
        _require_columns(frame, self.feature_columns, "the data to transform")
        return _transform_float32(self.preprocessor, frame[self.feature_columns])


# --------------------------------------------------------------------------------------------
# Reading


def read_table(
    source: TableSource, *, read_kwargs: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Read a table from a CSV / TSV (optionally gzip-compressed) or Parquet file, or pass a DataFrame through.

    CSV files are read with ``skipinitialspace=True`` and ``"?"`` counted as missing (on top of
    pandas' usual missing markers); ``read_kwargs`` override these and are passed to
    :func:`pandas.read_csv` or :func:`pandas.read_parquet`.

    Parameters
    ----------
    source : str, pathlib.Path or pandas.DataFrame
        Supported extensions: ``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``, ``.txt``, ``.txt.gz``,
        ``.parquet``, ``.pq``.
    read_kwargs : mapping, optional
        Extra keyword arguments of the pandas reader (e.g. ``header=None, names=[...]``).

    Returns
    -------
    pandas.DataFrame
        At least one row and one column.

    Raises
    ------
    DataError
        If the file does not exist, has an unsupported extension, is empty, or cannot be parsed.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
        where = "the given DataFrame"
    elif isinstance(source, (str, Path)):
        frame = _read_file(Path(source), dict(read_kwargs or {}))
        where = f"file {str(source)!r}"
    else:
        raise DataError(
            f"expected a file path (str or pathlib.Path) or a pandas.DataFrame, got "
            f"{type(source).__name__}; pass the path of a CSV/Parquet file or a DataFrame"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(
            f"{where} holds no data ({frame.shape[0]} rows x {frame.shape[1]} columns); "
            "give a table with a header row (or names=...) and at least one data row"
        )
    return frame


def _read_file(path: Path, read_kwargs: dict[str, Any]) -> pd.DataFrame:
    name = path.name.lower()
    if not path.exists():
        raise DataError(f"file {str(path)!r} does not exist; check the path (cwd: {Path.cwd()})")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory; give the path of a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"file {str(path)!r} is empty (0 bytes); give a file with a table in it")
    try:
        if name.endswith(_PARQUET_SUFFIXES):
            return pd.read_parquet(path, **read_kwargs)
        if name.endswith(_CSV_SUFFIXES):
            kwargs = {**_CSV_DEFAULTS, **read_kwargs}
            if name.endswith((".tsv", ".tsv.gz")):
                kwargs.setdefault("sep", "\t")
            return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"file {str(path)!r} holds no table ({exc}); give a file with a header and data rows"
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"cannot read {str(path)!r}: {type(exc).__name__}: {exc}. Check that the file is a "
            "valid table of its extension's format (CSV: consistent delimiters; .gz: a gzip file), "
            "or pass reader options through read_kwargs"
        ) from exc
    raise DataError(
        f"unsupported file extension of {str(path)!r}; supported: "
        f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}. Convert the file, or read it with pandas "
        "yourself and pass the DataFrame"
    )


# --------------------------------------------------------------------------------------------
# Task detection and target encoding


def detect_task(y: pd.Series) -> Task:
    """Detect the learning task from a target column (missing values ignored).

    The rule: a boolean or non-numeric target is classification; a numeric target whose
    values are all integers (whatever the dtype, so ``0.0/1.0`` counts) and that has at most
    :data:`MAX_INT_CLASSES` (20) distinct values is classification; any other numeric target is
    regression. Classification with two classes is ``"binary"``, with more ``"multiclass"``.

    Parameters
    ----------
    y : pandas.Series
        The target column.

    Returns
    -------
    {"binary", "multiclass", "regression"}

    Raises
    ------
    DataError
        If the target has no non-missing value.
    """
    values = y.dropna()
    if len(values) == 0:
        raise DataError(
            f"target column {y.name!r} has no non-missing value; choose another target column"
        )
    n_distinct = int(values.nunique())
    if is_numeric_dtype(values) and not is_bool_dtype(values):
        as_float = values.to_numpy(dtype=np.float64)
        integral = bool(np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)))
        if not (integral and n_distinct <= MAX_INT_CLASSES):
            return "regression"
    return "binary" if n_distinct <= 2 else "multiclass"


def _encode_target(y: pd.Series, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (y as int64 class index or float32 values, classes_ or None)."""
    if task == "regression":
        return y.to_numpy(dtype=np.float32), None
    labels = _label_array(y)
    classes, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64).ravel(), classes


def _label_array(y: pd.Series) -> np.ndarray:
    # Numeric labels stay numeric (classes_ = [0, 1]); anything else becomes str labels.
    if is_numeric_dtype(y) and not is_bool_dtype(y):
        values = y.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    return y.astype(str).to_numpy(dtype=object)


def _check_task(y: pd.Series, task: str | None, target: str) -> Task:
    if task is None:
        return detect_task(y)
    if task not in ("binary", "multiclass", "regression"):
        raise DataError(
            f"task must be 'binary', 'multiclass', 'regression' or None (detect), got {task!r}"
        )
    if task == "regression":
        if not is_numeric_dtype(y) or is_bool_dtype(y):
            examples = ", ".join(repr(v) for v in y.dropna().unique()[:5])
            raise DataError(
                f"task='regression' needs a numeric target, but column {target!r} has dtype "
                f"{y.dtype} (values such as {examples}); convert it to numbers, or use "
                "task='binary'/'multiclass' for labels"
            )
        return "regression"
    n = int(y.nunique())
    if task == "binary" and n != 2:
        raise DataError(
            f"task='binary' needs exactly 2 classes, but target {target!r} has {n}; "
            "use task='multiclass' or task=None to detect it"
        )
    if task == "multiclass" and n < 3:
        raise DataError(
            f"task='multiclass' needs at least 3 classes, but target {target!r} has {n}; "
            "use task='binary' for two classes"
        )
    return task  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Column screening


def _screen_columns(frame: pd.DataFrame, notices: list[str]) -> list[str]:
    """Return the usable feature columns; note all-missing, constant and ID-like ones."""
    keep: list[str] = []
    n_rows = len(frame)
    for col in frame.columns:
        s = frame[col]
        n_missing = int(s.isna().sum())
        if n_missing == n_rows:
            _notice(notices, f"dropped column {col!r}: every value is missing")
            continue
        n_distinct = int(s.nunique(dropna=True))
        if n_distinct <= 1:
            value = s.dropna().iloc[0]
            shown = repr(value) if isinstance(value, str) else str(value)
            _notice(notices, f"dropped column {col!r}: constant (single value {shown})")
            continue
        if _is_id_like(s, n_distinct, n_rows, n_missing):
            _notice(
                notices,
                f"dropped column {col!r}: ID-like ({n_distinct} distinct values in {n_rows} rows); "
                "if it is a real feature, give it as floating-point numbers (float columns "
                "are never taken for IDs)",
            )
            continue
        keep.append(col)
    return keep


def _is_id_like(s: pd.Series, n_distinct: int, n_rows: int, n_missing: int) -> bool:
    # A value unique to every row cannot generalise: integer or text IDs, row numbers, keys.
    # Float columns are kept: continuous measurements are naturally unique per row.
    if n_rows < _MIN_ROWS_FOR_ID_CHECK or n_missing or n_distinct != n_rows:
        return False
    if is_bool_dtype(s):
        return False
    return is_integer_dtype(s) or not is_numeric_dtype(s)


def _notice(notices: list[str], message: str) -> None:
    notices.append(message)
    logger.warning(message)


# --------------------------------------------------------------------------------------------
# Preprocessing


def _to_float(frame: pd.DataFrame) -> np.ndarray:
    # Nullable pandas dtypes (Int64, boolean) hold pd.NA, which the imputer does not take.
    return np.column_stack(
        [frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in frame.columns]
    ).reshape(len(frame), frame.shape[1])


def _to_text(frame: pd.DataFrame) -> np.ndarray:
    # One type for every categorical value, so that 1 and "1" are the same category at
    # fit and transform time; missing stays NaN for the imputer.
    out = np.empty(frame.shape, dtype=object)
    for j, c in enumerate(frame.columns):
        s = frame[c]
        out[:, j] = s.astype(str).where(s.notna(), np.nan).to_numpy(dtype=object)
    return out


def build_preprocessor(
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    min_frequency: int | float | None = 0.001,
    max_categories: int | None = None,
) -> ColumnTransformer:
    """Build the (unfitted) preprocessing ``ColumnTransformer``.

    Numeric columns: median imputation, then standardisation (``StandardScaler``). Categorical
    columns: imputation with the constant ``"__missing__"`` (missingness stays visible), then
    one-hot encoding where categories rarer than ``min_frequency`` share one "infrequent"
    column and unseen categories map to it (``handle_unknown="infrequent_if_exist"``; a column
    with no rare category in training has no such bucket, and an unseen value there encodes as
    all zeros).

    Parameters
    ----------
    numeric, categorical : sequence of str
        Column names of each kind.
    min_frequency : int, float or None
        Minimum count (int) or fraction of training rows (float) of a category to get its own
        column; default 0.001 (0.1 %).
    max_categories : int or None
        Upper bound on one-hot columns per categorical column (infrequent bucket included).

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Dense output (``sparse_threshold=0``).
    """
    numeric_pipe = Pipeline(
        [
            ("to_float", FunctionTransformer(_to_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
    )
    categorical_pipe = Pipeline(
        [
            ("to_text", FunctionTransformer(_to_text, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=min_frequency,
                    max_categories=max_categories,
                    sparse_output=False,
                    dtype=np.float32,
                ),
            ),
        ]
    )
    return ColumnTransformer(
        [("num", numeric_pipe, list(numeric)), ("cat", categorical_pipe, list(categorical))],
        sparse_threshold=0.0,
        remainder="drop",
    )


def _transform_float32(pre: ColumnTransformer, frame: pd.DataFrame) -> np.ndarray:
    """Transform in row chunks into one float32 array (bounds the float64 intermediates)."""
    n = len(frame)
    first = pre.transform(frame.iloc[: min(n, _TRANSFORM_CHUNK)])
    out = np.empty((n, first.shape[1]), dtype=np.float32)
    out[: len(first)] = first
    for start in range(_TRANSFORM_CHUNK, n, _TRANSFORM_CHUNK):
        out[start : start + _TRANSFORM_CHUNK] = pre.transform(
            frame.iloc[start : start + _TRANSFORM_CHUNK]
        )
    return out


# --------------------------------------------------------------------------------------------
# The entry point


def load_tabular(
    data: TableSource,
    target: str,
    *,
    test: TableSource | None = None,
    task: Task | None = None,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    drop_columns: Sequence[str] = (),
    categorical_columns: Sequence[str] = (),
    min_frequency: int | float | None = 0.001,
    max_categories: int | None = None,
    read_kwargs: Mapping[str, Any] | None = None,
) -> TabularData:
    """Load, screen, split and preprocess a table for MLP training.

    Steps: read the table(s); drop ``drop_columns`` and rows whose target is missing; detect
    (or check) the task; drop all-missing, constant and ID-like feature columns (each with a
    notice); split stratified by class (seeded) into train / validation / test by ``split``,
    or, when ``test`` is given, use it as the test set and split the table into train and
    validation in the ratio ``split[0] : split[1]``; fit the preprocessor on the training rows
    only and transform every split to float32.

    Parameters
    ----------
    data : str, pathlib.Path or pandas.DataFrame
        The table (see :func:`read_table` for the formats).
    target : str
        Name of the target column. Column names are handled as text: a table read with
        ``header=None`` has columns ``"0"``, ``"1"``, ... (``target=14`` means ``"14"``).
    test : str, pathlib.Path or pandas.DataFrame, optional
        A separate test table with the same columns.
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the detection rule of :func:`detect_task`.
    split : tuple of 3 floats
        Fractions (train, validation, test) of the rows; must be positive and sum to 1.
    seed : int
        Seed of the split.
    drop_columns : sequence of str
        Columns that are not features (e.g. survey weights such as Census-Income's
        ``instance_weight``).
    categorical_columns : sequence of str
        Numeric columns to one-hot encode as categories anyway (e.g. numeric codes such as
        Census-Income's ``detailed_industry_recode``); other columns are numeric exactly when
        ``pandas.api.types.is_numeric_dtype`` says so (booleans count as numeric 0/1).
    min_frequency, max_categories
        One-hot grouping of rare categories, see :func:`build_preprocessor`.
    read_kwargs : mapping, optional
        Options of the pandas reader for file inputs (both tables).

    Returns
    -------
    TabularData

    Raises
    ------
    DataError
        Missing target column (the message lists close names and the available columns), a
        target with one class or no value, a non-numeric regression target, a class too rare to
        stratify, test labels unseen in training, missing columns in ``test``, no usable feature
        column, a bad ``split``, or a file that cannot be read (see :func:`read_table`).
    """
    notices: list[str] = []
    fractions = _check_split(split)
    frame = read_table(data, read_kwargs=read_kwargs)
    test_frame = None if test is None else read_table(test, read_kwargs=read_kwargs)

    # Column names become str: sklearn reads int column names as positions.
    target = str(target)
    frame = _str_columns(frame)
    _require_target(frame, target, "the data")
    if test_frame is not None:
        test_frame = _str_columns(test_frame)
        _require_target(test_frame, target, "the test data")
    drop_columns = [str(c) for c in drop_columns]
    unknown = [c for c in drop_columns if c not in frame.columns]
    if unknown:
        raise DataError(
            f"drop_columns names columns that are not in the data: {unknown}; available: "
            f"{_column_list(frame)}"
        )
    if target in drop_columns:
        raise DataError(f"drop_columns contains the target {target!r}; remove it from drop_columns")

    frame = _drop_missing_target(frame, target, "the data", notices)
    if test_frame is not None:
        test_frame = _drop_missing_target(test_frame, target, "the test data", notices)
    y_raw = frame[target]
    resolved = _check_task(y_raw, task, target)
    if resolved != "regression" and y_raw.nunique() < 2:
        raise DataError(
            f"target column {target!r} has a single class ({y_raw.iloc[0]!r}) in "
            f"{len(y_raw)} rows; a classifier needs at least 2 classes: choose another target "
            "or add rows of other classes"
        )
    if resolved == "regression" and float(np.nanstd(y_raw.to_numpy(dtype=np.float64))) == 0.0:
        raise DataError(
            f"regression target {target!r} is constant ({y_raw.iloc[0]!r}); nothing to learn: "
            "choose another target"
        )

    candidates = [c for c in frame.columns if c != target and c not in drop_columns]
    columns = _screen_columns(frame[candidates], notices)
    if not columns:
        raise DataError(
            f"no usable feature column left in the data (candidates: {candidates}); every one "
            "was all-missing, constant or ID-like (see the notices); give a table with features"
        )
    if test_frame is not None:
        _require_columns(test_frame, columns, "the test data")

    y_all, classes = _encode_target(y_raw, resolved)
    stratify = y_all if resolved != "regression" else None
    rows = np.arange(len(frame), dtype=np.int64)
    if test_frame is None:
        idx_pool, idx_test = _split(rows, stratify, fractions[2], seed, target, classes)
        pool_strat = None if stratify is None else stratify[idx_pool]
        val_share = fractions[1] / (fractions[0] + fractions[1])
        idx_train, idx_val = _split(idx_pool, pool_strat, val_share, seed + 1, target, classes)
        y_test = y_all[idx_test]
        test_features = frame.iloc[idx_test][columns]
    else:
        val_share = fractions[1] / (fractions[0] + fractions[1])
        idx_train, idx_val = _split(rows, stratify, val_share, seed, target, classes)
        idx_test = np.arange(len(test_frame), dtype=np.int64)
        y_test = _encode_test_target(test_frame[target], resolved, classes, target)
        test_features = test_frame[columns]

    train_features = frame.iloc[idx_train][columns]
    forced = {str(c) for c in categorical_columns}
    unknown = sorted(forced - set(frame.columns))
    if unknown:
        raise DataError(
            f"categorical_columns names columns that are not in the data: {unknown}; "
            f"available: {_column_list(frame)}"
        )
    numeric = [c for c in columns if is_numeric_dtype(frame[c]) and c not in forced]
    categorical = [c for c in columns if c not in set(numeric)]
    pre = build_preprocessor(
        numeric, categorical, min_frequency=min_frequency, max_categories=max_categories
    )
    pre.fit(train_features)
    X_train = _transform_float32(pre, train_features)
    del train_features
    X_val = _transform_float32(pre, frame.iloc[idx_val][columns])
    X_test = _transform_float32(pre, test_features)
    del test_features

    y_train, y_val = y_all[idx_train], y_all[idx_val]
    y_mean = y_std = None
    if resolved == "regression":
        y_mean = float(np.mean(y_train, dtype=np.float64))
        y_std = float(np.std(y_train, dtype=np.float64)) or 1.0

    names = [str(n) for n in pre.get_feature_names_out()]
    return TabularData(
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        task=resolved,
        classes_=classes,
        n_features=X_train.shape[1],
        n_outputs=len(classes) if resolved == "multiclass" else 1,
        preprocessor=pre,
        feature_names=names,
        feature_columns=list(columns),
        target=target,
        y_mean=y_mean,
        y_std=y_std,
        index_train=idx_train,
        index_val=idx_val,
        index_test=idx_test,
        notices=notices,
    )


def _check_split(split: Sequence[float]) -> tuple[float, float, float]:
    if len(split) != 3 or any(not (0 < f < 1) for f in split) or abs(sum(split) - 1) > 1e-6:
        raise DataError(
            f"split must be 3 fractions (train, validation, test), each in (0, 1), summing to 1; "
            f"got {tuple(split)}; e.g. split=(0.7, 0.15, 0.15)"
        )
    return float(split[0]), float(split[1]), float(split[2])


def _str_columns(frame: pd.DataFrame) -> pd.DataFrame:
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    renamed = frame.rename(columns=str)
    if renamed.columns.has_duplicates:
        raise DataError(
            f"column names collide once turned into text: {list(frame.columns)}; rename them"
        )
    return renamed


def _column_list(frame: pd.DataFrame, limit: int = 30) -> str:
    cols = [str(c) for c in frame.columns]
    shown = ", ".join(repr(c) for c in cols[:limit])
    return shown + (f", ... ({len(cols)} in all)" if len(cols) > limit else "")


def _require_target(frame: pd.DataFrame, target: str, where: str) -> None:
    if target in frame.columns:
        return
    names = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(str(target), names, n=3, cutoff=0.6)
    close += [c for c in names if c.lower() == str(target).lower() and c not in close]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    header_hint = (
        " The column names look like data values: if the file has no header row, pass "
        "read_kwargs={'header': None, 'names': [...]}."
        if any(_looks_numeric(c) for c in names)
        else ""
    )
    raise DataError(
        f"target column {target!r} is not in {where}.{hint} Available columns: "
        f"{_column_list(frame)}.{header_hint}"
    )


def _looks_numeric(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where} lacks feature columns {missing}; it needs the same columns as the "
            f"training data. Available: {_column_list(frame)}"
        )


def _drop_missing_target(
    frame: pd.DataFrame, target: str, where: str, notices: list[str]
) -> pd.DataFrame:
    missing = frame[target].isna()
    n = int(missing.sum())
    if n == len(frame):
        raise DataError(
            f"target column {target!r} in {where} is missing in every row ({n} rows); choose "
            "another target or fix the file (is '?' or an empty cell the only value?)"
        )
    if n:
        _notice(notices, f"dropped {n} rows of {where} whose target {target!r} is missing")
        frame = frame.loc[~missing.to_numpy()].reset_index(drop=True)
    return frame


def _split(
    rows: np.ndarray,
    stratify: np.ndarray | None,
    share: float,
    seed: int,
    target: str,
    classes: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    try:
        first, second = train_test_split(
            rows, test_size=share, random_state=seed, shuffle=True, stratify=stratify
        )
    except ValueError as exc:
        detail = ""
        if stratify is not None and classes is not None:
            counts = np.bincount(stratify, minlength=len(classes))
            rare = [f"{classes[i]!r} ({counts[i]} rows)" for i in np.argsort(counts)[:5]]
            detail = f" Rarest classes: {', '.join(rare)}."
        raise DataError(
            f"cannot split {len(rows)} rows stratified by {target!r} with a held-out share of "
            f"{share:.3f}: {exc}.{detail} Give more rows, merge or drop the rarest classes, or "
            "change split"
        ) from exc
    return np.sort(first).astype(np.int64), np.sort(second).astype(np.int64)


def _encode_test_target(
    y: pd.Series, task: Task, classes: np.ndarray | None, target: str
) -> np.ndarray:
    if task == "regression":
        if not is_numeric_dtype(y) or is_bool_dtype(y):
            raise DataError(
                f"the test target {target!r} is not numeric (dtype {y.dtype}) but the task is "
                "regression; convert it to numbers"
            )
        return y.to_numpy(dtype=np.float32)
    assert classes is not None
    # Match labels by their text, so that 1 (int) in training and "1" in a test file agree.
    labels = pd.Series(_label_array(y)).astype(str)
    pos = labels.map({str(c): i for i, c in enumerate(classes)})
    unseen = pos.isna().to_numpy()
    if np.any(unseen):
        examples = sorted(set(labels[unseen]))[:5]
        raise DataError(
            f"the test target {target!r} has labels not seen in training: {examples} (training "
            f"classes: {[str(c) for c in classes[:10]]}); make the labels match (e.g. strip a "
            "trailing '.') or drop those rows"
        )
    return pos.to_numpy(dtype=np.int64)
