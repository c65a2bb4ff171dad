"""Named data sets: the UCI Adult demo data set that ships inside the package, plus user-registered loaders.

Example
-------
>>> from budgetnas.tabular.datasets import load_dataset
>>> train_df, test_df, target = load_dataset("adult")
>>> train_df.shape, test_df.shape, target
((32561, 15), (16281, 15), 'income')
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import pandas as pd

from budgetnas.errors import DataError

__all__ = ["ADULT_COLUMNS", "available_datasets", "load_dataset", "register_dataset"]

#: Column names of UCI Adult, in file order; the last one is the target.
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]

DatasetLoader = Callable[[], "tuple[pd.DataFrame, pd.DataFrame, str]"]


def _read_adult_file(name: str, *, skiprows: int) -> pd.DataFrame:
    ref = resources.files("budgetnas") / "data" / name
    if not ref.is_file():
        raise DataError(
            f"the packaged demo file budgetnas/data/{name} is missing; reinstall budgetnas "
            "(the wheel must include package data)"
        )
    with resources.as_file(ref) as path:
        return pd.read_csv(
            path,
            header=None,
            names=ADULT_COLUMNS,
            skipinitialspace=True,
            na_values=["?"],
            skiprows=skiprows,
            compression="gzip",
        )


def _load_adult() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    train = _read_adult_file("adult.data.gz", skiprows=0)
    # The test file opens with a "|1x3 Cross validator" comment line and its labels end in ".".
    test = _read_adult_file("adult.test.gz", skiprows=1)
    test["income"] = test["income"].str.rstrip(".")
    return train, test, "income"


_REGISTRY: dict[str, DatasetLoader] = {"adult": _load_adult}


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted.

    Returns
    -------
    list of str
    """
    return sorted(_REGISTRY)


def register_dataset(name: str, loader: DatasetLoader, *, overwrite: bool = False) -> None:
    """Register a loader for a local data set under ``name``.

    Parameters
    ----------
    name : str
        The name :func:`load_dataset` will accept.
    loader : callable
        Takes no argument and returns ``(train_df, test_df, target_name)``.
    overwrite : bool
        Replace an existing registration of ``name``.

    Raises
    ------
    DataError
        If ``name`` is taken and ``overwrite`` is False, or ``loader`` is not callable.
    """
    if not callable(loader):
        raise DataError(f"loader for {name!r} must be callable, got {type(loader).__name__}")
    if name in _REGISTRY and not overwrite:
        raise DataError(
            f"a data set named {name!r} is already registered; pass overwrite=True to replace it"
        )
    _REGISTRY[name] = loader


def load_dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Load a named data set as raw tables.

    ``"adult"`` is UCI Adult (Becker & Kohavi 1996, CC BY 4.0; see
    ``budgetnas/data/ADULT_ATTRIBUTION.md``), read from the package itself: 32,561 training and
    16,281 test rows, 14 features, target ``"income"`` (``">50K"`` / ``"<=50K"``, about 24 %
    positive), ``"?"`` read as missing and the test labels' trailing ``"."`` stripped.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets`.

    Returns
    -------
    train_df, test_df : pandas.DataFrame
        The official training and test tables, target column included.
    target_name : str

    Raises
    ------
    DataError
        If ``name`` is not registered (the message lists the available names).
    """
    try:
        loader = _REGISTRY[name]
    except KeyError:
        raise DataError(
            f"unknown data set {name!r}; available: {available_datasets()}. For your own file "
            "use budgetnas.tabular.load_tabular(path, target), or register_dataset(name, loader)"
        ) from None
    return loader()
