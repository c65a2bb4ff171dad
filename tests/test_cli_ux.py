"""The command line as a demanding new user meets it: help pages, messages in flag terms, bad
input (exit code 2, a clear message, no traceback, nothing left behind), ``predict`` on the raw
UCI Adult files, and Ctrl-C then resume."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from budgetnas.cli import app
from budgetnas.cli._messages import cli_message
from budgetnas.tabular.datasets import ADULT_COLUMNS, is_raw_adult, load_dataset, read_adult

ROOT = Path(__file__).resolve().parents[1]
ADULT_TEST = ROOT / "budgetnas" / "data" / "adult.test.gz"
CLI = [sys.executable, "-c", "from budgetnas.cli import app; app()"]
TINY = ("--steps", "5", "--n-random", "0", "--no-reference", "--max-epochs", "1", "-q")


def invoke(*args, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def assert_usage_error(result, *fragments: str, absent: tuple[str, ...] = ()) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    for fragment in absent:
        assert fragment not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def adult_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test, _ = load_dataset("adult")
    return train, test


@pytest.fixture
def adult_csv(tmp_path, adult_frames) -> Path:
    """300 rows of UCI Adult with a header: a two-class table that trains in a second."""
    path = tmp_path / "adult300.csv"
    adult_frames[0].iloc[:300].to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------------------
# 1. predict reads the raw UCI Adult files (the search's own reader) and reports accuracy


def test_raw_adult_files_are_recognised_and_read_like_the_shipped_data(tmp_path, adult_frames):
    assert is_raw_adult(ADULT_TEST)
    test = read_adult(ADULT_TEST)
    assert test.shape == (16281, 15) and list(test.columns) == ADULT_COLUMNS
    # UCI's counts: 3,846 of the 16,281 test rows earn >50K; the "|1x3" line is not a row
    assert test["income"].value_counts().to_dict() == {"<=50K": 12435, ">50K": 3846}
    assert test.iloc[0][["age", "workclass", "fnlwgt", "income"]].tolist() == [
        25, "Private", 226802, "<=50K"]
    pd.testing.assert_frame_equal(test, adult_frames[1])  # what `--dataset adult` tests on
    # plain text with the comment line, and unlabelled rows (14 fields)
    with gzip.open(ADULT_TEST, "rt") as f:
        lines = [next(f) for _ in range(6)]
    raw = tmp_path / "adult.test"
    raw.write_text("".join(lines))
    assert is_raw_adult(raw) and read_adult(raw).shape == (5, 15)
    unlabelled = tmp_path / "rows.txt"
    unlabelled.write_text("".join(ln.rsplit(",", 1)[0] + "\n" for ln in lines[1:]))
    rows = read_adult(unlabelled)
    assert list(rows.columns) == ADULT_COLUMNS[:14] and len(rows) == 5
    # a CSV with a header is not the raw format
    adult_frames[1].iloc[:5].to_csv(tmp_path / "h.csv", index=False)
    assert not is_raw_adult(tmp_path / "h.csv") and not is_raw_adult(tmp_path / "missing")


@pytest.fixture(scope="module")
def adult_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("adult") / "run"
    result = invoke("search", "--dataset", "adult", "--max-params", "3000", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_predict_reads_the_raw_adult_test_file_and_reports_the_search_accuracy(adult_run,
                                                                             tmp_path):
    expected = json.loads((adult_run / "metrics.json").read_text())["final"]["test"]["accuracy"]
    out = tmp_path / "raw.csv"
    result = invoke("predict", adult_run, ADULT_TEST, "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 16,281 predictions" in result.stdout
    # the same model on the same rows: the accuracy the search reported for its test split
    assert f"accuracy {expected:.4f} on 16,281 labelled rows (column 'income')" in result.stdout
    predictions = pd.read_csv(out)
    assert len(predictions) == 16281 and set(predictions["prediction"]) <= {"<=50K", ">50K"}
    # --dataset adult predicts the same shipped test split
    out2 = tmp_path / "ds.csv"
    result = invoke("predict", adult_run, "--dataset", "adult", "--out", out2)
    assert result.exit_code == 0, result.output
    assert f"accuracy {expected:.4f}" in result.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out2), predictions)


@pytest.mark.slow
def test_predict_on_a_csv_without_the_target_reports_no_accuracy(adult_run, tmp_path,
                                                               adult_frames):
    rows = adult_frames[1].iloc[:40]
    rows.drop(columns="income").to_csv(tmp_path / "new.csv", index=False)
    result = invoke("predict", adult_run, tmp_path / "new.csv", "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert "accuracy" not in result.stdout
    # with the target: the printed accuracy is the share of rows predicted right
    rows.to_csv(tmp_path / "lab.csv", index=False)
    result = invoke("predict", adult_run, tmp_path / "lab.csv", "--out", tmp_path / "q.csv")
    pred = pd.read_csv(tmp_path / "q.csv")["prediction"]
    accuracy = float((pred.to_numpy() == rows["income"].to_numpy()).mean())
    assert f"accuracy {accuracy:.4f} on 40 labelled rows" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("case", ["out_is_dir", "out_dir_missing", "out_under_file", "no_data",
                                  "both", "data_missing", "data_is_dir", "bad_run",
                                  "unknown_dataset"])
def test_predict_bad_input_exits_2_and_writes_nothing(adult_run, tmp_path, case):
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "file.txt").write_text("x")
    before = listing(tmp_path)
    args = {"out_is_dir": (adult_run, ADULT_TEST, "--out", tmp_path / "a_dir"),
            "out_dir_missing": (adult_run, ADULT_TEST, "--out", tmp_path / "nope" / "p.csv"),
            "out_under_file": (adult_run, ADULT_TEST, "--out", tmp_path / "file.txt" / "p.csv"),
            "no_data": (adult_run,),
            "both": (adult_run, ADULT_TEST, "--dataset", "adult"),
            "data_missing": (adult_run, tmp_path / "nope.csv", "--out", tmp_path / "p.csv"),
            "data_is_dir": (adult_run, tmp_path / "a_dir", "--out", tmp_path / "p.csv"),
            "bad_run": (tmp_path / "a_dir", ADULT_TEST, "--out", tmp_path / "p.csv"),
            "unknown_dataset": (adult_run, "--dataset", "nope", "--out", tmp_path / "p.csv")}
    fragment = {"out_is_dir": "is a directory", "out_dir_missing": "does not exist",
                "out_under_file": "cannot write --out", "no_data": "not both and not neither",
                "both": "not both", "data_missing": "does not exist",
                "data_is_dir": "is a directory", "bad_run": "not a complete run directory",
                "unknown_dataset": "budgetnas search DATA --target COLUMN"}
    assert_usage_error(invoke("predict", *args[case]), fragment[case])
    assert listing(tmp_path) == before


# ------------------------------------------------------------------------------------------------
# 2. help pages read as click's: no <bool> / <int> labels, upper-case argument names

COMMANDS = [["search"], ["search-image"], ["search-multidomain"], ["predict"], ["runs", "list"],
            ["runs", "show"], ["runs", "resume"], ["runs", "report"], ["show"], ["resume"],
            ["report"], ["cost"], ["latency", "build-table"], ["latency", "info"], ["runs"], []]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "budgetnas")
def test_help_names_values_as_click_does(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for label in ("<bool>", "<int>", "<float>", "<str>", "<path>", "list[", "<int range>",
                  "{run_dir}", "{data}"):
        assert label not in text, (label, text)
    assert "Show this message and exit." in text
    # the help flag takes no value: nothing between the flag and its help text
    assert [ln for ln in text.splitlines() if "--help" in ln][0].split("--help")[1].strip() \
        .startswith("Show this message")


def test_help_shows_the_metavars_and_argument_names():
    search = invoke("search", "--help").stdout
    assert "Usage: budgetnas search [OPTIONS] [DATA]" in search
    assert "--max-params" in search and " N " in search and "COLUMN" in search
    predict = invoke("predict", "--help").stdout
    assert "Usage: budgetnas predict [OPTIONS] RUN_DIR [DATA]" in predict
    multi = invoke("search-multidomain", "--help").stdout
    assert "DOMAINS..." in multi and "INTEGER" in multi  # a command without metavars of its own
    commands = invoke("--help").stdout
    # one-line summaries in the command list (no docstring line break inside them)
    assert "value unit`\n" not in commands and "interrupted\n" not in commands


def test_a_missing_argument_is_named_in_capitals():
    result = invoke("show")
    assert result.exit_code == 2 and "RUN_DIR" in result.stderr


# ------------------------------------------------------------------------------------------------
# 3. an oversized budget is one warning, in flag terms


def test_an_oversized_budget_warns_once(tmp_path, adult_csv):
    out = tmp_path / "run"
    result = invoke("search", adult_csv, "--target", "income", "--max-params", "10000000000",
                    "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("the search is unconstrained") == 1, result.stderr
    assert "warning: --max-params 10,000,000,000 is at least the largest MLP" in result.stderr
    assert "max_params=" not in result.stderr
    # the library's notice (dropped ID-like fnlwgt) is said once too, with a true hint
    assert result.stderr.count("dropped column 'fnlwgt'") == 1, result.stderr
    assert "drop_columns" not in result.stderr


# ------------------------------------------------------------------------------------------------
# 4. runs list / show / resume / report on paths that are not run directories


@pytest.mark.parametrize("command", [["runs", "list"], ["show"], ["resume"], ["report"],
                                     ["runs", "show"], ["runs", "resume"], ["runs", "report"]])
def test_a_missing_directory_is_a_usage_error(tmp_path, command):
    result = invoke(*command, tmp_path / "nonexistent_dir")
    assert_usage_error(result, "does not exist")
    (tmp_path / "f.txt").write_text("x")
    assert_usage_error(invoke(*command, tmp_path / "f.txt"), "is a file")
    assert listing(tmp_path) == {"f.txt"}


def test_runs_commands_also_live_under_runs(tmp_path, adult_csv):
    out = tmp_path / "run"
    assert invoke("search", adult_csv, "--target", "income", "--max-params", "3000",
                  "--out", out, *TINY).exit_code == 0
    listed = invoke("runs", "list", tmp_path, "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["state"] == "complete"
    shown, aliased = invoke("show", out, "--json"), invoke("runs", "show", out, "--json")
    assert shown.exit_code == aliased.exit_code == 0
    assert json.loads(shown.stdout) == json.loads(aliased.stdout)
    written = (out / "report.md").read_text()
    (out / "report.md").unlink()  # `report` writes the search's own report again
    assert invoke("runs", "report", out).exit_code == 0
    assert (out / "report.md").read_text() == written and not (out / "report").exists()
    done = invoke("runs", "resume", out)
    assert done.exit_code == 0 and "already complete" in done.stdout


# ------------------------------------------------------------------------------------------------
# 5. library messages told in flag terms


def test_cli_message_rewrites_python_advice():
    assert cli_message("max_params=3 is below") == "--max-params 3 is below"
    assert "--task multiclass or leave out --task" in cli_message(
        "use task='multiclass' or task=None to detect it")
    assert cli_message("pass overwrite=True (--overwrite)") == "pass --overwrite"
    assert cli_message("Fix: pass path=<folder with a>, set X") == "Fix: pass --data <folder with a>, set X"
    assert cli_message("nothing to change here") == "nothing to change here"


def test_messages_reached_from_search_name_flags(tmp_path, adult_csv):
    out = tmp_path / "run"
    common = ("--max-params", "3000", "--out", out, *TINY)
    cases = [
        (("--target", "income", "--task", "multiclass"), "use --task binary",
         ("task=",)),
        (("--target", "income", "--task", "regression"), "use --task binary / multiclass",
         ("task=",)),
        (("--target", "income", "--drop", "nope"), "--drop names columns", ("drop_columns",)),
        (("--target", "income", "--drop", "income"), "--drop names the target",
         ("drop_columns",)),
    ]
    for extra, fragment, absent in cases:
        assert_usage_error(invoke("search", adult_csv, *extra, *common), fragment, absent=absent)
    assert_usage_error(invoke("search", "--dataset", "nope", *common),
                       "budgetnas search DATA --target COLUMN", absent=("load_tabular",))
    headerless = tmp_path / "noheader.csv"
    headerless.write_text("".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    assert_usage_error(invoke("search", headerless, "--target", "y", *common),
                       "add one with the column names", absent=("read_kwargs",))
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    assert_usage_error(invoke("search", header_only, "--target", "y", *common), "holds no data",
                       absent=("names=",))
    sheet = tmp_path / "data.xlsx"
    sheet.write_text("x")
    assert_usage_error(invoke("search", sheet, "--target", "y", *common),
                       "Convert the file to CSV or Parquet", absent=("pandas", "DataFrame"))
    assert listing(tmp_path) == {"adult300.csv", "noheader.csv", "header.csv", "data.xlsx"}


def test_image_data_folder_message_names_the_flag(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    result = invoke("search-image", "--data", tmp_path / "empty", "--max-params", "50000",
                    "--out", out, "-q")
    assert_usage_error(result, "Fix: pass --data <folder", absent=("path=",))
    assert listing(tmp_path) == {"empty"}


# ------------------------------------------------------------------------------------------------
# 6. bad input: exit 2, a message, no traceback, nothing left behind


@pytest.mark.parametrize("budget, fragment", [
    ("abc", "Invalid value for '--max-params'"), ("-5", "positive number"),
    ("0", "positive number"), ("nan", "positive number"), ("inf", "positive number")])
def test_a_bad_budget_fails_before_reading_the_data(tmp_path, budget, fragment):
    # the data file does not even exist: the budget is checked first
    out = tmp_path / "run"
    result = invoke("search", tmp_path / "later.csv", "--target", "y", "--max-params", budget,
                    "--out", out)
    assert_usage_error(result, fragment)
    assert listing(tmp_path) == set()


@pytest.mark.parametrize("case", ["empty", "one_class", "no_target", "steps0", "steps_neg",
                                  "test_missing", "data_is_dir"])
def test_search_bad_input_leaves_nothing(tmp_path, adult_csv, case):
    rows = pd.read_csv(adult_csv)
    (tmp_path / "empty.csv").write_text("")
    rows[rows["income"] == "<=50K"].to_csv(tmp_path / "one.csv", index=False)
    before = listing(tmp_path)
    out = tmp_path / "run"
    data = {"empty": tmp_path / "empty.csv", "one_class": tmp_path / "one.csv",
            "data_is_dir": tmp_path}.get(case, adult_csv)
    extra = {"no_target": ("--target", "incme"), "steps0": ("--steps", "0"),
             "steps_neg": ("--steps", "-3"), "test_missing": ("--test", tmp_path / "t.csv")}
    target = () if case == "no_target" else ("--target", "income")
    fragment = {"empty": "is empty (0 bytes)", "one_class": "has a single class",
                "no_target": "Did you mean 'income'", "steps0": "--steps must be at least 1",
                "steps_neg": "--steps must be at least 1", "test_missing": "does not exist",
                "data_is_dir": "is a directory"}[case]
    args = ["search", data, *target, "--max-params", "3000", "--out", out, "--n-random", "0",
            "--no-reference", "--max-epochs", "1", "-q", *extra.get(case, ("--steps", "5"))]
    assert_usage_error(invoke(*args), fragment)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_out_pointing_at_a_file_is_refused_and_the_file_kept(tmp_path, adult_csv, overwrite):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    flag = ("--overwrite",) if overwrite else ()
    result = invoke("search", adult_csv, "--target", "income", "--max-params", "3000",
                    "--out", target, *flag, *TINY)
    assert_usage_error(result, "is a file, not a directory")
    image = invoke("search-image", "--data", "digits", "--max-params", "50000", "--out", target,
                   *flag, "-q")
    assert_usage_error(image, "is a file, not a directory")
    assert target.read_text() == "keep me"
    assert listing(tmp_path) == {"adult300.csv", "notes.txt"}


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, adult_csv):
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "file.txt" / "run"  # inside a regular file: nothing can be created there
    assert_usage_error(invoke("search", adult_csv, "--target", "income", "--max-params", "3000",
                              "--out", out, *TINY), "cannot write --out")
    assert_usage_error(invoke("search-image", "--data", "digits", "--max-params", "50000",
                              "--out", out, "-q"), "cannot write --out")
    result = invoke("latency", "build-table", "proxylessnas", "--out", out)
    assert result.exit_code == 2 and "Invalid value for '--out'" in result.stderr
    assert "signatures" not in result.stdout  # refused before measuring anything
    assert listing(tmp_path) == {"adult300.csv", "file.txt"}


@pytest.mark.parametrize("args, fragment", [
    (("--steps", "0"), "--steps must be at least 1"),
    (("--steps", "-2"), "--steps must be at least 1"),
    (("--max-params", "abc"), "Invalid value for '--max-params'"),
    (("--max-params", "-1"), "positive number"),
    (("--data", "nope"), "is neither 'digits'"),
])
def test_search_image_bad_input(tmp_path, args, fragment):
    base = {"--data": "digits", "--max-params": "50000", "--steps": "4"}
    base.update(dict(zip(args[::2], args[1::2])))
    flat = [x for kv in base.items() for x in kv]
    assert_usage_error(invoke("search-image", *flat, "--out", tmp_path / "run", "-q"), fragment)
    assert listing(tmp_path) == set()


# ------------------------------------------------------------------------------------------------
# Ctrl-C (SIGINT) mid-run, then the same command resumes


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background shell would have ignored it


@pytest.mark.slow
def test_ctrl_c_mid_search_then_the_same_command_resumes(tmp_path, adult_frames):
    data = tmp_path / "adult2k.csv"
    adult_frames[0].iloc[:2000].to_csv(data, index=False)
    out = tmp_path / "run"
    partial = tmp_path / "run.partial"
    args = [*CLI, "search", str(data), "--target", "income", "--max-params", "3000", "--out",
            str(out), "--steps", "400", "--checkpoint-every", "10", "--n-random", "0",
            "--no-reference", "--max-epochs", "1", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (partial / "checkpoints" / "oneshot.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "interrupted: the search so far is kept in" in stderr
    assert json.loads((partial / "status.json").read_text())["state"] == "interrupted"
    step = json.loads((partial / "checkpoints" / "oneshot.json").read_text())["step"]
    assert 0 < step < 400
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    # oneshot.json is written after the state: it may lag the state by one checkpoint
    resumed = re.search(r"resumed from the checkpoint of step (\d+) of 400", done.stderr)
    assert resumed, done.stderr
    assert step <= int(resumed.group(1)) <= step + 10 and int(resumed.group(1)) % 10 == 0
    assert (out / "metrics.json").is_file() and not partial.exists()
    assert listing(tmp_path) == {"adult2k.csv", "run"}


def _signal_at_first_checkpoint(args: list[str], partial: Path, sig: int):
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (partial / "checkpoints" / "oneshot.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


@pytest.mark.slow
def test_sigterm_stops_a_search_like_ctrl_c(tmp_path, adult_csv):
    out, partial = tmp_path / "run", tmp_path / "run.partial"
    code, stderr = _signal_at_first_checkpoint(
        [*CLI, "search", str(adult_csv), "--target", "income", "--max-params", "3000", "--out",
         str(out), "--steps", "2000", "--checkpoint-every", "10", "--n-random", "0",
         "--no-reference", "--max-epochs", "1", "-q"], partial, signal.SIGTERM)
    assert code == 143, stderr
    assert "Traceback" not in stderr and "budgetnas resume" in stderr
    assert json.loads((partial / "status.json").read_text())["state"] == "interrupted"
    assert listing(tmp_path) == {"adult300.csv", "run.partial"}


@pytest.mark.slow
def test_ctrl_c_mid_image_search_keeps_a_resumable_run(tmp_path):
    out, partial = tmp_path / "run", tmp_path / "run.partial"
    code, stderr = _signal_at_first_checkpoint(
        [*CLI, "search-image", "--data", "digits", "--space", "proxylessnas", "--max-params",
         "150000", "--steps", "400", "--batch-size", "32", "--train-epochs", "1",
         "--checkpoint-every", "4", "-q", "--out", str(out)], partial, signal.SIGINT)
    assert code == 130, stderr
    assert "Traceback" not in stderr and f"`budgetnas resume {out}`" in stderr
    assert json.loads((partial / "status.json").read_text())["state"] == "interrupted"
    shown = invoke("show", out)  # RUN_DIR finds the unfinished OUT.partial
    assert shown.exit_code == 0 and "interrupted" in shown.stdout
    assert listing(tmp_path) == {"run.partial"}


@pytest.mark.slow
def test_predict_writes_into_a_pipe_or_stdout_without_replacing_it(adult_run, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = invoke("predict", adult_run, ADULT_TEST, "--out", fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe, not a regular file in its place
    assert received[0].startswith("prediction,proba_<=50K,proba_>50K\n")
    assert received[0].count("\n") == 16282
    piped = invoke("predict", adult_run, ADULT_TEST, "--out", "-")
    assert piped.exit_code == 0 and piped.stdout == received[0]
    assert "wrote 16,281 predictions to standard output" in piped.stderr
    assert listing(tmp_path) == {"pipe"}


def test_build_table_refuses_a_device_as_out(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = invoke("latency", "build-table", "proxylessnas", "--out", fifo)
    assert result.exit_code == 2 and "is not a regular file" in result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_multidomain_bad_out_and_sizes_are_usage_errors(tmp_path):
    """search-multidomain: --out a file and empty splits exit 2 before any work."""
    from typer.testing import CliRunner

    from budgetnas.cli import app

    afile = tmp_path / "afile"
    afile.write_text("x")
    runner = CliRunner()
    r = runner.invoke(app, ["search-multidomain", "digits", "mnist5k", "--out", str(afile)])
    assert r.exit_code == 2 and "is a file" in r.output
    assert afile.read_text() == "x"
    r = runner.invoke(app, ["search-multidomain", "digits", "mnist5k", "--n-train", "0",
                            "--out", str(tmp_path / "md")])
    assert r.exit_code == 2 and "--n-train must be at least 1" in r.output
    assert not (tmp_path / "md").exists()
