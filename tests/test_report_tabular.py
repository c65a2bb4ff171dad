"""The report's one-line summary in plain words (no signed decimals of a fraction)."""

from __future__ import annotations

from budgetnas.report.tabular import compare_metric


def test_a_tiny_accuracy_gap_is_points_below_and_within_noise():
    text = compare_metric("accuracy", 0.8436, 0.8438, "the best random feasible child", 16281)
    # 1.96 * sqrt(2 * 0.8437 * 0.1563 / 16281) = 0.0079 -> ±0.79 points
    assert text == ("0.02 points below the best random feasible child (84.36% against 84.38%), "
                    "within the noise of 16,281 test rows (±0.79 points at 95%)")


def test_a_large_gap_is_above_and_not_called_noise():
    text = compare_metric("accuracy", 0.86, 0.84, "HistGradientBoosting", 16281)
    assert text == "2.00 points above HistGradientBoosting (86.00% against 84.00%)"


def test_equal_accuracies_and_other_metrics():
    assert compare_metric("accuracy", 0.85, 0.85, "X", 100).startswith(
        "the same as X's (85.00%), within the noise of 100 test rows")
    assert compare_metric("r2", 0.61, 0.65, "X", 500) == \
        "0.0400 lower than X's (0.6100 against 0.6500; worse)"
    assert compare_metric("rmse", 1.5, 2.0, "X", 500) == \
        "0.5000 lower than X's (1.5000 against 2.0000; better)"
