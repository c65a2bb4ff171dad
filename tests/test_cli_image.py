"""`budgetnas search-image` on scikit-learn's digits: bad input exits 2 and leaves nothing, a run
writes its directory (model, ONNX, report), and a run killed with SIGKILL resumes from its last
checkpoint to the same pick, controller and supernet as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from budgetnas.cli import app

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from budgetnas.cli import app; app()"]
FAST = ("--data", "digits", "--space", "proxylessnas", "--steps", "16", "--batch-size", "32",
        "--train-epochs", "1", "--checkpoint-every", "4", "-q")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def assert_bad_input(result, out: Path, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize("args, fragment", [
    (("--space", "nope", "--max-macs", "1e5"), "unknown --space 'nope'"),
    (("--max-macs", "1e5", "--max-params", "1e5"), "exactly one budget"),
    ((), "exactly one budget"),
    (("--max-params", "-5"), "--max-params must be a positive number"),
    (("--max-macs", "1e5", "--algorithm", "bogus"), "unknown --algorithm"),
    (("--max-macs", "1e5", "--resume"), "no interrupted search"),
    (("--max-macs", "1e5", "--steps", "0"), "--steps must be at least 1"),
])
def test_usage_errors_exit_2_and_leave_nothing(tmp_path, args, fragment):
    out = tmp_path / "run"
    base = [a for a in FAST if a != "--space" and a != "proxylessnas"] if "--space" in args \
        else list(FAST)
    assert_bad_input(invoke("search-image", *base, *args, "--out", out), out, fragment)


def test_missing_data_folder_exits_2(tmp_path):
    out = tmp_path / "run"
    res = invoke("search-image", "--data", tmp_path / "nowhere", "--max-macs", "1e5",
                 "--out", out, "-q")
    assert_bad_input(res, out, "neither 'digits'")
    (tmp_path / "empty").mkdir()  # a folder without the IDX files
    res = invoke("search-image", "--data", tmp_path / "empty", "--max-macs", "1e5", "--out", out,
                 "-q")
    assert_bad_input(res, out, "Fashion-MNIST files not found", "train-images-idx3-ubyte.gz")


def test_infeasible_budget_names_the_minimum(tmp_path):
    out = tmp_path / "run"
    res = invoke("search-image", *FAST, "--max-macs", "1000", "--out", out)
    # proxylessnas at width 0.25 on 8×8 digits: the smallest child has 70,216 MACs
    assert_bad_input(res, out, "minimum achievable is 70,216 MACs", "--max-macs")


@pytest.mark.slow
def test_tabnas_under_a_parameter_budget_writes_the_run_directory(tmp_path):
    import onnxruntime as ort

    from budgetnas.cli.image import load_run_model
    from budgetnas.spaces import get_space

    out = tmp_path / "run"
    res = invoke("search-image", *FAST, "--algorithm", "tabnas", "--max-params", "150000",
                 "--out", out)
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"run.json", "status.json", "checkpoints", "architecture.json", "model.safetensors",
            "model.onnx", "metrics.json", "history.csv", "report.md", "plots"} <= names
    assert not out.with_name("run.partial").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert m["final"]["within_budget"] and m["final"]["params"] <= 150_000
    assert m["final"]["params"] == m["final"]["cost"]
    assert m["search"]["steps_done"] == 16 and 0.0 <= m["final"]["test_accuracy"] <= 1.0
    assert len((out / "history.csv").read_text().splitlines()) == 17
    report = (out / "report.md").read_text()
    assert "150,000 parameters" in report and "plots/search.png" in report
    assert (out / "plots" / "search.png").stat().st_size > 1000

    model = load_run_model(out)
    arch = json.loads((out / "architecture.json").read_text())
    assert get_space("proxylessnas").to_string(
        get_space("proxylessnas").from_vector(np.asarray(arch["dna"]))) == m["final"]["arch"]
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        want = model(x).numpy()
    got = ort.InferenceSession(str(out / "model.onnx")).run(None, {"images": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

    shown = invoke("show", out, "--json")
    assert shown.exit_code == 0, shown.output
    s = json.loads(shown.stdout)
    assert s["state"] == "complete" and s["budget"]["finished"] == 16
    assert s["best"]["value"] == m["final"]["val_accuracy"]
    assert invoke("report", out).exit_code == 0 and (out / "report" / "report.md").is_file()
    again = invoke("search-image", *FAST, "--algorithm", "tabnas", "--max-params", "150000",
                   "--out", out)
    assert again.exit_code == 2 and "finished search" in again.stderr
    assert "already complete" in invoke("resume", out).stdout


def _final_state(out: Path) -> dict:
    return torch.load(out / "checkpoints" / "oneshot.pt", weights_only=False)


@pytest.mark.slow
def test_sigkill_mid_search_then_resume_equals_uninterrupted(tmp_path):
    from tests.test_oneshot_resume import assert_same

    args = [*FAST, "--steps", "24", "--max-macs", "200000", "--seed", "1"]
    a, b = tmp_path / "A", tmp_path / "B"
    res = invoke("search-image", *args, "--out", a)
    assert res.exit_code == 0, res.output

    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    proc = subprocess.Popen([*CLI, "search-image", *args, "--out", str(b)], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = tmp_path / "B.partial" / "checkpoints" / "oneshot.json"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if progress.is_file() and json.loads(progress.read_text() or "{}").get("step", 0) >= 8:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not b.exists(), "the search finished before it was killed"
    step = json.loads(progress.read_text())["step"]
    assert 8 <= step < 24
    shown = json.loads(invoke("show", b, "--json").stdout)  # the unfinished run is found
    assert shown["state"] == "interrupted" and shown["best"] is None

    resumed = invoke("resume", b)
    assert resumed.exit_code == 0, resumed.output
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert 8 <= mb["search"]["resumed_from"] < 24 and ma["search"]["resumed_from"] == 0
    assert mb["final"]["dna"] == ma["final"]["dna"]
    assert mb["search"]["policy"] == ma["search"]["policy"]
    sa, sb = _final_state(a), _final_state(b)
    assert_same(sb["algorithm"], sa["algorithm"], "controller")
    assert_same(sb["task"]["supernet"], sa["task"]["supernet"], "supernet")
    assert [r["reward"] for r in sb["history"]] == [r["reward"] for r in sa["history"]]
    assert mb["final"]["val_accuracy"] == ma["final"]["val_accuracy"]  # same standalone training


@pytest.mark.slow
def test_latency_budget_fits_once_and_a_resume_reuses_the_fit(tmp_path, monkeypatch):
    import budgetnas.cli.image as image
    import budgetnas.vision.search as vs

    out = tmp_path / "lat"
    args = [*FAST, "--max-latency-ms", "1000", "--latency-samples", "6", "--out", out]
    real = image._search_and_train

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(image, "_search_and_train", crash)
    assert invoke("search-image", *args).exit_code != 0
    partial = tmp_path / "lat.partial"
    fit_file = partial / "checkpoints" / "latency_fit.json"
    assert json.loads((partial / "status.json").read_text())["state"] == "interrupted"
    cached = json.loads(fit_file.read_text())
    assert len(cached["train_ms"]) == 6 and min(cached["train_ms"]) > 0

    def no_measuring(*a, **k):
        raise AssertionError("a resumed search must reuse the cached latency fit")

    monkeypatch.setattr(image, "_search_and_train", real)
    monkeypatch.setattr(vs, "fit_latency_model", no_measuring)
    res = invoke("search-image", *args)
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["budget"]["unit"] == "ms" and m["final"]["predicted_ms"] == m["final"]["cost"]
    assert m["latency_model"]["children_measured"] == 6 + 2
    assert any("unconstrained" in n for n in m["notices"])
    assert json.loads((out / "checkpoints" / "latency_fit.json").read_text()) == cached
