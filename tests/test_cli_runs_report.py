"""`budgetnas report` and `show` on a finished one-shot tabular run (`budgetnas search`): the
report is the search's own report.md and plots written again from the run's files, and `show`
prints the pick's size against the parameter budget."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from budgetnas.cli import app
from budgetnas.tabular.datasets import load_dataset


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.mark.slow
def test_report_regenerates_a_tabular_oneshot_run_and_show_gives_its_budget(tmp_path):
    train, _, _ = load_dataset("adult")  # UCI Adult, shipped with budgetnas
    csv = tmp_path / "adult400.csv"
    train.iloc[:400].to_csv(csv, index=False)
    out = tmp_path / "run"
    res = invoke("search", csv, "--target", "income", "--max-params", "3000", "--steps", "20",
                 "--n-random", "1", "--max-epochs", "1", "--out", out, "-q")
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    written = (out / "report.md").read_text()
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert "HistGradientBoosting" in written and "best of 1 random" in written
    (out / "report.md").unlink()
    for p in (out / "plots").iterdir():
        p.unlink()

    res = invoke("report", out)
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text() == written  # not a stub: the same report
    assert sorted(p.name for p in (out / "plots").iterdir()) == plots
    assert "policy.png" in plots and not (out / "report").exists()

    shown = invoke("show", out).stdout
    params = m["final"]["params"]
    assert (f"cost: {params:,} parameters of the budget 3,000 parameters "
            f"({params / 3000:.1%}, within the budget)") in shown
    s = json.loads(invoke("show", out, "--json").stdout)
    assert s["cost"] == {"value": float(params), "max": 3000.0, "unit": "parameters",
                         "within": True}


def test_report_of_a_run_with_a_missing_file_is_an_error_not_a_stub(tmp_path):
    from budgetnas.cli.runs import regenerate_tabular_report
    from budgetnas.errors import StoreError

    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(StoreError, match="cannot regenerate the report"):
        regenerate_tabular_report(tmp_path)
    assert not (tmp_path / "report.md").exists()
