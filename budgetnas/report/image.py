"""The Markdown report of an image search run (``budgetnas search-image``), with its plots.

:func:`write_image_report` reads the run's ``metrics.json`` content and step history and writes
``report.md`` and ``plots/*.png``: the pick (architecture, cost against the budget, parameters,
MACs, predicted and measured latency, accuracy after standalone training), the latency model's
held-out error when one was fitted, the search history (each step's validation reward with
shared weights, and the sampled child's cost against the budget) and the controller's
probabilities over steps.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.report.plots import MissingDependencyError, plot_policy, require_matplotlib

__all__ = ["plot_search_history", "read_history", "write_image_report"]


def write_image_report(out_dir: str | Path, metrics: Mapping[str, Any],
                       history: Sequence[Mapping[str, Any]], *,
                       names: Sequence[str] | None = None,
                       candidates: Sequence[Sequence[str]] | None = None,
                       plots: bool = True) -> Path:
    """Write ``report.md`` (and ``plots/*.png`` unless ``plots=False``) for an image search.

    Parameters
    ----------
    out_dir : path
        Where to write (created if needed).
    metrics : mapping
        What ``budgetnas search-image`` writes to ``metrics.json``.
    history : sequence of mapping
        One row per one-shot step: ``step``, ``phase``, ``reward`` (None in warm-up), ``cost``.
    names, candidates : sequence, optional
        Decision names and candidate labels for the policy plot (default: from the registered
        space named in ``metrics``).
    plots : bool
        Draw the plots; without matplotlib the report says how to install it instead.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    note = None if plots else "plots were not drawn (plots=False)"
    if plots:
        try:
            figures = _draw(out_dir / "plots", metrics, history, names, candidates)
        except MissingDependencyError as exc:
            note = str(exc)
    path = out_dir / "report.md"
    path.write_text(_markdown(metrics, history, figures, note), encoding="utf-8")
    return path


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's ``history.csv`` with numbers parsed (empty list if it is missing)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append({"step": int(r["step"]), "phase": r["phase"],
                         "dna": [int(v) for v in r["dna"].split("-") if v != ""],
                         "loss": _num(r.get("loss")), "reward": _num(r.get("reward")),
                         "cost": _num(r.get("cost")), "feasible": r.get("feasible") == "True"})
    return rows


def plot_search_history(history: Sequence[Mapping[str, Any]], path: str | Path, *,
                        budget: float | None = None, unit: str = "", window: int | None = None
                        ) -> Path:
    """Two panels over steps: the validation reward fed back (dots, moving average) and the
    sampled child's cost with the budget as a dashed line; warm-up shaded. PNG at ``path``."""
    plt = require_matplotlib()
    steps = np.array([r["step"] for r in history], dtype=float)
    cost = np.array([np.nan if r.get("cost") is None else r["cost"] for r in history], dtype=float)
    rew = [(r["step"], r["reward"]) for r in history if r.get("reward") is not None]
    warm = sum(1 for r in history if r.get("phase") == "warmup")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.2), dpi=110, sharex=True)
    if rew:
        s, v = np.array(rew, dtype=float).T
        ax1.scatter(s, v, s=4, alpha=0.3, color="tab:blue", label="per step")
        w = min(len(v), int(window or max(5, len(v) // 50)))
        ax1.plot(s[w - 1:], np.convolve(v, np.ones(w) / w, mode="valid"), color="tab:red",
                 lw=1.5, label=f"mean of {w}")
        ax1.legend(loc="lower right", fontsize=8)
    ax1.set_ylabel("val-batch accuracy\n(shared weights)")
    ax2.scatter(steps, cost, s=4, alpha=0.4, color="tab:green", label="sampled child")
    if budget is not None:
        ax2.axhline(budget, color="black", ls="--", lw=1, label=f"budget ({budget:,.4g})")
    ax2.set_ylabel(f"cost ({unit})" if unit else "cost")
    ax2.set_xlabel("step")
    ax2.legend(loc="upper right", fontsize=8)
    for ax in (ax1, ax2):
        if warm:
            ax.axvspan(0, warm, color="grey", alpha=0.12, lw=0)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _draw(plot_dir: Path, metrics: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
          names: Sequence[str] | None, candidates: Sequence[Sequence[str]] | None
          ) -> list[tuple[str, str]]:
    figures = []
    budget = metrics["budget"]
    if history:
        plot_search_history(history, plot_dir / "search.png", budget=budget["max"],
                            unit=budget["unit"])
        figures.append(("Search history (warm-up shaded)", "plots/search.png"))
    policy = (metrics.get("search") or {}).get("policy") or []
    if len(policy) >= 2:
        if names is None or candidates is None:
            from budgetnas.spaces import get_space

            space = get_space(metrics["space"])
            names = list(space.spec.names)
            candidates = [[str(c) for c in dp.candidates] for dp in space.decision_points]
        plot_policy([(s, [np.asarray(p) for p in ps]) for s, ps in policy], names, candidates,
                    plot_dir / "policy.png")
        figures.append(("The controller's probabilities over steps (first 12 decisions)",
                        "plots/policy.png"))
    return figures


def _markdown(m: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
              figures: list[tuple[str, str]], note: str | None) -> str:
    f, b, d, s = m["final"], m["budget"], m["data"], m["search"]
    algo = {"tunas": "TuNAS (one-shot, absolute reward; Bender et al. 2020)",
            "tabnas": "TabNAS rejection sampling (one-shot, hard budget; Yang et al. 2022)",
            "random": "random child at the budget (TuNAS's baseline)"}.get(m["algorithm"],
                                                                        m["algorithm"])
    lines = [f"# Image search: {m['space']} under {_fmt(b['max'])} {b['unit']}", "",
             f"- data: {d['name']} ({d['n_train']:,} train / {d['n_val']:,} val / "
             f"{d['n_test']:,} test images of {'×'.join(map(str, d['image']))}, "
             f"{d['classes']} classes)",
             f"- space: {m['space']} at width multiplier {m['width_mult']}; algorithm: {algo}; "
             f"seed {m['seed']}"]
    if s.get("steps"):
        resumed = (f"; resumed from the checkpoint of step {s['resumed_from']:,}"
                   if s.get("resumed_from") else "")
        lines.append(f"- one-shot steps: {s['steps_done']:,} of {s['steps']:,}{resumed}")
    lines.append(f"- the space's cost range: {_fmt(b['smallest'])} to {_fmt(b['largest'])} "
                 f"{b['unit']}")
    share = f["cost"] / b["max"] if b["max"] else math.nan
    lines += ["", "## The pick", "", f"`{f['arch']}`", "",
              "| | value |", "|---|---|",
              f"| cost ({b['kind']}) | {_fmt(f['cost'])} {b['unit']} ({share:.1%} of the budget "
              f"{_fmt(b['max'])} {b['unit']}) |",
              f"| within the budget | {'yes' if f['within_budget'] else '**no**'} |",
              f"| parameters | {f['params']:,.0f} |", f"| MACs | {f['macs']:,.0f} |"]
    if f.get("predicted_ms") is not None:
        lines.append(f"| latency, linear model | {f['predicted_ms']:.3f} ms |")
    lines += [f"| latency, measured (batch 1, 1 thread, this machine) | {f['measured_ms']:.3f} ms |",
              f"| validation accuracy | {f['val_accuracy']:.4f} |",
              f"| test accuracy | {f['test_accuracy']:.4f} |", "",
              f"Accuracy after training the pick from scratch for {f['train_epochs']} epoch(s) "
              "(SGD, cosine learning rate)."]
    ref = m.get("reference")
    if ref:
        lines += ["", "## Reference", "",
                  "| model | parameters | validation accuracy | test accuracy |",
                  "|---|---|---|---|",
                  f"| the pick (searched, trained from scratch) | {f['params']:,.0f} | "
                  f"{f['val_accuracy']:.4f} | {f['test_accuracy']:.4f} |",
                  f"| {ref['name']} | {ref['params']:,} | {ref['val_accuracy']:.4f} | "
                  f"{ref['test_accuracy']:.4f} |", "",
                  "The reference is a multinomial logistic regression (scikit-learn, L2, C = 1, "
                  "50 lbfgs iterations) on the same normalised pixels and splits: a searched "
                  "conv net that does not "
                  "beat it needs more --train-epochs, --steps or budget (or larger images)."]
    if not f["within_budget"]:
        over = f["cost"] / b["max"] - 1 if b["max"] else math.nan
        lines += ["", f"**The pick is over the budget**: {_fmt(f['cost'])} {b['unit']} is "
                  f"{over:.0%} above {_fmt(b['max'])} {b['unit']}. TuNAS's absolute reward "
                  "treats the budget as a target, not a limit, and its pick is the per-decision "
                  "argmax of the controller. Run more `--steps`, or use `--algorithm tabnas` "
                  "(the default), which only samples and picks children within the budget."]
    lat = m.get("latency_model")
    if lat:
        h = lat.get("held_out") or {}
        source = lat.get("source")
        lines += ["", "## Latency model", "",
                  f"TuNAS's linear model (Bender et al. 2020, §3.3), fitted to "
                  f"{lat['children_measured']} children measured on this machine "
                  f"(batch {lat['settings']['batch_size']}, {lat['settings']['threads']} thread)"
                  + (f", reused from {source}" if source else " at the start of this run") + ".",
                  f"Held-out children: MAPE {h.get('mape', math.nan):.1%}, Kendall τ "
                  f"{h.get('kendall_tau', math.nan):.3f}.",
                  "Each run measures its own fit (a resume reuses its run's), so the latency of a "
                  "child, and the smallest achievable one, differ a little between runs and "
                  "machines; `--latency-fit RUN_DIR` reuses an earlier run's fit."]
    if figures or note:
        lines += ["", "## Search history", ""]
        for title, path in figures:
            lines += [f"### {title}", "", f"![{title}]({path})", ""]
        if note:
            lines.append(f"_{note}_")
    if m.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {n}" for n in m["warnings"]]
    if m.get("notices"):
        lines += ["", "## Notices", ""] + [f"- {n}" for n in m["notices"]]
    t = dict(m.get("timings") or {})
    earlier = t.pop("earlier_parts", None)
    lines += ["", "## Time", "", ", ".join(f"{k.replace('_', ' ')} {v:.1f} s"
                                           for k, v in t.items()) or "-"]
    if earlier:
        lines.append(f"\nThe total includes {earlier:.1f} s of the earlier, interrupted part(s) "
                     "of this resumed run; the other figures are this last part's.")
    lines.append("")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"


def _num(x: Any) -> float | None:
    if x in (None, "", "None"):
        return None
    return float(x)
