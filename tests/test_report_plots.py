"""Layout of the report's plots: nothing hides anything else."""

from __future__ import annotations

import numpy as np
import pytest

from budgetnas.report.plots import (
    plot_policy,
    plot_size_vs_accuracy,
    policy_figure,
    require_matplotlib,
    size_vs_accuracy_figure,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _policy_inputs():
    # the default MLP space's decision points: a depth (4 choices) and 4 widths (20 choices)
    rng = np.random.default_rng(0)
    sizes = [4, 20, 20, 20, 20]
    names = ["depth", "width_1", "width_2", "width_3", "width_4"]
    snaps = [(step, [rng.dirichlet(np.ones(m)) for m in sizes]) for step in range(0, 400, 40)]
    cands = [[1, 2, 3, 4]] + [[8 * (i + 1) for i in range(20)]] * 4
    return snaps, names, cands


def test_policy_titles_clear_the_tick_labels_of_the_row_above(tmp_path):
    plt = require_matplotlib()
    snaps, names, cands = _policy_inputs()
    fig = policy_figure(plt, snaps, names, cands)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 5
    cols = 4
    for d in range(cols, len(axes)):  # second row: compare with the panel above
        title = axes[d].title.get_window_extent(renderer)
        above = axes[d - cols]
        labels = [t.get_window_extent(renderer) for t in above.get_xticklabels()
                  if t.get_text()]
        assert labels
        # display y grows upwards: the title must sit below the lowest tick label above it
        assert title.y1 < min(b.y0 for b in labels), (d, title, labels)
    plt.close(fig)
    assert plot_policy(snaps, names, cands, tmp_path / "p.png").read_bytes()[:8] == PNG


def test_size_vs_accuracy_legend_hides_no_point(tmp_path):
    plt = require_matplotlib()
    # points in the lower-right corner, where the legend used to sit
    groups = [{"label": "one-shot samples", "x": [1000, 2500, 2900], "y": [0.70, 0.60, 0.55]},
              {"label": "random feasible", "x": [1500, 2800], "y": [0.80, 0.56],
               "marker": "s"},
              {"label": "final model", "x": [2950], "y": [0.54], "marker": "*"}]
    fig = size_vs_accuracy_figure(plt, groups, budget=3000)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = fig.legends[0].get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    for g in groups:
        for x, y in zip(g["x"], g["y"]):
            px, py = ax.transData.transform((x, y))
            assert not legend.contains(px, py)
    plt.close(fig)
    path = plot_size_vs_accuracy(groups, tmp_path / "s.png", budget=3000)
    assert path.read_bytes()[:8] == PNG


@pytest.mark.parametrize("n", [1, 3])
def test_policy_with_few_decisions_still_draws(tmp_path, n):
    snaps, names, cands = _policy_inputs()
    snaps = [(s, p[:n]) for s, p in snaps]
    path = plot_policy(snaps, names[:n], cands[:n], tmp_path / "p.png")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 3000


def test_policy_with_long_candidate_labels_keeps_its_layout(tmp_path):
    import warnings

    plt = require_matplotlib()
    snaps, names, cands = _policy_inputs()
    cands = [[f"InvertedBottleneck(kernel={c}, expansion=6, se=False, act='relu')" for c in cs]
             for cs in cands]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied ..." would be one
        fig = policy_figure(plt, snaps, names, cands)
        fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels and all(len(t) <= 16 and t.endswith("…") for t in labels)
    plt.close(fig)
