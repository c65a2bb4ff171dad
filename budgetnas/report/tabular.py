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
    text = _markdown(result, figures, plot_note, out_dir)
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


def _markdown(result: Any, figures: list[tuple[str, str]], plot_note: str | None,
              out_dir: Path | None = None) -> str:
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
    lines += files_section(result, out_dir)
    lines += ["## How it was made", "",
              "The search samples only children within the budget. The final child is retrained "
              "from scratch (Adam, early stopping on validation loss); the random children are "
              "drawn uniformly from the feasible set and trained standalone with the same recipe "
              "and seed; HistGradientBoosting sees the same preprocessed split. "
              "Method: TabNAS (Yang et al., NeurIPS 2022).", ""]
    return "\n".join(lines)


def _comparison_note(result: Any) -> str:
    """``In short: ...``: the searched model against the best random child and the reference,
    in plain words (accuracy differences in percentage points, with the test set's noise)."""
    key = result.primary_metric
    final = result.test_metrics.get(key)
    n_test = len(result.data.y_test)
    parts = []
    if result.random_best is not None and result.random_best.test_metrics:
        other = result.random_best.test_metrics.get(key)
        if final is not None and other is not None:
            parts.append(f"the searched model's test {key.replace('_', ' ')} is "
                         + compare_metric(key, final, other, "the best random feasible child",
                                          n_test))
    if result.hgb is not None:
        other = result.hgb.test_metrics.get(key)
        if final is not None and other is not None:
            lead = "it is " if parts else f"the searched model's test {key.replace('_', ' ')} is "
            parts.append(lead + compare_metric(key, final, other, "HistGradientBoosting", n_test))
    return ("In short: " + "; ".join(parts) + ".") if parts else ""


def compare_metric(key: str, final: float, other: float, name: str, n_test: int) -> str:
    """``0.02 points below the best random feasible child (84.36% against 84.38%), within the
    noise of 16,281 test rows (±0.79 points at 95%)`` for accuracy; for other metrics the
    difference itself (``0.0123 higher than ...``).

    The noise is 1.96 standard errors of the difference of two accuracies of about
    ``p = (final + other) / 2`` measured on ``n_test`` rows each: ``1.96 √(2 p (1 − p) / n)``
    (independent errors; the two models' errors are correlated, so this is generous).
    """
    if key == "accuracy":
        diff = 100 * (final - other)
        if round(abs(diff), 2) == 0:
            text = f"the same as {name}'s ({100 * final:.2f}%)"
        else:
            text = (f"{abs(diff):.2f} points {'above' if diff > 0 else 'below'} {name} "
                    f"({100 * final:.2f}% against {100 * other:.2f}%)")
        if n_test > 0:
            p = min(max((final + other) / 2, 0.0), 1.0)
            noise = 196 * math.sqrt(2 * p * (1 - p) / n_test)
            if abs(diff) <= noise:
                text += f", within the noise of {n_test:,} test rows (±{noise:.2f} points at 95%)"
        return text
    diff = final - other
    if round(abs(diff), 4) == 0:
        return f"the same as {name}'s ({final:.4f})"
    lower_is_better = key in ("rmse", "mae", "log_loss")
    better = (diff < 0) if lower_is_better else (diff > 0)
    word = "higher" if diff > 0 else "lower"
    return (f"{abs(diff):.4f} {word} than {name}'s ({final:.4f} against {other:.4f}; "
            f"{'better' if better else 'worse'})")


#: What each file of a finished tabular run directory is for (``report.md``'s file list).
RUN_FILE_NOTES = {
    "architecture.json": "hidden widths, DNA, parameters, input width, classes",
    "model.safetensors": "the final model's weights",
    "model.onnx": "the final model for ONNX Runtime: float32 features from "
                  "`budgetnas.tabular.load_run(RUN).features(df)` in, logits out",
    "preprocessor.pkl": "the fitted scikit-learn ColumnTransformer (raw columns → features)",
    "preprocessing.json": "feature columns, classes, target, and how raw rows are read",
    "metrics.json": "every number of this report",
    "history.csv": "one row per one-shot step",
    "children.csv": "every evaluated child (`val_set` says on which validation data)",
    "report.md": "this report",
    "run.json": "the search's settings (for `budgetnas show` / `resume`)",
    "status.json": "the run's state",
    "study.db": "the trial store (SQLite)",
}


def files_section(result: Any, out_dir: str | Path | None) -> list[str]:
    """``## Files``: what the run directory holds, including the store's files (``run.json``,
    ``checkpoints/``) that move in from ``result.store_dir`` after the report is written."""
    out_dir = None if out_dir is None else Path(out_dir)
    present = set() if out_dir is None else {p.name for p in out_dir.iterdir()}
    store = getattr(result, "store_dir", None)
    store = None if store is None else Path(store)
    if store is not None and store.is_dir():
        present |= {"run.json", "status.json"} | {p.name for p in store.iterdir()
                                                   if p.name == "study.db"}
    present.add("report.md")
    lines = ["## Files", ""]
    for name, note in RUN_FILE_NOTES.items():
        if name in present:
            lines.append(f"- `{name}`: {note}")
    if "plots" in present or (out_dir is not None and (out_dir / "plots").is_dir()):
        lines.append("- `plots/`: the plots above")
    ckpts = [d / "checkpoints" / "oneshot.pt" for d in (store, out_dir) if d is not None]
    ckpt = next((c for c in ckpts if c.is_file()), None)
    if ckpt is not None:
        size = ckpt.stat().st_size / 1e6
        lines.append(f"- `checkpoints/oneshot.pt` ({size:.1f} MB): the one-shot search's last "
                     "state (supernet weights, optimiser, controller, policy snapshots), kept: "
                     "`budgetnas report` redraws `plots/policy.png` from it, and the shared "
                     "weights can be reused (`torch.load(path, weights_only=False)`). "
                     "`predict` and `show` do not need it; deleting it saves the space and "
                     "loses only the policy plot of a regenerated report")
    lines.append("")
    return lines


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
