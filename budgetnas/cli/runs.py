"""``budgetnas runs list``, ``show``, ``resume`` and ``report``: runs kept in run directories.

A run directory (:class:`budgetnas.store.RunDir`) names in its ``run.json`` how to resume it
(``"entry": "module:function"``) and how to report on it (``"report"``), so any command that
writes run directories (``budgetnas search``) gets these commands for free.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from budgetnas.cli import app
from budgetnas.cli._help import HelpGroup
from budgetnas.errors import BudgetNASError
from budgetnas.store.rundir import RunDir, find_runs, load_entry

runs_app = typer.Typer(cls=HelpGroup, no_args_is_help=True,
                       help="Runs kept in run directories: list, show, resume, report.")
app.add_typer(runs_app, name="runs")

DEFAULT_REPORT = "budgetnas.cli.search:report_run"  # a table of the trials in the store
"""The report function used when ``run.json`` names none: ``write_report(run_dir: Path)``."""

_console = Console()


def _fail(message: str, code: int = 1) -> typer.Exit:
    from budgetnas.cli._messages import cli_message

    typer.secho(f"error: {cli_message(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _open(run_dir: Path) -> RunDir:
    partial = run_dir.with_name(run_dir.name + ".partial")
    if not run_dir.exists() and not partial.is_dir():
        raise _fail(f"run directory {str(run_dir)!r} does not exist; give the --out directory "
                    "of a search (`budgetnas runs list` finds them)", 2)
    if run_dir.exists() and not run_dir.is_dir():
        raise _fail(f"{str(run_dir)!r} is a file, not a run directory; give the --out directory "
                    "of a search", 2)
    try:
        return RunDir.open(run_dir)
    except BudgetNASError as exc:
        raise _fail(str(exc), 2) from None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@runs_app.command("list")
def list_runs(directory: Path = typer.Argument(Path("."), help="Where to look for runs."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the runs under DIRECTORY: name, command, state, trials, best value."""
    if not directory.is_dir():
        raise _fail(f"directory {str(directory)!r} "
                    + ("is a file; give the directory that holds the runs" if directory.exists()
                       else "does not exist; give the directory that holds the runs (default: .)"),
                    2)
    rows = []
    for run in find_runs(directory):
        try:
            s = run.summary(top_k=0)
            rows.append({"path": str(run.path), "command": s["command"], "state": s["state"],
                         "finished": s["budget"]["finished"], "target": s["budget"]["target"],
                         "best": s["best"]["value"] if s["best"] else None})
        except BudgetNASError as exc:  # a run stopped before its first trial, a bad store
            rows.append({"path": str(run.path), "command": None, "state": run.state(),
                         "finished": 0, "target": None, "best": None, "note": str(exc)})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        _console.print(f"no runs under {directory}")
        return
    table = Table("run", "command", "state", "trials", "best")
    for r in rows:
        trials = f"{r['finished']}/{r['target']}" if r["target"] else str(r["finished"])
        table.add_row(r["path"], _fmt(r["command"]), r["state"], trials, _fmt(r["best"]))
    _console.print(table)


@app.command("show")
def show(run_dir: Path = typer.Argument(..., help="A run directory."),
         top_k: int = typer.Option(5, "--top-k", min=1, help="How many of the best to list."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a run: state, best child, top-k, budget use."""
    run = _open(run_dir)
    try:
        s = run.summary(top_k=top_k)
    except BudgetNASError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(s, indent=2, default=str))
        return
    if s.get("kind") == "oneshot":
        _show_oneshot(s)
        return
    c = s["trials"]
    budget = s["budget"]
    target = f" of {budget['target']}" if budget["target"] else ""
    _console.print(f"[bold]{s['path']}[/bold]  ({s['command'] or 'run'}, study {s['study_name']!r})")
    _console.print(f"state: {s['state']}   trials: {budget['finished']}{target} finished "
                   f"({c['complete']} complete, {c['failed']} failed, {c['pruned']} pruned, "
                   f"{c['skipped']} skipped, {c['running']} running)")
    _console.print(f"time: {budget['elapsed_s']:.1f} s wall, {budget['trial_s']:.1f} s in trials; "
                   f"direction: {s['direction']}")
    if s["best"] is None:
        _console.print("no complete trial yet")
        return
    best = s["best"]
    _console.print(f"best: trial {best['number']}  value {_fmt(best['value'])}")
    _console.print(f"  child: {json.dumps(best['params'], default=str)}")
    table = Table("rank", "trial", "value", "child")
    for i, t in enumerate(s["top_k"], 1):
        table.add_row(str(i), str(t["number"]), _fmt(t["value"]),
                      json.dumps(t["params"], default=str))
    _console.print(table)


def _show_oneshot(s: dict[str, Any]) -> None:
    """A one-shot run: steps done (last checkpoint) and, once finished, the pick, its cost
    against the budget and the time of every part together."""
    budget, best = s["budget"], s["best"]
    target = f" of {budget['target']}" if budget["target"] else ""
    _console.print(f"[bold]{s['path']}[/bold]  ({s['command'] or 'run'}, one-shot "
                   f"{s['args'].get('algorithm')})", soft_wrap=True)
    _console.print(f"state: {s['state']}   steps: {budget['finished']}{target}"
                   + ("" if best else " (last checkpoint)"))
    if best is None:
        _console.print("no pick yet: `budgetnas resume` continues from the last checkpoint")
        return
    _console.print(f"pick: {best['params']}  validation {_fmt(best['value'])}", soft_wrap=True)
    cost = s.get("cost")
    if cost is not None:
        share = cost["value"] / cost["max"] if cost["max"] else float("nan")
        verdict = "within the budget" if cost["within"] else "[bold red]over budget[/bold red]"
        _console.print(f"cost: {_num(cost['value'])} {cost['unit']} of the budget "
                       f"{_num(cost['max'])} {cost['unit']} ({share:.1%}, {verdict})")
    total, part = float(budget.get("elapsed_s") or 0.0), budget.get("part_s")
    resumed = part is not None and abs(float(part) - total) > 0.5
    _console.print(f"time: {total:.1f} s" + (f" in total ({float(part):.1f} s in the resumed "
                                             "part)" if resumed else ""))


def _num(v: float) -> str:
    """A cost for people: thousands separated, at most 4 significant digits below 100."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"


@app.command("resume")
def resume(run_dir: Path = typer.Argument(..., help="A run directory."),
           force: bool = typer.Option(False, "--force",
                                      help="Resume even if the settings changed.")) -> None:
    """Continue an interrupted run where it stopped.

    Completed trials are kept, the interrupted trial is re-run once, and the algorithm's state
    (one-shot: the last checkpoint) is restored.
    """
    run = _open(run_dir)
    entry = run.settings().get("entry")
    if not entry:
        raise _fail(f"{run.settings_path} names no 'entry' (module:function) to resume the run "
                    "with; run the original command again with the same --out instead", 2)
    try:
        fn = load_entry(entry)
    except ImportError as exc:
        raise _fail(f"cannot resume {run.path}: {exc}") from None
    if run.state() == "running":
        raise _fail(f"{run.path} is still running (see {run.status_path}); stop it first", 2)
    fn(run.path, force=force)


@app.command("report")
def report(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Regenerate a run's report and plots from what it stored.

    A finished one-shot run (``budgetnas search``, ``budgetnas search-image``) gets its
    ``report.md`` and ``plots/`` written again; an unfinished one a progress note under
    RUN_DIR/report; a trial-based run a table of its trials under RUN_DIR/report.
    """
    run = _open(run_dir)
    settings = run.settings()
    spec = settings.get("report") or DEFAULT_REPORT
    if (settings.get("kind") == "oneshot" and settings.get("command") == "search"
            and (run.path / "metrics.json").is_file()):
        spec = "budgetnas.cli.runs:regenerate_tabular_report"
    try:
        fn = load_entry(spec)
    except ImportError as exc:
        raise _fail(f"the report generator {spec!r} is not available in this install ({exc}); "
                    "`budgetnas show RUN_DIR` prints the results without it") from None
    try:
        out = fn(run.path)
    except BudgetNASError as exc:
        raise _fail(str(exc)) from None
    with contextlib.suppress(OSError):  # rmdir removes it only when empty
        run.report_dir.rmdir()
    _console.print(f"report written to {out or run.report_dir}", soft_wrap=True)


def regenerate_tabular_report(run_dir: Path) -> Path:
    """``report.md`` and ``plots/`` of a finished one-shot ``budgetnas search`` run, written
    again from its files (``metrics.json``, ``architecture.json``, ``history.csv``,
    ``children.csv`` and the policy snapshots in ``checkpoints/oneshot.pt``) by the same writer
    the search used (:func:`budgetnas.report.tabular.write_tabular_report`).

    Raises
    ------
    StoreError
        If a file the report needs is missing or unreadable.
    """
    from budgetnas.report.tabular import write_tabular_report

    return write_tabular_report(_saved_tabular_result(Path(run_dir)), run_dir)


def _saved_tabular_result(d: Path) -> Any:
    """The attributes of a ``TableSearchResult`` that the report reads, from a run directory."""
    import csv
    from types import SimpleNamespace

    import numpy as np

    from budgetnas.errors import StoreError
    from budgetnas.spaces.mlp import MLPSpace
    from budgetnas.tabular.search import PRIMARY_METRIC, ChildResult

    try:
        m = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
        arch = json.loads((d / "architecture.json").read_text(encoding="utf-8"))
        with open(d / "history.csv", newline="", encoding="utf-8") as f:
            history = list(csv.DictReader(f))
        with open(d / "children.csv", newline="", encoding="utf-8") as f:
            children = list(csv.DictReader(f))
        space = MLPSpace(int(arch["n_in"]), int(arch["n_out"]), m["space"]["widths"],
                         m["space"]["depths"])
        final, rb, hgb = m["final"], m.get("random_best"), m.get("hist_gradient_boosting")
        n = m["data"]
        n_classes = 0 if m["task"] == "regression" else len(arch.get("classes") or [])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot regenerate the report of {str(d)!r}: {type(exc).__name__}: "
                         f"{exc}; the search's own report.md is unchanged") from exc

    def number(x: str | None) -> float | None:
        return None if x in (None, "") else float(x)

    records = [SimpleNamespace(step=int(r["step"]), phase=r["phase"], reward=number(r["reward"]))
               for r in history]
    policy = _policy_snapshots(d / "checkpoints" / "oneshot.pt")
    widths = lambda text: tuple(int(w) for w in text.split("-") if w)  # noqa: E731
    evaluated = [ChildResult(widths(c["widths"]), int(float(c["params"])),
                             float(c["val_metric"]), float(c["seconds"] or 0.0), c["source"],
                             {} if number(c.get("test_metric")) is None else
                             {PRIMARY_METRIC[m["task"]]: float(c["test_metric"])})
                 for c in children]
    data = SimpleNamespace(target=n["target"], n_classes=n_classes, n_features=n["n_features"],
                           y_train=np.empty(n["n_train"]), y_val=np.empty(n["n_val"]),
                           y_test=np.empty(n["n_test"]))
    random_best = None if rb is None else ChildResult(
        tuple(rb["widths"]), int(rb["params"]), float(rb["val_metric"]), 0.0, "random",
        dict(rb.get("test") or {}))
    settings = m.get("settings") or {}
    return SimpleNamespace(
        data=data, space=space, task=m["task"], primary_metric=m["primary_metric"],
        dataset_name=n.get("dataset"), max_params=float(m["max_params"]),
        algorithm=m["algorithm"], seed=settings.get("seed"), widths=tuple(final["widths"]),
        params=int(final["params"]), test_metrics=dict(final["test"]),
        random_best=random_best,
        random_children=[None] * int((rb or {}).get("n_children") or 0),
        hgb=None if hgb is None else SimpleNamespace(test_metrics=dict(hgb["test"])),
        oneshot=SimpleNamespace(history=records, policy=policy,
                                steps_done=int(m["search"].get("steps") or len(records))),
        trials=[], timings=dict(m.get("timings") or {}), notices=list(m.get("notices") or []),
        evaluated_children=lambda: evaluated)


def _policy_snapshots(path: Path) -> list[tuple[int, list[Any]]]:
    """The controller's probability snapshots kept in a one-shot checkpoint ([] without one)."""
    if not path.is_file():
        return []
    import numpy as np
    import torch

    state = torch.load(path, weights_only=False)  # the user's own run directory
    return [(int(s), [np.asarray(p) for p in ps]) for s, ps in state.get("policy") or []]


# The same commands under ``budgetnas runs`` (``budgetnas runs resume RUN_DIR`` is what the
# multi-domain search and its messages name).
runs_app.command("show", help=show.__doc__)(show)
runs_app.command("resume", help=resume.__doc__)(resume)
runs_app.command("report", help=report.__doc__)(report)
