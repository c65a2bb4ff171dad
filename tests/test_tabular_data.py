"""Tabular loading, task detection, preprocessing and splitting, on real data (UCI Adult, Census-Income)."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from budgetnas.errors import DataError
from budgetnas.tabular import datasets
from budgetnas.tabular.data import MAX_INT_CLASSES, detect_task, load_tabular, read_table
from budgetnas.tabular.datasets import (
    ADULT_COLUMNS,
    available_datasets,
    load_dataset,
    register_dataset,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CENSUS = SHARED / "tabular" / "census-income"


@pytest.fixture(scope="module")
def adult():
    return load_dataset("adult")


@pytest.fixture(scope="module")
def adult_data(adult):
    train, test, target = adult
    return load_tabular(train, target, test=test, seed=0)


@pytest.fixture
def small(adult) -> pd.DataFrame:
    train, _, _ = adult
    return train.iloc[:2000].copy()


# ---------------------------------------------------------------------------- demo data set


def test_adult_ships_with_the_package(adult):
    train, test, target = adult
    assert target == "income"
    assert train.shape == (32561, 15) and test.shape == (16281, 15)
    assert list(train.columns) == ADULT_COLUMNS
    assert set(train[target]) == {"<=50K", ">50K"}
    assert set(test[target]) == {"<=50K", ">50K"}  # trailing "." stripped, comment line skipped
    assert train["occupation"].isna().sum() == 1843  # "?" read as missing
    assert abs((train[target] == ">50K").mean() - 0.2408) < 1e-3
    assert "adult" in available_datasets()


def test_adult_attribution_file_exists():
    from importlib import resources

    text = (resources.files("budgetnas") / "data" / "ADULT_ATTRIBUTION.md").read_text()
    assert "Becker" in text and "CC BY 4.0" in text and "archive.ics.uci.edu" in text


def test_unknown_dataset_lists_available():
    with pytest.raises(DataError, match=r"unknown data set 'adlt'.*\['adult'"):
        load_dataset("adlt")


def test_register_dataset(adult, monkeypatch):
    monkeypatch.setattr(datasets, "_REGISTRY", dict(datasets._REGISTRY))  # undone after the test
    register_dataset("adult-head", lambda: (adult[0].head(50), adult[1].head(10), "income"))
    train, test, target = load_dataset("adult-head")
    assert len(train) == 50 and len(test) == 10 and target == "income"
    with pytest.raises(DataError, match="already registered"):
        register_dataset("adult", lambda: adult)


# ---------------------------------------------------------------------------- preprocessing


def test_adult_end_to_end(adult_data):
    d = adult_data
    assert d.task == "binary" and d.n_outputs == 1 and list(d.classes_) == ["<=50K", ">50K"]
    # Official test set kept; the training table split 70:15 into train and validation.
    assert d.X_test.shape[0] == 16281
    assert d.X_train.shape[0] + d.X_val.shape[0] == 32561
    assert abs(d.X_val.shape[0] / 32561 - 0.15 / 0.85) < 1e-3
    for X in (d.X_train, d.X_val, d.X_test):
        assert X.dtype == np.float32 and X.shape[1] == d.n_features and not np.isnan(X).any()
    assert d.n_features == len(d.feature_names) == 93  # 6 numeric + one-hot of 8 categorical
    # Stratified: both training splits hold 24.08 % positives; the official test set 23.62 %.
    assert abs(d.y_train.mean() - 0.2408) < 5e-4 and abs(d.y_val.mean() - 0.2408) < 5e-4
    assert abs(d.y_test.mean() - 0.2362) < 5e-4
    assert d.y_train.dtype == np.int64
    # Numeric columns are standardised on the training rows.
    num = [i for i, n in enumerate(d.feature_names) if n.startswith("num__")]
    assert len(num) == 6
    np.testing.assert_allclose(d.X_train[:, num].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(d.X_train[:, num].std(axis=0), 1, atol=1e-3)
    # One-hot blocks: each categorical column contributes exactly one 1 per row.
    cat = d.X_train[:, len(num) :]
    np.testing.assert_array_equal(cat.sum(axis=1), 8)
    # Missing occupation is its own category; rare countries share the infrequent bucket.
    assert "cat__occupation___missing__" in d.feature_names
    assert "cat__native-country_infrequent_sklearn" in d.feature_names
    assert d.notices == []


def test_default_split_is_stratified_70_15_15(adult):
    train, _, target = adult
    d = load_tabular(train, target, seed=3)
    sizes = (len(d.y_train), len(d.y_val), len(d.y_test))
    assert sizes == (22792, 4884, 4885)
    for y in (d.y_train, d.y_val, d.y_test):
        assert abs(y.mean() - 0.2408) < 5e-4
    everything = np.concatenate([d.index_train, d.index_val, d.index_test])
    np.testing.assert_array_equal(np.sort(everything), np.arange(32561))
    again = load_tabular(train, target, seed=3)
    np.testing.assert_array_equal(again.index_test, d.index_test)
    np.testing.assert_array_equal(again.X_val, d.X_val)
    other = load_tabular(train, target, seed=4)
    assert not np.array_equal(other.index_test, d.index_test)


def test_transform_new_rows_matches_test_split(adult, adult_data):
    _, test, _ = adult
    rows = test.iloc[:100].copy()
    np.testing.assert_array_equal(adult_data.transform(rows), adult_data.X_test[:100])
    rows.loc[rows.index[0], "workclass"] = "Astronaut"  # unseen -> infrequent bucket, no error
    out = adult_data.transform(rows)
    j = adult_data.feature_names.index("cat__workclass_infrequent_sklearn")
    assert out[0, j] == 1.0 and not np.isnan(out).any()
    with pytest.raises(DataError, match="lacks feature columns"):
        adult_data.transform(rows.drop(columns=["age"]))


def test_file_formats_give_the_same_data(small, tmp_path):
    ref = load_tabular(small, "income", seed=1)
    small.to_csv(tmp_path / "a.csv", index=False)
    small.to_csv(tmp_path / "a.csv.gz", index=False)
    small.to_parquet(tmp_path / "a.parquet")
    for name in ("a.csv", "a.csv.gz", "a.parquet"):
        d = load_tabular(tmp_path / name, "income", seed=1)
        np.testing.assert_array_equal(d.X_train, ref.X_train)
        np.testing.assert_array_equal(d.y_test, ref.y_test)


def test_headerless_file_columns_become_text(small, tmp_path):
    small.to_csv(tmp_path / "raw.csv", index=False, header=False)
    d = load_tabular(tmp_path / "raw.csv", 14, read_kwargs={"header": None})
    assert d.target == "14" and d.feature_columns[0] == "0" and d.task == "binary"


def test_constant_id_and_all_missing_columns_are_dropped(small, caplog):
    df = small.copy()
    df["const"] = 7
    df["row_id"] = np.arange(len(df)) * 3 + 11
    df["name"] = [f"person-{i}" for i in range(len(df))]
    df["empty"] = np.nan
    df["noise"] = np.random.default_rng(0).normal(size=len(df))  # unique floats are kept
    with caplog.at_level(logging.WARNING, logger="budgetnas.tabular.data"):
        d = load_tabular(df, "income")
    for col in ("const", "row_id", "name", "empty"):
        assert col not in d.feature_columns
        assert any(repr(col) in n for n in d.notices)
    assert "noise" in d.feature_columns
    assert len(d.notices) == 4 and len(caplog.records) == 4
    assert any("ID-like" in n for n in d.notices) and any("constant" in n for n in d.notices)


def test_rows_with_missing_target_are_dropped(small):
    df = small.copy()
    df.loc[df.index[:10], "income"] = np.nan
    d = load_tabular(df, "income")
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 1990
    assert any("10 rows" in n for n in d.notices)


# ---------------------------------------------------------------------------- task detection


@pytest.mark.parametrize(
    "values, task",
    [
        (["a", "b", "a", "b"], "binary"),
        (["a", "b", "c", "a"], "multiclass"),
        ([True, False, True, True], "binary"),
        ([0, 1, 1, 0], "binary"),
        ([0.0, 1.0, 1.0, 0.0], "binary"),
        ([1, 2, 3, 4, 5, 1], "multiclass"),
        (list(range(MAX_INT_CLASSES)) * 2, "multiclass"),
        (list(range(MAX_INT_CLASSES + 1)) * 2, "regression"),
        ([0.5, 1.0, 1.5, 0.5], "regression"),
        ([0, 1, np.nan, 1], "binary"),
    ],
)
def test_detect_task_rule(values, task):
    assert detect_task(pd.Series(values, name="y")) == task


def test_test_labels_matched_by_text():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(size=200), "y": rng.integers(0, 2, 200)})
    test = pd.DataFrame({"x": rng.normal(size=20), "y": rng.choice(["0", "1"], 20)})
    d = load_tabular(train, "y", test=test)
    assert list(d.classes_) == [0, 1]
    np.testing.assert_array_equal(d.y_test, test["y"].astype(int).to_numpy())


def test_numeric_codes_as_categories(small):
    d = load_tabular(small, "income", categorical_columns=["education-num"])
    assert "cat__education-num_13" in d.feature_names
    assert "num__education-num" not in d.feature_names
    with pytest.raises(DataError, match="categorical_columns names columns"):
        load_tabular(small, "income", categorical_columns=["edu"])


def test_task_override_and_integer_labels():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"x": rng.normal(size=300), "z": rng.integers(0, 3, 300), "y": rng.integers(1, 4, 300)}
    )
    d = load_tabular(df, "y")
    assert d.task == "multiclass" and d.n_outputs == 3 and list(d.classes_) == [1, 2, 3]
    r = load_tabular(df, "y", task="regression")
    assert r.task == "regression" and r.y_train.dtype == np.float32 and r.classes_ is None
    assert r.y_mean == pytest.approx(float(r.y_train.mean()), rel=1e-6)
    with pytest.raises(DataError, match="exactly 2 classes"):
        load_tabular(df, "y", task="binary")


# ---------------------------------------------------------------------------- bad input


def test_missing_target_lists_close_names(small):
    with pytest.raises(DataError, match=r"'incme' is not in the data\. Did you mean 'income'"):
        load_tabular(small, "incme")
    with pytest.raises(DataError, match="Available columns: 'age', 'workclass'"):
        load_tabular(small, "label")


def test_one_class_target(small):
    df = small[small["income"] == "<=50K"]
    with pytest.raises(DataError, match="single class"):
        load_tabular(df, "income")


def test_all_missing_target(small):
    df = small.assign(income=np.nan)
    with pytest.raises(DataError, match="missing in every row"):
        load_tabular(df, "income")


def test_non_numeric_regression_target(small):
    with pytest.raises(DataError, match="task='regression' needs a numeric target"):
        load_tabular(small, "income", task="regression")


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_tabular(tmp_path / "empty.csv", "y")
    (tmp_path / "header.csv").write_text("a,b,y\n")
    with pytest.raises(DataError, match="holds no data"):
        load_tabular(tmp_path / "header.csv", "y")
    (tmp_path / "bad.csv.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="cannot read"):
        load_tabular(tmp_path / "bad.csv.gz", "y")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_tabular(tmp_path / "bad.parquet", "y")
    with pytest.raises(DataError, match="does not exist"):
        load_tabular(tmp_path / "nope.csv", "y")
    with gzip.open(tmp_path / "ragged.csv.gz", "wt") as f:
        f.write("a,b,y\n1,2,3\n1,2,3,4,5\n")
    with pytest.raises(DataError, match="cannot read"):
        load_tabular(tmp_path / "ragged.csv.gz", "y")


def test_unknown_extension(tmp_path):
    (tmp_path / "table.xlsx").write_bytes(b"xx")
    with pytest.raises(DataError, match=r"unsupported file extension.*\.parquet"):
        load_tabular(tmp_path / "table.xlsx", "y")


def test_test_table_problems(adult, small):
    _, test, target = adult
    bad = test.head(50).copy()
    bad.loc[bad.index[0], target] = ">50K."
    with pytest.raises(DataError, match=r"labels not seen in training: \['>50K\.'\]"):
        load_tabular(small, target, test=bad)
    with pytest.raises(DataError, match=r"lacks feature columns \['age'\]"):
        load_tabular(small, target, test=test.head(50).drop(columns=["age"]))
    with pytest.raises(DataError, match="not in the test data"):
        load_tabular(small, target, test=test.head(50).drop(columns=[target]))


def test_bad_arguments(small):
    with pytest.raises(DataError, match="split must be 3 fractions"):
        load_tabular(small, "income", split=(0.8, 0.1, 0.2))
    with pytest.raises(DataError, match="drop_columns names columns that are not"):
        load_tabular(small, "income", drop_columns=["weight"])
    with pytest.raises(DataError, match="cannot split"):
        df = small.copy()
        df.loc[df.index[0], "income"] = "rare"
        load_tabular(df, "income")
    with pytest.raises(DataError, match="file path"):
        read_table(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- Census-Income


@pytest.mark.slow
def test_census_income_loads():
    if not CENSUS.is_dir():
        pytest.skip(f"shared data folder {CENSUS} is missing")
    names = (CENSUS / "columns.txt").read_text().split()
    d = load_tabular(
        CENSUS / "census_income_1994_1995_train.csv.gz",
        "income",
        test=CENSUS / "census_income_1994_1995_test.csv.gz",
        drop_columns=["instance_weight"],
        read_kwargs={"header": None, "names": names},
    )
    assert d.task == "binary" and list(d.classes_) == ["- 50000.", "50000+."]
    assert len(d.y_train) + len(d.y_val) == 199523 and len(d.y_test) == 99762
    assert "instance_weight" not in d.feature_columns and len(d.feature_columns) == 40
    assert abs(d.y_train.mean() - 0.0621) < 1e-3 and abs(d.y_val.mean() - 0.0621) < 1e-3
    assert d.X_train.dtype == np.float32 and not np.isnan(d.X_test).any()
    assert 300 <= d.n_features <= 400
