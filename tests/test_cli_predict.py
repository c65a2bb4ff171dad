"""``budgetnas predict`` and the loaded run: label spelling, the ONNX input, the run's files.

One tiny search on the shipped UCI Adult data and one on a CSV cut from it (module fixtures,
~3 s each on 2 cores), then predictions on rows written to small CSVs.
"""

from __future__ import annotations

import json
import math
import pickle
import stat

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from budgetnas.cli import app
from budgetnas.store.atomic import process_umask
from budgetnas.tabular import load_dataset, load_run, read_table

pytestmark = pytest.mark.slow  # two tiny searches (~3 s each on 2 cores) feed every test

TINY = ("--steps", "40", "--n-random", "1", "--max-epochs", "1", "--no-reference", "-q")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def adult_test() -> pd.DataFrame:
    return load_dataset("adult")[1]


@pytest.fixture(scope="module")
def adult_run(tmp_path_factory):
    """A run trained on the shipped Adult data (``--dataset adult``)."""
    out = tmp_path_factory.mktemp("predict") / "adult"
    result = invoke("search", "--dataset", "adult", "--max-params", "3000", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory, adult_test):
    """A run trained on a CSV file (not the shipped data set): no label normalisation."""
    folder = tmp_path_factory.mktemp("csvrun")
    adult_test.iloc[:1500].to_csv(folder / "adult1500.csv", index=False)
    out = folder / "run"
    result = invoke("search", folder / "adult1500.csv", "--target", "income", "--max-params",
                    "3000", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


def _predict(run, rows: pd.DataFrame, tmp_path, name="rows"):
    path = tmp_path / f"{name}.csv"
    rows.to_csv(path, index=False)
    result = invoke("predict", run, path, "--out", tmp_path / f"{name}.pred.csv")
    assert result.exit_code == 0, result.output
    return result, pd.read_csv(tmp_path / f"{name}.pred.csv")


# ------------------------------------------------------------------------------------------------
# 1. labels spelled differently from training


def test_adult_test_labels_with_a_trailing_dot_are_scored_like_the_shipped_reader(
        adult_run, adult_test, tmp_path):
    rows = adult_test.iloc[:20].copy()
    plain, pred = _predict(adult_run, rows, tmp_path, "plain")
    accuracy = float((pred["prediction"] == rows["income"].to_numpy()).mean())
    assert f"accuracy {accuracy:.4f} on 20 labelled rows (column 'income')\n" in plain.stdout
    rows["income"] = rows["income"] + "."  # as in UCI's adult.test
    dotted, _ = _predict(adult_run, rows, tmp_path, "dotted")
    assert (f"accuracy {accuracy:.4f} on 20 labelled rows (column 'income') (20 labels' "
            "trailing '.' stripped, as the shipped Adult reader does)") in dotted.stdout
    assert "warning" not in dotted.stderr


def test_labels_the_model_never_saw_give_a_warning_instead_of_accuracy_zero(
        csv_run, adult_test, tmp_path):
    rows = adult_test.iloc[:20].copy()
    rows["income"] = rows["income"] + "."  # a CSV-trained run does not strip the dot
    result, _ = _predict(csv_run, rows, tmp_path)
    assert "accuracy" not in result.stdout
    assert "none of the 20 labelled rows has a target value the model knows" in result.stderr
    assert "'<=50K.'" in result.stderr and "'>50K.'" in result.stderr
    assert "the model's classes are '<=50K', '>50K'" in result.stderr


def test_a_few_unseen_labels_are_left_out_of_the_accuracy_and_named(csv_run, adult_test,
                                                                    tmp_path):
    rows = adult_test.iloc[:20].copy()
    rows.loc[rows.index[:3], "income"] = "unknown"
    result, pred = _predict(csv_run, rows, tmp_path)
    ok = (rows["income"] != "unknown").to_numpy()
    accuracy = float((pred["prediction"].to_numpy()[ok] == rows["income"].to_numpy()[ok]).mean())
    assert (f"accuracy {accuracy:.4f} on the 17 of 20 labelled rows whose target is one of the "
            "model's classes (column 'income')") in result.stdout
    assert "3 of 20 labelled rows have target values the model never saw ('unknown')" \
        in result.stderr


# ------------------------------------------------------------------------------------------------
# 2. the artefacts: preprocessor.pkl, preprocessing.json, load_run, model.onnx


def _rows_with_question_marks(adult_test: pd.DataFrame) -> pd.DataFrame:
    has_missing = adult_test.drop(columns="income").isna().any(axis=1)
    rows = adult_test[has_missing].iloc[:25]
    assert len(rows) == 25 and rows["workclass"].isna().any()
    return rows


def test_onnx_on_the_loaded_runs_features_equals_predict_for_rows_with_question_marks(
        adult_run, adult_test, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    rows = _rows_with_question_marks(adult_test)
    path = tmp_path / "q.csv"
    rows.to_csv(path, index=False, na_rep="?")  # the way Adult spells missing values
    result = invoke("predict", adult_run, path, "--out", tmp_path / "q.pred.csv")
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(tmp_path / "q.pred.csv")["proba_>50K"].to_numpy()

    run = load_run(adult_run)
    plain = pd.read_csv(path)  # keeps "?" as text
    assert (plain["workclass"] == "?").any()
    X = run.features(plain)
    assert X.dtype == np.float32 and X.shape == (25, run.architecture["n_in"])
    session = ort.InferenceSession(str(adult_run / "model.onnx"))
    logits = session.run(None, {"features": X})[0][:, 0]
    onnx_proba = 1 / (1 + np.exp(-logits.astype(np.float64)))
    assert np.allclose(onnx_proba, predicted, atol=1e-5)
    assert np.allclose(run.predict_proba(plain)[:, 1], predicted, atol=1e-6)
    assert list(run.predict(plain)) == list(pd.read_csv(tmp_path / "q.pred.csv")["prediction"])

    # without the cleaning, "?" is an unseen category and the probabilities differ
    raw = run.preprocessor.transform(plain[run.preprocessing["feature_columns"]])
    assert not np.allclose(raw.astype(np.float32), X)


def test_preprocessor_pkl_is_the_fitted_column_transformer(adult_run, adult_test):
    from sklearn.compose import ColumnTransformer

    with open(adult_run / "preprocessor.pkl", "rb") as f:
        pre = pickle.load(f)  # noqa: S301 - written by the test's own run
    assert isinstance(pre, ColumnTransformer)
    meta = json.loads((adult_run / "preprocessing.json").read_text())
    assert meta["read"] == {"na_values": ["?"], "skipinitialspace": True}
    assert meta["dataset"] == "adult" and meta["classes"] == ["<=50K", ">50K"]
    rows = adult_test.iloc[:50]  # read by budgetnas's reader: "?" is already missing
    X = pre.transform(rows[meta["feature_columns"]]).astype(np.float32)
    assert X.shape[1] == meta["n_features"] == len(meta["feature_names"])
    assert np.array_equal(X, load_run(adult_run).features(rows))


def test_a_run_written_before_preprocessing_json_still_loads(adult_run, adult_test, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(adult_run, old)
    meta = json.loads((old / "preprocessing.json").read_text())
    with open(old / "preprocessor.pkl", "rb") as f:
        pre = pickle.load(f)  # noqa: S301
    with open(old / "preprocessor.pkl", "wb") as f:  # the former layout: one dict
        pickle.dump({"preprocessor": pre, "feature_columns": meta["feature_columns"],
                     "classes": meta["classes"], "task": "binary", "target": "income",
                     "y_mean": None, "y_std": None}, f)
    (old / "preprocessing.json").unlink()
    rows = adult_test.iloc[:30]
    pd.testing.assert_frame_equal(load_run(old).predict_frame(rows),
                                  load_run(adult_run).predict_frame(rows))
    assert load_run(old).preprocessing["dataset"] == "adult"  # from metrics.json


def test_loaded_run_reads_files_as_predict_does(adult_run, adult_test, tmp_path):
    rows = adult_test.iloc[:10]
    rows.to_csv(tmp_path / "r.csv", index=False, na_rep="?")
    run = load_run(adult_run)
    frame = run.read(tmp_path / "r.csv")
    pd.testing.assert_frame_equal(frame, read_table(tmp_path / "r.csv"))
    assert frame["native-country"].isna().sum() == rows["native-country"].isna().sum()


# ------------------------------------------------------------------------------------------------
# 3, 8, 9, 5. the finished run directory: permissions, the file list, children.csv, the summary


def test_every_file_of_the_run_gets_the_umask_permissions(adult_run):
    want = 0o666 & ~process_umask()
    modes = {str(p.relative_to(adult_run)): stat.S_IMODE(p.stat().st_mode)
             for p in adult_run.rglob("*") if p.is_file()}
    assert {"run.json", "status.json", "checkpoints/oneshot.pt"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != want} == {}


def test_children_csv_says_what_each_validation_metric_was_measured_on(adult_run):
    children = pd.read_csv(adult_run / "children.csv")
    assert list(children.columns) == ["source", "widths", "params", "val_metric", "val_set",
                                      "val_evaluations", "seconds", "test_metric"]
    oneshot = children[children["source"] == "oneshot"]
    standalone = children[children["source"] != "oneshot"]
    assert len(oneshot) and set(oneshot["val_set"]) == {"val_batches_shared_weights"}
    assert oneshot["seconds"].isna().all() and (oneshot["val_evaluations"] >= 1).all()
    assert set(standalone["source"]) == {"random", "final"}
    assert set(standalone["val_set"]) == {"val_split"}
    assert (standalone["seconds"] > 0).all() and (standalone["val_evaluations"] == 1).all()
    final = standalone[standalone["source"] == "final"].iloc[0]
    metrics = json.loads((adult_run / "metrics.json").read_text())
    assert math.isclose(final["test_metric"], metrics["final"]["test"]["accuracy"])
    assert math.isclose(final["val_metric"], metrics["final"]["val"]["accuracy"])


def test_report_lists_the_files_and_compares_in_plain_words(adult_run):
    text = (adult_run / "report.md").read_text()
    size = (adult_run / "checkpoints" / "oneshot.pt").stat().st_size / 1e6
    assert f"- `checkpoints/oneshot.pt` ({size:.1f} MB): the one-shot search's last state" in text
    assert "`budgetnas report` redraws `plots/policy.png` from it" in text
    for name in ("preprocessor.pkl", "preprocessing.json", "model.onnx", "children.csv"):
        assert f"- `{name}`: " in text
    metrics = json.loads((adult_run / "metrics.json").read_text())
    diff = 100 * (metrics["final"]["test"]["accuracy"]
                  - metrics["random_best"]["test"]["accuracy"])
    line = next(ln for ln in text.splitlines() if ln.startswith("In short:"))
    assert "+" not in line and "-0.0" not in line
    if round(abs(diff), 2):
        word = "above" if diff > 0 else "below"
        assert f"{abs(diff):.2f} points {word} the best random feasible child" in line
