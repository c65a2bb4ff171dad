"""The Markdown report of a tabular search run, with its PNG plots.

:func:`write_tabular_report` reads a :class:`~budgetnas.tabular.search.TableSearchResult` (by its
attributes only) and writes ``report.md`` and ``plots/*.png`` into a run directory: the final
model against the best random feasible child and HistGradientBoosting, the search's reward over
steps, the policy's probabilities per decision over steps, and size against accuracy of every
evaluated child with the budget line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.report.plots import (
    MissingDependencyError,
    plot_policy,
    plot_rewards,
    plot_size_vs_accuracy,
)

__all__ = ["metrics_table", "write_tabular_report"]

_METRICS = {"binary": ["accuracy", "balanced_accuracy", "roc_auc", "log_loss"],
            "multiclass": ["accuracy", "balanced_accuracy", "roc_auc", "log_loss"],
            "regression": ["rmse", "mae", "r2"]}


def write_tabular_report(result: Any, out_dir: str | Path, *, plots: bool = True) -> Path:
    """Write ``report.md`` (and ``plots/*.png`` unless ``plots=False``) for a tabular run.

    Parameters
    ----------
    result : TableSearchResult
    out_dir : path
        The run directory (created if needed).
    plots : bool
        Draw the plots. Without matplotlib the report says how to install it instead.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    plot_note = None
    if plots:
        try:
            figures = _draw(result, out_dir / "plots")
        except MissingDependencyError as exc:
            plot_note = str(exc)
    else:
        plot_note = "plots were not drawn (plots=False)"
    text = _markdown(result, figures, plot_note)
    path = out_dir / "report.md"
    path.write_text(text)
    return path


def metrics_table(rows: Sequence[tuple[str, str, Any, Mapping[str, float] | None]],
                  metrics: Sequence[str]) -> str:
    """A Markdown table: one row per model ``(name, architecture, params, test metrics)``."""
    head = "| model | architecture | parameters | " + " | ".join(metrics) + " |"
    sep = "|" + "---|" * (3 + len(metrics))
    lines = [head, sep]
    for name, arch, params, values in rows:
        cells = [_fmt(values.get(m) if values else None) for m in metrics]
        p = f"{params:,}" if isinstance(params, (int, np.integer)) else str(params)
        lines.append(f"| {name} | {arch} | {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _draw(result: Any, plot_dir: Path) -> list[tuple[str, str]]:
    figures = []
    space = result.space
    metric = result.primary_metric.replace("_", " ")
    if result.oneshot is not None:
        hist = [r for r in result.oneshot.history if r.reward is not None]
        if hist:
            warm = sum(1 for r in result.oneshot.history if r.phase == "warmup")
            plot_rewards([r.step for r in hist], [r.reward for r in hist],
                         plot_dir / "reward.png", warmup_end=warm or None,
                         ylabel=f"validation-batch {metric} (shared weights)")
            figures.append(("Reward over steps", "plots/reward.png"))
        if len(result.oneshot.policy) >= 2:
            names = space.spec.names
            cands = [list(dp.candidates) if dp.index > 0 else list(space.depths)
                     for dp in space.spec.decision_points]
            plot_policy(result.oneshot.policy, names, cands, plot_dir / "policy.png")
            figures.append(("The policy's probabilities per decision over steps",
                            "plots/policy.png"))
    elif result.trials:
        plot_rewards(list(range(len(result.trials))), [c.val_metric for c in result.trials],
                     plot_dir / "reward.png", ylabel=f"validation {metric} (standalone)", window=3)
        figures.append(("Reward over trials", "plots/reward.png"))
    groups = []
    children = result.evaluated_children()
    styles = {"oneshot": ("one-shot samples (shared weights, mean reward)", "o", "tab:grey", 10, 0.5),
              "trial": ("search trials (standalone)", "o", "tab:green", 22, 0.8),
              "random": ("random feasible (standalone)", "s", "tab:blue", 22, 0.8),
              "final": ("final model (standalone)", "*", "tab:red", 160, 1.0)}
    for source, (label, marker, color, size, alpha) in styles.items():
        pts = [c for c in children if c.source == source and math.isfinite(c.val_metric)]
        groups.append({"label": label, "x": [c.params for c in pts],
                       "y": [c.val_metric for c in pts], "marker": marker, "color": color,
                       "size": size, "alpha": alpha})
    plot_size_vs_accuracy(groups, plot_dir / "size_vs_accuracy.png", budget=result.max_params,
                          ylabel=f"validation {metric}")
    figures.append(("Size against accuracy of evaluated children", "plots/size_vs_accuracy.png"))
    return figures


def _markdown(result: Any, figures: list[tuple[str, str]], plot_note: str | None) -> str:
    data, space = result.data, result.space
    metrics = _METRICS[result.task]
    lines = [f"# budgetnas search report: {result.dataset_name or data.target}", ""]
    lines += [
        f"- **Task**: {result.task} (target `{data.target}`"
        + (f", {data.n_classes} classes" if data.n_classes else "") + ")",
        f"- **Data**: {len(data.y_train):,} training / {len(data.y_val):,} validation / "
        f"{len(data.y_test):,} test rows, {data.n_features} features after preprocessing",
        f"- **Budget**: at most {result.max_params:,.0f} parameters (weights + biases)",
        f"- **Search space**: depth {_list(space.depths)}, widths {_list(space.widths)} — "
        f"{space.size:,} children, {space.min_params():,} to {space.max_params():,} parameters",
        f"- **Algorithm**: `{result.algorithm}`, seed {result.seed}" + _search_size(result),
        f"- **Final model**: hidden widths {_arch(result.widths)}, {result.params:,} parameters "
        f"({100 * result.params / result.max_params:.0f}% of the budget)",
        "",
        "## Test metrics",
        "",
    ]
    rows = [("final model (searched, retrained)", _arch(result.widths), result.params,
             result.test_metrics)]
    if result.random_best is not None:
        n = len(result.random_children) or len(result.trials)
        rb = result.random_best
        rows.append((f"best of {n} random feasible children", _arch(rb.widths), rb.params,
                     rb.test_metrics))
    if result.hgb is not None:
        rows.append(("HistGradientBoosting (reference)", "max_iter=200", "—",
                     result.hgb.test_metrics))
    lines += [metrics_table(rows, metrics), ""]
    lines += [_comparison_note(result), ""]
    if figures:
        lines += ["## Plots", ""]
        for title, rel in figures:
            lines += [f"### {title}", "", f"![{title}]({rel})", ""]
    if plot_note:
        lines += ["## Plots", "", f"_{plot_note}_", ""]
    lines += ["## Timings", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result.timings.items()]
    lines.append("")
    if result.notices:
        lines += ["## Notices", ""] + [f"- {n}" for n in result.notices] + [""]
    lines += ["## How it was made", "",
              "The search samples only children within the budget. The final child is retrained "
              "from scratch (Adam, early stopping on validation loss); the random children are "
              "drawn uniformly from the feasible set and trained standalone with the same recipe "
              "and seed; HistGradientBoosting sees the same preprocessed split. "
              "Method: TabNAS (Yang et al., NeurIPS 2022).", ""]
    return "\n".join(lines)


def _comparison_note(result: Any) -> str:
    key = result.primary_metric
    final = result.test_metrics.get(key)
    parts = []
    if result.random_best is not None and result.random_best.test_metrics:
        other = result.random_best.test_metrics.get(key)
        if final is not None and other is not None:
            parts.append(f"the searched model's test {key} is {final - other:+.4f} against the "
                         "best random feasible child")
    if result.hgb is not None:
        other = result.hgb.test_metrics.get(key)
        if final is not None and other is not None:
            parts.append(f"{final - other:+.4f} against HistGradientBoosting")
    return ("In short: " + "; ".join(parts) + ".") if parts else ""


def _search_size(result: Any) -> str:
    if result.oneshot is not None:
        return f", {result.oneshot.steps_done:,} one-shot steps"
    if result.trials:
        return f", {len(result.trials)} trials"
    return ""


def _arch(widths: Sequence[int]) -> str:
    return "-".join(str(w) for w in widths)


def _list(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.4f}"
