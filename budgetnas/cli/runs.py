"""``budgetnas runs list``, ``show``, ``resume`` and ``report``: runs kept in run directories.

A run directory (:class:`budgetnas.store.RunDir`) names in its ``run.json`` how to resume it
(``"entry": "module:function"``) and how to report on it (``"report"``), so any command that
writes run directories (``budgetnas search``) gets these commands for free.
"""

from __future__ import annotations

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
    """A one-shot run: steps done (last checkpoint) and, once finished, the pick."""
    budget, best = s["budget"], s["best"]
    target = f" of {budget['target']}" if budget["target"] else ""
    _console.print(f"[bold]{s['path']}[/bold]  ({s['command'] or 'run'}, one-shot "
                   f"{s['args'].get('algorithm')})")
    _console.print(f"state: {s['state']}   steps: {budget['finished']}{target}"
                   + ("" if best else " (last checkpoint)"))
    if best is None:
        _console.print("no pick yet: `budgetnas resume` continues from the last checkpoint")
        return
    _console.print(f"pick: {best['params']}  validation {_fmt(best['value'])}")
    _console.print(f"time: {_fmt(budget['elapsed_s'])} s")


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
    """Regenerate a run's report and plots (under RUN_DIR/report) from its store."""
    run = _open(run_dir)
    spec = run.settings().get("report") or DEFAULT_REPORT
    try:
        fn = load_entry(spec)
    except ImportError as exc:
        raise _fail(f"the report generator {spec!r} is not available in this install ({exc}); "
                    "`budgetnas show RUN_DIR` prints the results without it") from None
    out = fn(run.path)
    _console.print(f"report written to {out or run.report_dir}")


# The same commands under ``budgetnas runs`` (``budgetnas runs resume RUN_DIR`` is what the
# multi-domain search and its messages name).
runs_app.command("show", help=show.__doc__)(show)
runs_app.command("resume", help=resume.__doc__)(resume)
runs_app.command("report", help=report.__doc__)(report)
