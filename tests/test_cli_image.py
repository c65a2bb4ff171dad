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
    res = invoke("search-image", *FAST, "--max-params", "150000", "--out", out)  # TabNAS
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"run.json", "status.json", "checkpoints", "architecture.json", "model.safetensors",
            "model.onnx", "metrics.json", "history.csv", "report.md", "plots"} <= names
    assert "report" not in names  # no empty folder
    assert not out.with_name("run.partial").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert m["algorithm"] == "tabnas"  # the default: a hard budget
    assert m["final"]["within_budget"] and m["final"]["params"] <= 150_000
    # the reference: logistic regression on the 8×8 pixels (0.96 on this split)
    assert m["reference"]["params"] == 650 and m["reference"]["test_accuracy"] > 0.9
    assert m["final"]["params"] == m["final"]["cost"]
    assert m["search"]["steps_done"] == 16 and 0.0 <= m["final"]["test_accuracy"] <= 1.0
    assert len((out / "history.csv").read_text().splitlines()) == 17
    report = (out / "report.md").read_text()
    assert "150,000 parameters" in report and "plots/search.png" in report
    assert "| logistic regression on the pixels | 650 |" in report
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert all(r.split(",")[6] == "True" for r in rows)  # TabNAS samples only fitting children
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
    assert s["cost"] == {"value": m["final"]["params"], "max": 150_000.0, "unit": "parameters",
                         "within": True}
    text = invoke("show", out).stdout
    assert f"cost: {m['final']['params']:,.0f} parameters of the budget 150,000 parameters" in text
    assert "within the budget" in text
    (out / "report.md").unlink()
    (out / "plots" / "search.png").unlink()
    assert invoke("report", out).exit_code == 0  # the search's own report, written again
    assert (out / "report.md").read_text() == report and (out / "plots" / "search.png").is_file()
    assert not (out / "report").exists()
    again = invoke("search-image", *FAST, "--max-params", "150000", "--out", out)
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
    # the total counts the killed part too; `show` says so
    t = mb["timings"]
    assert 0 < t["earlier_parts"] < t["total"] and "earlier_parts" not in ma["timings"]
    assert t["total"] > t["search"] + t["final"]
    assert f"time: {t['total']:.1f} s in total" in invoke("show", b).stdout


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
    assert "measured on this machine" in (out / "report.md").read_text()

    # --latency-fit: another run reuses this run's fit (no measuring), so the two agree
    other = tmp_path / "other"
    res = invoke("search-image", *FAST, "--steps", "4", "--max-latency-ms", "1000",
                 "--latency-fit", out, "--out", other)
    assert res.exit_code == 0, res.output
    m2 = json.loads((other / "metrics.json").read_text())
    assert m2["budget"]["smallest"] == m["budget"]["smallest"]
    assert m2["latency_model"]["source"] == str((out / "checkpoints" / "latency_fit.json")
                                                .resolve())
    assert "reused from" in (other / "report.md").read_text()


@pytest.mark.slow
def test_tunas_over_the_budget_warns_and_records_it_truthfully(tmp_path):
    """TuNAS's absolute reward treats the budget as a target: after 16 steps its argmax pick is
    far above a tight MAC budget. Exit 0, a warning with how far over and what to do, the
    history's `feasible` per sampled child, `show` and the report say "over budget"."""
    out = tmp_path / "a-run-directory-whose-path-is-long-enough-to-wrap-at-eighty-columns"
    res = CliRunner().invoke(app, ["search-image", *FAST, "--steps", "8", "--algorithm",
                                   "tunas", "--max-macs", "75000", "--out", str(out)],
                             env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    f = m["final"]
    assert not f["within_budget"] and f["cost"] == f["macs"] > 75_000
    over = f"{f['cost'] / 75_000 - 1:.0%} over the budget --max-macs 75,000 MACs"
    assert over in res.stderr and "--algorithm tabnas" in res.stderr and "--steps" in res.stderr
    assert m["warnings"] == [m["warnings"][0]] and over in m["warnings"][0]
    # the result table: the cost with its unit, MACs not repeated; the path on one line
    assert f"{f['cost']:,.0f} MACs ({f['cost'] / 75_000:.1%} of the budget 75,000 MACs)" \
        in res.stdout
    assert res.stdout.count(f"{f['macs']:,.0f}") == 1
    assert f"run directory: {out}  (" in res.stdout
    report = (out / "report.md").read_text()
    assert "**The pick is over the budget**" in report and "slightly" not in report
    assert "of the budget 75,000 MACs)" in report
    # history.csv: `feasible` tells whether each sampled child fits the budget
    rows = [r.split(",") for r in (out / "history.csv").read_text().splitlines()[1:]]
    feasible = [r[6] == "True" for r in rows]
    assert feasible == [float(r[5]) <= 75_000 for r in rows] and not all(feasible)
    shown = invoke("show", out).stdout
    assert "over budget" in shown and f"{f['cost']:,.0f} MACs of the budget 75,000 MACs" in shown


def _small_fit(tmp_path: Path, space: str = "proxylessnas", width: float = 0.25,
               size: int = 8, identity: bool = True) -> Path:
    from budgetnas.cost.latency import LatencySettings
    from budgetnas.vision.search import fit_latency_model, image_costs, save_latency_fit

    costs = image_costs(space, width_mult=width, input_size=size)
    fit = fit_latency_model(costs, n_children=4, n_test=0,
                            settings=LatencySettings(batch_size=1, threads=1, warmup=1,
                                                     repeats=2))
    path = tmp_path / f"fit-{space}-{width}-{size}-{identity}.json"
    save_latency_fit(fit, path, costs if identity else None)
    return path


def test_latency_fit_must_match_the_search_else_exit_2(tmp_path):
    fit = _small_fit(tmp_path)
    out = tmp_path / "run"
    lat = [*FAST, "--max-latency-ms", "5", "--out", out]
    assert_bad_input(invoke("search-image", *FAST, "--max-macs", "2e5", "--latency-fit", fit,
                            "--out", out), out, "--latency-fit applies to a latency budget")
    assert_bad_input(invoke("search-image", *lat, "--latency-fit", tmp_path / "none.json"), out,
                     "no latency fit at")
    assert_bad_input(invoke("search-image", *lat, "--latency-fit", fit, "--width-mult", "0.5"),
                     out, "measured on another network", "width_mult 0.25 (this search: 0.5)")
    assert_bad_input(invoke("search-image", *lat, "--latency-fit", fit, "--image-size", "16"),
                     out, "input_size 8 (this search: 16)")
    assert_bad_input(invoke("search-image", *lat, "--latency-fit", _small_fit(tmp_path,
                                                                             identity=False)),
                     out, "does not say which space")


@pytest.mark.slow
def test_a_budget_too_tight_for_rejection_sampling_is_a_usage_error(tmp_path):
    """TabNAS (the default) samples by rejection: under 90,000 parameters too few proxylessnas
    children remain to draw one in the sampler's budget of draws. Exit 2, a way out (raise the
    budget or --algorithm tunas), and nothing left behind."""
    out = tmp_path / "run"
    res = invoke("search-image", *FAST, "--max-params", "90000", "--out", out)
    assert_bad_input(res, out, "--max-params 90,000 parameters is too tight",
                     "65,050 to 381,850 parameters", "--algorithm tunas")
