"""Reports of search runs: Markdown with PNG plots (matplotlib is the optional ``plot`` extra)."""

from budgetnas.report.plots import (
    MissingDependencyError,
    plot_policy,
    plot_rewards,
    plot_size_vs_accuracy,
    require_matplotlib,
)
from budgetnas.report.tabular import metrics_table, write_tabular_report

__all__ = ["MissingDependencyError", "metrics_table", "plot_policy", "plot_rewards",
           "plot_size_vs_accuracy", "require_matplotlib", "write_tabular_report"]
