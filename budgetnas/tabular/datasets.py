"""Named data sets: the UCI Adult demo data set that ships inside the package, plus user-registered loaders.

Example
-------
>>> from budgetnas.tabular.datasets import load_dataset
>>> train_df, test_df, target = load_dataset("adult")
>>> train_df.shape, test_df.shape, target
((32561, 15), (16281, 15), 'income')
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd

from budgetnas.errors import DataError

__all__ = [
    "ADULT_COLUMNS",
    "available_datasets",
    "is_raw_adult",
    "load_dataset",
    "read_adult",
    "register_dataset",
]

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


#: Columns of UCI Adult that hold whole numbers in every row: how a raw file is recognised.
_ADULT_INT_FIELDS = (0, 2, 4, 10, 11, 12)
_ADULT_LABELS = ("<=50K", ">50K")
_GZIP_MAGIC = b"\x1f\x8b"


def _head_lines(path: Path, n: int = 8) -> tuple[list[str], bool]:
    """The first ``n`` lines of a text file (gzip or not), and whether it is gzip-compressed."""
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    opener = gzip.open if gz else open
    lines = []
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for _ in range(n):
                line = f.readline()
                if not line:
                    break
                lines.append(line.rstrip("\r\n"))
    except (OSError, EOFError):
        return [], gz
    return lines, gz


def is_raw_adult(path: str | os.PathLike) -> bool:
    """Whether a file is in the raw UCI Adult format (``adult.data`` / ``adult.test``, gzip or not).

    That format has no header row, may open with ``|`` comment lines (``adult.test`` has
    ``|1x3 Cross validator``), and has 15 comma-separated fields a row (14 without the label),
    of which age, fnlwgt, education-num, capital-gain, capital-loss and hours-per-week are whole
    numbers; labels are ``<=50K`` / ``>50K``, with a trailing ``.`` in the test file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool
        False as well for a file that does not exist or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        return False
    lines, _ = _head_lines(path)
    rows = [ln for ln in lines if ln.strip() and not ln.startswith("|")]
    if not rows:
        return False
    for row in rows[:3]:
        fields = [f.strip() for f in row.split(",")]
        if len(fields) not in (14, 15):
            return False
        if not all(fields[i].isdigit() for i in _ADULT_INT_FIELDS):
            return False
        if len(fields) == 15 and fields[14].rstrip(".") not in _ADULT_LABELS:
            return False
    return True


def read_adult(path: str | os.PathLike) -> pd.DataFrame:
    """Read a file in the raw UCI Adult format (see :func:`is_raw_adult`) with its column names.

    ``"?"`` is read as missing, leading ``|`` comment lines are skipped and the labels' trailing
    ``"."`` (``adult.test``) is stripped, so the table matches :func:`load_dataset` ``("adult")``.
    A file of 14 fields a row (no label) gets the 14 feature columns.

    Parameters
    ----------
    path : str or os.PathLike
        ``adult.data``, ``adult.test`` or rows in their format, optionally gzip-compressed.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ADULT_COLUMNS` (without ``"income"`` for unlabelled rows).

    Raises
    ------
    DataError
        If the file is not in that format.
    """
    path = Path(path)
    if not is_raw_adult(path):
        raise DataError(
            f"{str(path)!r} is not in the raw UCI Adult format (no header, 15 comma-separated "
            "fields a row: age, workclass, fnlwgt, ..., income); give a CSV with a header row "
            "instead"
        )
    lines, gz = _head_lines(path)
    skip = 0
    while skip < len(lines) and lines[skip].startswith("|"):
        skip += 1
    first = next(ln for ln in lines[skip:] if ln.strip())
    names = ADULT_COLUMNS[: len(first.split(","))]
    frame = pd.read_csv(
        path,
        header=None,
        names=names,
        skipinitialspace=True,
        na_values=["?"],
        skiprows=skip,
        compression="gzip" if gz else None,
    )
    if "income" in frame.columns:
        frame["income"] = frame["income"].str.rstrip(".")
    return frame


def _packaged(name: str) -> pd.DataFrame:
    ref = resources.files("budgetnas") / "data" / name
    if not ref.is_file():
        raise DataError(
            f"the packaged demo file budgetnas/data/{name} is missing; reinstall budgetnas "
            "(the wheel must include package data)"
        )
    with resources.as_file(ref) as path:
        return read_adult(path)


def _load_adult() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    # The same reader as for a user's copy of the raw files (``budgetnas predict RUN adult.test``).
    return _packaged("adult.data.gz"), _packaged("adult.test.gz"), "income"


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
