"""PNG plots of a search: reward over steps, the policy over steps, size against accuracy.

matplotlib is an optional extra (``pip install budgetnas[plot]``): :func:`require_matplotlib`
raises :class:`MissingDependencyError` with that command when it is not installed, and the report
writers catch it and say so in the report instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.errors import BudgetNASError

__all__ = ["MissingDependencyError", "plot_policy", "plot_rewards", "plot_size_vs_accuracy",
           "policy_figure", "require_matplotlib", "size_vs_accuracy_figure"]


class MissingDependencyError(BudgetNASError, ImportError):
    """An optional dependency is not installed; the message gives the install command."""


def require_matplotlib() -> Any:
    """Import matplotlib with the non-interactive Agg backend and return ``pyplot``.

    Raises
    ------
    MissingDependencyError
        If matplotlib is not installed (message: ``pip install budgetnas[plot]``).
    """
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "plots need matplotlib, which is not installed; run `pip install budgetnas[plot]` "
            "(or `pip install matplotlib`)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_rewards(steps: Sequence[int], rewards: Sequence[float], path: str | Path, *,
                 warmup_end: int | None = None, ylabel: str = "validation reward",
                 window: int | None = None) -> Path:
    """Reward of each search step (dots) and its moving average (line); PNG at ``path``.

    Parameters
    ----------
    steps, rewards : sequence
        Same length: the step index and the reward fed back at that step.
    warmup_end : int, optional
        Draw a vertical line where warm-up ended.
    window : int, optional
        Moving-average window (default: 2% of the points, at least 5).
    """
    plt = require_matplotlib()
    steps, rewards = np.asarray(steps, dtype=float), np.asarray(rewards, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.scatter(steps, rewards, s=3, alpha=0.25, color="tab:blue", label="per step")
    if len(rewards):
        w = int(window or max(5, len(rewards) // 50))
        w = min(w, len(rewards))
        smooth = np.convolve(rewards, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], smooth, color="tab:red", lw=1.6, label=f"mean of {w}")
    if warmup_end:
        ax.axvline(warmup_end, color="grey", ls="--", lw=1, label="end of warm-up")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def plot_policy(snapshots: Sequence[tuple[int, Sequence[np.ndarray]]], names: Sequence[str],
                candidates: Sequence[Sequence[Any]], path: str | Path, *,
                max_panels: int = 12) -> Path:
    """The controller's probabilities over steps: one heat map per decision point.

    Parameters
    ----------
    snapshots : sequence of (step, probabilities)
        ``probabilities[d]`` is the distribution of decision point ``d`` (shape ``(m_d,)``).
    names : sequence of str
        Decision-point names (panel titles).
    candidates : sequence of sequence
        Candidate labels per decision point (y axis).
    max_panels : int
        At most this many decision points are drawn (the first ones).
    """
    plt = require_matplotlib()
    fig = policy_figure(plt, snapshots, names, candidates, max_panels=max_panels)
    return _save(fig, plt, path, tight=False)


def policy_figure(plt: Any, snapshots: Sequence[tuple[int, Sequence[np.ndarray]]],
                  names: Sequence[str], candidates: Sequence[Sequence[Any]], *,
                  max_panels: int = 12) -> Any:
    """The figure of :func:`plot_policy`, not saved (``plt`` is matplotlib's ``pyplot``).

    Constrained layout keeps each panel's title clear of the tick labels of the row above.
    """
    steps = np.array([s for s, _ in snapshots], dtype=float)
    n = min(len(names), max_panels)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols + 0.8, 2.3 + 2.5 * rows), dpi=110,
                             squeeze=False, layout="constrained")
    image = None
    for d in range(rows * cols):
        ax = axes[d // cols][d % cols]
        if d >= n:
            ax.axis("off")
            continue
        P = np.array([np.asarray(p[d], dtype=float) for _, p in snapshots]).T  # (m, snapshots)
        extent = (steps.min(), steps.max() if steps.max() > steps.min() else steps.min() + 1,
                  -0.5, P.shape[0] - 0.5)
        image = ax.imshow(P, aspect="auto", origin="lower", extent=extent, vmin=0, vmax=1,
                          cmap="viridis", interpolation="nearest")
        labels = [_short(str(c)) for c in candidates[d]]
        ticks = np.linspace(0, len(labels) - 1, min(len(labels), 6)).round().astype(int)
        ax.set_yticks(ticks, [labels[t] for t in ticks], fontsize=7)
        ax.set_title(names[d], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="probability")
    fig.supxlabel("step", fontsize=9)
    return fig


def plot_size_vs_accuracy(groups: Sequence[dict[str, Any]], path: str | Path, *,
                          budget: float | None = None, xlabel: str = "parameters",
                          ylabel: str = "validation accuracy") -> Path:
    """Size against quality of evaluated children, with the budget as a vertical line.

    Parameters
    ----------
    groups : sequence of dict
        Each ``{"label": str, "x": array, "y": array}`` and optional ``"marker"``, ``"color"``,
        ``"size"``.
    budget : float, optional
        The constraint's maximum (dashed vertical line).
    """
    plt = require_matplotlib()
    fig = size_vs_accuracy_figure(plt, groups, budget=budget, xlabel=xlabel, ylabel=ylabel)
    return _save(fig, plt, path, tight=False)


def size_vs_accuracy_figure(plt: Any, groups: Sequence[dict[str, Any]], *,
                            budget: float | None = None, xlabel: str = "parameters",
                            ylabel: str = "validation accuracy") -> Any:
    """The figure of :func:`plot_size_vs_accuracy`, not saved; the legend sits to the right
    of the axes, so that it hides no point."""
    fig, ax = plt.subplots(figsize=(9, 4), dpi=110, layout="constrained")
    for g in groups:
        if len(g["x"]):
            ax.scatter(g["x"], g["y"], s=g.get("size", 16), marker=g.get("marker", "o"),
                       color=g.get("color"), alpha=g.get("alpha", 0.8), label=g["label"])
    if budget is not None:
        ax.axvline(budget, color="black", ls="--", lw=1, label=f"budget ({budget:,.0f})")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    fig.legend(fontsize=8, loc="outside right upper")
    return fig


def _short(label: str, limit: int = 16) -> str:
    # candidates can be whole operation specs (100+ characters): cut them, or the panels
    # would have no room left
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _save(fig: Any, plt: Any, path: str | Path, tight: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
