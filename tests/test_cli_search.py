"""`budgetnas search` and `budgetnas predict` end to end, and every bad input (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from budgetnas.cli import app

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LETTER = DATA / "tabular" / "mlbench" / "letterrecognition.csv.gz"
RUN_FILES = {"architecture.json", "model.safetensors", "model.onnx", "metrics.json",
             "preprocessor.pkl", "history.csv", "children.csv", "report.md", "plots"}

runner = CliRunner()


@pytest.fixture(scope="module")
def letter() -> pd.DataFrame:
    if not LETTER.exists():
        pytest.skip(f"real data folder missing: {LETTER}")
    return pd.read_csv(LETTER).iloc[:800].reset_index(drop=True)


@pytest.fixture
def letter_csv(tmp_path, letter) -> Path:
    path = tmp_path / "letter.csv"
    letter.to_csv(path, index=False)
    return path


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_bad_input(result, out: Path, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert not out.exists()
    # nothing half-written beside it either (the run directory is built in a temp sibling)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


TINY = ("--steps", "40", "--n-random", "1", "--max-epochs", "3", "--no-reference", "-q")


@pytest.mark.slow
def test_end_to_end_on_a_letter_sample_then_predict(tmp_path, letter_csv, letter):
    out = tmp_path / "run"
    result = invoke("search", letter_csv, "--target", "lettr", "--max-params", "2500",
                    "--out", out, "--seed", "1", *TINY)
    assert result.exit_code == 0, result.output
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert {p.name for p in (out / "plots").iterdir()} == {"reward.png", "policy.png",
                                                          "size_vs_accuracy.png"}
    metrics = json.loads((out / "metrics.json").read_text())
    arch = json.loads((out / "architecture.json").read_text())
    assert metrics["final"]["params"] == arch["params"] <= 2500
    assert metrics["task"] == "multiclass" and len(arch["classes"]) == 26
    assert metrics["search"]["steps"] == 40
    assert 0.0 < metrics["final"]["test"]["accuracy"] <= 1.0
    assert "Test metrics" in result.stdout and "searched" in result.stdout
    report = (out / "report.md").read_text()
    assert "![Reward over steps](plots/reward.png)" in report

    features = letter.drop(columns=["lettr"]).iloc[:50]
    features.to_csv(tmp_path / "new.csv", index=False)
    pred_out = tmp_path / "pred.csv"
    result = invoke("predict", out, tmp_path / "new.csv", "--out", pred_out)
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(pred_out)
    assert len(pred) == 50 and pred.columns[0] == "prediction"
    proba = pred.filter(like="proba_").to_numpy()
    assert proba.shape == (50, 26) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert set(pred["prediction"]) <= set(letter["lettr"])


def test_missing_target_column(tmp_path, letter_csv):
    out = tmp_path / "run"
    result = invoke("search", letter_csv, "--target", "letter", "--max-params", "2000",
                    "--out", out, *TINY)
    assert_bad_input(result, out, "target column 'letter'", "Did you mean 'lettr'")


def test_target_with_one_class(tmp_path, letter):
    path = tmp_path / "one.csv"
    letter[letter["lettr"] == "A"].to_csv(path, index=False)
    out = tmp_path / "run"
    result = invoke("search", path, "--target", "lettr", "--max-params", "2000", "--out", out,
                    *TINY)
    assert_bad_input(result, out, "single class")


def test_all_missing_column(tmp_path, letter):
    path = tmp_path / "holes.csv"
    letter.assign(sensor=np.nan).to_csv(path, index=False)
    out = tmp_path / "run"
    result = invoke("search", path, "--target", "lettr", "--max-params", "2000", "--out", out,
                    *TINY)
    assert_bad_input(result, out, "['sensor']", "missing in every row", "--drop")


@pytest.mark.slow
def test_dropping_the_all_missing_column_lets_the_run_go_on(tmp_path, letter):
    path = tmp_path / "holes.csv"
    letter.assign(sensor=np.nan).to_csv(path, index=False)
    out = tmp_path / "run"
    result = invoke("search", path, "--target", "lettr", "--max-params", "2000", "--out", out,
                    "--drop", "sensor", "--steps", "8", "--n-random", "1", "--max-epochs", "1",
                    "--no-reference", "-q")
    assert result.exit_code == 0, result.output
    assert "sensor" not in json.loads((out / "architecture.json").read_text())["feature_columns"]


def test_non_numeric_regression_target(tmp_path, letter_csv):
    out = tmp_path / "run"
    result = invoke("search", letter_csv, "--target", "lettr", "--task", "regression",
                    "--max-params", "2000", "--out", out, *TINY)
    assert_bad_input(result, out, "numeric target")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    out = tmp_path / "run"
    result = invoke("search", path, "--target", "y", "--max-params", "2000", "--out", out, *TINY)
    assert_bad_input(result, out, "empty")


def test_unreadable_file(tmp_path, letter_csv):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(letter_csv.read_bytes()[:500])  # plain text under a .gz name
    out = tmp_path / "run"
    result = invoke("search", path, "--target", "lettr", "--max-params", "2000", "--out", out,
                    *TINY)
    assert_bad_input(result, out, "cannot read")


def test_missing_file(tmp_path):
    out = tmp_path / "run"
    result = invoke("search", tmp_path / "nope.csv", "--target", "y", "--max-params", "2000",
                    "--out", out)
    assert_bad_input(result, out, "does not exist")


def test_budget_below_the_smallest_child_names_the_minimum(tmp_path, letter_csv):
    out = tmp_path / "run"
    result = invoke("search", letter_csv, "--target", "lettr", "--max-params", "300",
                    "--out", out, *TINY)
    # 16 features, 26 classes: one hidden layer of 8 → 17·8 + 9·26 = 370 parameters
    assert_bad_input(result, out, "minimum is 370 parameters", "at least 370")


@pytest.mark.slow
def test_budget_above_the_largest_child_warns_and_runs_unconstrained(tmp_path, letter_csv):
    out = tmp_path / "run"
    result = invoke("search", letter_csv, "--target", "lettr", "--max-params", "5000000",
                    "--out", out, "--steps", "8", "--n-random", "1", "--max-epochs", "1",
                    "--no-reference", "-q")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "unconstrained" in result.stderr
    assert "unconstrained" in json.loads((out / "metrics.json").read_text())["notices"][0]


@pytest.mark.parametrize("args, fragment", [
    (("--target", "lettr"), "--max-params"),
    (("--target", "lettr", "--max-params", "2000", "--algorithm", "bayes"), "unknown --algorithm"),
    (("--max-params", "2000"), "--target"),
    (("--target", "lettr", "--max-params", "2000", "--dataset", "adult"), "not both"),
    (("--target", "lettr", "--max-params", "2000", "--steps", "0"), "--steps"),
])
def test_usage_errors_exit_2(tmp_path, letter_csv, args, fragment):
    out = tmp_path / "run"
    result = invoke("search", letter_csv, *args, "--out", out)
    assert_bad_input(result, out, fragment)


def test_an_existing_run_directory_is_not_overwritten(tmp_path, letter_csv):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke("search", letter_csv, "--target", "lettr", "--max-params", "2000",
                    "--out", out, *TINY)
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_predict_bad_inputs(tmp_path, letter_csv):
    result = invoke("predict", tmp_path / "no-run", letter_csv)
    assert result.exit_code == 2 and "does not exist" in result.stderr
    (tmp_path / "half").mkdir()
    result = invoke("predict", tmp_path / "half", letter_csv)
    assert result.exit_code == 2 and "not a complete run directory" in result.stderr


@pytest.mark.slow
def test_adult_demo_end_to_end_with_onnx(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "adult"
    result = invoke("search", "--dataset", "adult", "--max-params", "3000", "--steps", "400",
                    "--n-random", "2", "--max-epochs", "8", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"]["params"] <= 3000
    assert metrics["final"]["test"]["accuracy"] > 0.83  # majority class: 0.76
    assert metrics["hist_gradient_boosting"]["test"]["accuracy"] > 0.86
    assert metrics["random_best"]["n_children"] == 2
    assert metrics["data"]["n_test"] == 16281

    from budgetnas.tabular import load_dataset
    from budgetnas.tabular.search import load_run

    _, test_df, target = load_dataset("adult")
    rows = test_df.drop(columns=[target]).iloc[:200]
    run = load_run(out)
    X = run.preprocessing["preprocessor"].transform(rows).astype(np.float32)
    torch_out = run.model(__import__("torch").as_tensor(X)).detach().numpy()
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    onnx_out = session.run(None, {"features": X})[0]
    assert np.allclose(torch_out, onnx_out, atol=1e-5)

    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = invoke("predict", out, tmp_path / "rows.csv", "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(tmp_path / "p.csv")
    truth = test_df[target].iloc[:200].to_numpy()
    assert (pred["prediction"].to_numpy() == truth).mean() > 0.8


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["abs", "random", "evolution", "predictor"])
def test_every_algorithm_runs_end_to_end(tmp_path, letter_csv, algorithm):
    out = tmp_path / algorithm
    result = invoke("search", letter_csv, "--target", "lettr", "--max-params", "2500",
                    "--algorithm", algorithm, "--steps", "40", "--n-trials", "4",
                    "--max-epochs", "2", "--no-reference", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["algorithm"] == algorithm and metrics["final"]["params"] <= 2500
    if algorithm == "abs":
        assert metrics["search"]["steps"] == 40
    else:
        assert metrics["search"]["trials"] == 4
        children = pd.read_csv(out / "children.csv")
        assert (children["source"] == "trial").sum() == 4
        assert (children["params"] <= 2500).all()
