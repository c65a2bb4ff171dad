"""The Markdown report of a tabular run and its PNG plots (matplotlib optional)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from budgetnas.report import (
    MissingDependencyError,
    metrics_table,
    plot_rewards,
    require_matplotlib,
    write_tabular_report,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LETTER = DATA / "tabular" / "mlbench" / "letterrecognition.csv.gz"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    if not LETTER.exists():
        pytest.skip(f"real data folder missing: {LETTER}")
    from budgetnas.tabular.search import Recipe, search_table

    frame = pd.read_csv(LETTER).iloc[:1000]
    return search_table(frame, "lettr", max_params=3000, steps=80, n_random=2, seed=0,
                        recipe=Recipe(max_epochs=2), widths=(8, 16, 32, 64), depths=(1, 2))


@pytest.mark.slow
def test_report_holds_the_numbers_and_the_plots(tmp_path, result):
    path = write_tabular_report(result, tmp_path)
    text = path.read_text()
    acc = f"{result.test_metrics['accuracy']:.4f}"
    widths = "-".join(map(str, result.widths))
    assert f"| final model (searched, retrained) | {widths} | {result.params:,} | {acc} |" in text
    assert "best of 2 random feasible children" in text
    assert f"{result.hgb.test_metrics['accuracy']:.4f}" in text
    assert "80 one-shot steps" in text and "at most 3,000 parameters" in text
    for name in ("reward", "policy", "size_vs_accuracy"):
        png = tmp_path / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 5000
        assert f"(plots/{name}.png)" in text


@pytest.mark.slow
def test_without_matplotlib_the_report_says_how_to_install_it(tmp_path, result, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(MissingDependencyError, match=r"pip install budgetnas\[plot\]"):
        require_matplotlib()
    text = write_tabular_report(result, tmp_path).read_text()
    assert "pip install budgetnas[plot]" in text
    assert not (tmp_path / "plots").exists()


def test_metrics_table_formats_rows_and_missing_values():
    table = metrics_table([("a", "8-8", 1234, {"accuracy": 0.91234, "roc_auc": float("nan")}),
                           ("b", "—", "—", None)], ["accuracy", "roc_auc"])
    lines = table.splitlines()
    assert lines[0] == "| model | architecture | parameters | accuracy | roc_auc |"
    assert lines[2] == "| a | 8-8 | 1,234 | 0.9123 | — |"
    assert lines[3] == "| b | — | — | — | — |"


def test_reward_plot_is_a_png(tmp_path):
    path = plot_rewards(list(range(50)), [0.5 + 0.01 * i for i in range(50)],
                        tmp_path / "r.png", warmup_end=10)
    assert path.read_bytes()[:8] == PNG
