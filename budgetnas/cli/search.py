"""``budgetnas search`` (tabular NAS end to end) and ``budgetnas predict`` (use a finished run).

``budgetnas search DATA --target COLUMN --max-params N`` searches the MLP space of a table under
a parameter budget (TabNAS by default), retrains the chosen network, compares it with random
feasible networks and HistGradientBoosting, and writes a run directory. ``--dataset adult`` uses
the UCI Adult data set shipped inside the package. Bad input exits with code 2, a message on
stderr, and no run directory.

While it runs, a search lives in ``OUT.partial/`` (a run directory: ``run.json``,
``status.json``, and ``study.db`` for trial-based searches or ``checkpoints/oneshot.pt`` for
one-shot ones). After a crash or ``kill -9``, the same command again (or ``--resume``, or
``budgetnas resume OUT``) resumes. Trial-based searches (``--algorithm random | evolution |
predictor``) keep their finished trials, re-run the interrupted one once, and end with
``--n-trials`` finished trials; one-shot searches (``tabnas | abs``) continue from the last
checkpoint (supernet, optimiser, controller, RNGs and step, saved every ``--checkpoint-every``
steps) and end with the pick an uninterrupted run makes. When the run is done the store moves
into ``OUT/`` with the model and report, and ``OUT.partial/`` is removed. The same command on a
finished ``OUT`` exits with code 2 and says so (pass ``--overwrite`` to search again).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from budgetnas.cli import app

__all__ = ["predict_cmd", "report_run", "resume_run", "search_cmd"]

_ALGORITHMS = ("tabnas", "abs", "random", "evolution", "predictor")
PARTIAL_SUFFIX = ".partial"
_PHASES = {"data": "Loading data", "reference": "HistGradientBoosting",
           "search": "Searching", "final": "Retraining the pick", "random": "Random children",
           "latency": "Measuring latency"}


def _fail(message: str) -> None:
    """Print ``error: message`` to stderr (in command-line terms) and exit with code 2."""
    from budgetnas.cli._messages import cli_message

    typer.secho(f"error: {cli_message(message)}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a job scheduler) raised as an interrupt, so that a run
    stops as on Ctrl-C: state ``interrupted``, temporary files removed, resumable."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _interrupted(store: Path, out: Path, exc: BaseException | None = None) -> None:
    """Ctrl-C or SIGTERM: say what was kept and how to continue; exit with 128 + the signal."""
    code = 143 if isinstance(exc, Terminated) else 130
    if (store / "run.json").is_file():
        typer.secho(f"interrupted: the search so far is kept in {store}; run the same command "
                    f"again (or `budgetnas resume {out}`) to continue it", err=True,
                    fg=typer.colors.YELLOW)
    else:
        typer.secho("interrupted before the search started; nothing was written", err=True,
                    fg=typer.colors.YELLOW)
    raise typer.Exit(code)


class _LogNotices:
    """Collect the library's logged notices (dropped columns, rows) instead of printing them
    raw: a finished search lists them once in its summary, a failed one before its error."""

    def __enter__(self) -> _LogNotices:
        import logging

        self.messages: list[str] = []
        outer = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.messages.append(record.getMessage())

        self._logger = logging.getLogger("budgetnas")
        self._handler = _Handler(logging.WARNING)
        self._propagate = self._logger.propagate
        self._logger.addHandler(self._handler)
        self._logger.propagate = False
        return self

    def print(self) -> None:
        from budgetnas.cli._messages import cli_message

        for message in self.messages:
            typer.secho(f"notice: {cli_message(message)}", err=True, fg=typer.colors.YELLOW)

    def __exit__(self, *exc: Any) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.propagate = self._propagate


@app.command("search")
def search_cmd(
    data: Path | None = typer.Argument(
        None, help="CSV (optionally .gz) or Parquet file with a header row.", show_default=False),
    target: str | None = typer.Option(None, "--target", "-t", metavar="COLUMN",
                                      help="The column to predict."),
    max_params: float | None = typer.Option(
        None, "--max-params", metavar="N",
        help="Budget: parameters (weights + biases) of the MLP (required)."),
    dataset: str | None = typer.Option(
        None, "--dataset", metavar="NAME",
        help="A data set shipped with budgetnas instead of DATA: adult."),
    test: Path | None = typer.Option(None, "--test", metavar="FILE",
                                     help="A separate test file."),
    task: str | None = typer.Option(
        None, "--task", metavar="TASK",
        help="binary, multiclass or regression (default: detected from the target)."),
    algorithm: str = typer.Option(
        "tabnas", "--algorithm", "-a", metavar="NAME",
        help="tabnas (one-shot, rejection sampling), abs (one-shot, TuNAS absolute reward), "
             "random, evolution, predictor (trial-based: children trained standalone)."),
    time_budget: float | None = typer.Option(
        None, "--time-budget", metavar="MINUTES",
        help="Minutes for the search phase (the random comparison gets as much; retraining "
             "comes on top)."),
    seed: int = typer.Option(0, "--seed", metavar="N",
                             help="Seed of the split, the search and training."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE",
                               help="auto, cpu or cuda: where to train."),
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="DIR",
        help="Run directory to create (default: runs/<data>-<budget>-<time>)."),
    steps: int | None = typer.Option(None, "--steps", metavar="N",
                                     help="One-shot steps (default: ~8 epochs)."),
    n_trials: int | None = typer.Option(
        None, "--n-trials", metavar="N",
        help="Children trained by a trial-based search (default 12)."),
    n_random: int | None = typer.Option(
        None, "--n-random", metavar="N",
        help="Random children for the comparison (default: equal compute; 0: none)."),
    max_epochs: int = typer.Option(50, "--max-epochs", metavar="N",
                                   help="Epoch limit of standalone training."),
    drop: list[str] = typer.Option([], "--drop", metavar="COLUMN",
                                   help="A column that is not a feature (repeat the flag)."),
    no_reference: bool = typer.Option(False, "--no-reference",
                                      help="Skip the HistGradientBoosting reference."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing --out (and start an interrupted "
                                        "trial-based search again from scratch)."),
    force: bool = typer.Option(False, "--force",
                               help="Resume an interrupted search even if its settings changed."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the interrupted search in OUT.partial (fail if "
                                     "there is none); the same command without it also does."),
    checkpoint_every: int | None = typer.Option(
        None, "--checkpoint-every", metavar="N",
        help="One-shot searches: save the state every N steps (default: 1/40 of the steps, at "
             "least 25)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Search the MLP that fits a parameter budget and is most accurate on a table (TabNAS)."""
    _run_search(data=data, target=target, max_params=max_params, dataset=dataset, test=test,
                task=task, algorithm=algorithm, time_budget=time_budget, seed=seed,
                device=device, out=out, steps=steps, n_trials=n_trials, n_random=n_random,
                max_epochs=max_epochs, drop=drop, no_reference=no_reference,
                overwrite=overwrite, force=force, quiet=quiet, resume=resume,
                checkpoint_every=checkpoint_every)


def _check_out_dir(out: Path) -> None:
    """Fail before any work when ``--out`` is a file or cannot be created."""
    if out.exists() and not out.is_dir():
        _fail(f"--out {str(out)!r} is a file, not a directory; give the directory to create "
              "for the run")
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """Fail before any work when ``out`` cannot be created (a search must not be lost at save)."""
    parent = out.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:  # os.access trusts permission bits; only a real directory creation tells
        os.rmdir(tempfile.mkdtemp(prefix=".budgetnas-check-", dir=parent))
    except OSError as exc:
        _fail(f"cannot write --out {str(out)!r}: cannot create a directory in {str(parent)!r} "
              f"({exc.strerror or exc}); choose another --out")


def _run_search(*, data: Path | None, target: str | None, max_params: float | None,
                dataset: str | None, test: Path | None, task: str | None, algorithm: str,
                time_budget: float | None, seed: int, device: str, out: Path | None,
                steps: int | None, n_trials: int | None, n_random: int | None, max_epochs: int,
                drop: list[str], no_reference: bool, overwrite: bool, force: bool,
                quiet: bool, resume: bool = False, checkpoint_every: int | None = None) -> None:
    """The body of ``budgetnas search`` (also what ``budgetnas resume`` calls)."""
    if max_params is None:
        _fail("--max-params N is required: the most parameters (weights + biases) the network "
              "may have, e.g. --max-params 5000")
    if not (math.isfinite(max_params) and max_params > 0):
        _fail(f"--max-params must be a positive number of parameters, got {max_params:g}")
    if (data is None) == (dataset is None):
        _fail("give a data file (budgetnas search DATA --target COLUMN ...) or --dataset adult, "
              "not both and not neither")
    if data is not None and target is None:
        _fail("--target COLUMN is required with a data file: the name of the column to predict")
    if algorithm not in _ALGORITHMS:
        _fail(f"unknown --algorithm {algorithm!r}; choose one of {', '.join(_ALGORITHMS)}")
    if device not in ("auto", "cpu", "cuda"):
        _fail(f"--device must be auto, cpu or cuda, got {device!r}")
    if task is not None and task not in ("binary", "multiclass", "regression"):
        _fail(f"--task must be binary, multiclass or regression, got {task!r}")
    for name, value in (("--steps", steps), ("--n-trials", n_trials), ("--max-epochs", max_epochs)):
        if value is not None and value < 1:
            _fail(f"{name} must be at least 1, got {value}")
    if time_budget is not None and not time_budget > 0:
        _fail(f"--time-budget must be a positive number of minutes, got {time_budget}")
    if checkpoint_every is not None and checkpoint_every < 1:
        _fail(f"--checkpoint-every must be at least 1, got {checkpoint_every}")
    if n_random is not None and n_random < 0:
        _fail(f"--n-random must be 0 or more, got {n_random}")
    for flag, path in (("data file", data), ("--test file", test)):
        if path is not None and not path.is_file():
            _fail(f"{flag} {str(path)!r} " + ("is a directory; give a CSV or Parquet file"
                                             if path.is_dir() else "does not exist"))
    out = out or _default_out(data, dataset, max_params)
    _check_out_dir(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        if (out / "run.json").is_file() and (out / "metrics.json").is_file():
            _fail(f"{str(out)!r} already exists and is not empty: it holds a finished search "
                  "(see `budgetnas show` and its report.md); choose another --out or pass "
                  "--overwrite to search again")
        _fail(f"{str(out)!r} already exists and is not empty; choose another --out or pass "
              "--overwrite")
    store = out.with_name(out.name + PARTIAL_SUFFIX)
    interrupted = (store / "run.json").is_file() and not overwrite
    if resume and not interrupted:
        _fail(f"--resume: there is no interrupted search in {str(store)!r} to continue; run "
              "without --resume to start one")
    # every algorithm resumes: trials from the store, one-shot searches from their checkpoint
    store_args = {"data": None if data is None else str(data.resolve()), "target": target,
                  "max_params": max_params, "dataset": dataset,
                  "test": None if test is None else str(test.resolve()), "task": task,
                  "algorithm": algorithm, "time_budget": time_budget, "seed": seed,
                  "device": device, "out": str(out.resolve()), "steps": steps,
                  "n_trials": n_trials or 12, "n_random": n_random,
                  "max_epochs": max_epochs, "drop": list(drop),
                  "no_reference": no_reference, "checkpoint_every": checkpoint_every}
    if interrupted and not quiet:
        typer.echo(f"resuming the interrupted search in {store}", err=True)

    # Heavy imports after the cheap checks, so usage errors answer at once.
    from budgetnas.errors import BudgetNASError, DataError
    from budgetnas.tabular.search import Recipe, UnconstrainedBudgetWarning, search_table

    console = _console()
    with (sigterm_as_interrupt(), warnings.catch_warnings(record=True) as caught,
          _LogNotices() as logged, _Progress(console, quiet) as progress):
        warnings.simplefilter("always", UnconstrainedBudgetWarning)
        try:
            result = search_table(
                data, target, max_params=max_params, dataset=dataset, test=test, task=task,
                algorithm=algorithm, steps=steps, n_trials=n_trials,
                time_budget_s=None if time_budget is None else 60.0 * time_budget, seed=seed,
                device=device, recipe=Recipe(max_epochs=max_epochs), n_random=n_random,
                reference=not no_reference, drop_columns=drop, strict_columns=True,
                progress=progress.update, store_dir=store, store_args=store_args,
                store_force=force, store_fresh=overwrite,
                checkpoint_every=checkpoint_every)
        except (BudgetNASError, FileNotFoundError) as exc:
            progress.stop()
            logged.print()  # e.g. the columns dropped on the way to "no usable feature"
            _fail(str(exc) if isinstance(exc, (DataError, BudgetNASError)) else repr(exc))
        except KeyboardInterrupt as exc:
            progress.stop()
            _interrupted(store, out, exc)
    # a warning that is also a notice (the budget is no constraint) is said once, as a warning
    from budgetnas.cli._messages import cli_message

    warned = list(dict.fromkeys(str(w.message) for w in caught
                                if issubclass(w.category, UnconstrainedBudgetWarning)))
    for message in warned:
        typer.secho(f"warning: {cli_message(message)}", err=True, fg=typer.colors.YELLOW)
    try:
        with sigterm_as_interrupt():
            result.save(out, overwrite=overwrite)
    except OSError as exc:  # FileExistsError, or the disk went away since the check
        _fail(f"could not write the run directory {str(out)!r}: {exc}")
    except KeyboardInterrupt as exc:
        _interrupted(store, out, exc)
    _summary(console, result, out, said=set(warned))


@app.command("predict")
def predict_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory written by `budgetnas search`."),
    data: Path | None = typer.Argument(
        None, show_default=False,
        help="CSV or Parquet file with the feature columns and a header row, or a file in the "
             "raw UCI Adult format (adult.data / adult.test, .gz too)."),
    dataset: str | None = typer.Option(
        None, "--dataset", metavar="NAME",
        help="Predict the test split of a data set shipped with budgetnas instead of DATA: "
             "adult."),
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="FILE",
        help="CSV to write, or - for standard output (default: <DATA name>.predictions.csv in "
             "the current directory)."),
) -> None:
    """Predict with the model of a finished run; writes a CSV (prediction, class probabilities).

    When the data hold the run's target column, the accuracy (classification) or RMSE
    (regression) of the predictions is printed too.
    """
    if (data is None) == (dataset is None):
        _fail("give the rows to predict: a data file (budgetnas predict RUN_DIR DATA) or "
              "--dataset adult, not both and not neither")
    if data is not None and not data.is_file():
        _fail(f"data file {str(data)!r} " + ("is a directory; give a CSV or Parquet file"
                                            if data.is_dir() else "does not exist"))
    stem = dataset + "-test" if dataset is not None else data.name.split(".")[0]
    out = out or Path(f"{stem}.predictions.csv")
    _check_out_file(out)

    from budgetnas.errors import DataError
    from budgetnas.store.atomic import atomic_write_text
    from budgetnas.tabular.search import load_run

    try:
        run = load_run(run_dir)
        frame = _predict_rows(data, dataset)
        predictions = run.predict_frame(frame)
    except DataError as exc:
        _fail(str(exc))
    text = predictions.to_csv(index=False)
    to_stdout = str(out) == "-"
    try:
        if to_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
        elif out.exists() and not out.is_file():
            # a device or pipe (/dev/stdout, a FIFO): write into it; replacing it would
            # put a regular file in its place
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            atomic_write_text(out, text)
    except OSError as exc:
        _fail(f"could not write --out {str(out)!r}: {exc.strerror or exc}")
    # with the CSV on standard output, the messages go to standard error
    typer.echo(f"wrote {len(predictions):,} predictions to "
               f"{'standard output' if to_stdout else out}", err=to_stdout)
    score, warning = _score(frame, predictions, run)
    if warning:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    if score:
        typer.echo(score, err=to_stdout)


def _check_out_file(out: Path) -> None:
    """Fail before any work when the predictions file cannot be written."""
    if str(out) == "-" or (out.exists() and not out.is_file() and not out.is_dir()):
        return  # standard output, or a device / pipe that is written into as it is
    if out.is_dir():
        _fail(f"--out {str(out)!r} is a directory; give the CSV file to write")
    parent = out.parent
    if not parent.is_dir():
        _fail(f"cannot write --out {str(out)!r}: the directory {str(parent)!r} does not exist")
    try:  # os.access trusts permission bits; only creating a file tells
        fd, tmp = tempfile.mkstemp(prefix=".budgetnas-check-", dir=parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        _fail(f"cannot write --out {str(out)!r}: cannot create a file in {str(parent)!r} "
              f"({exc.strerror or exc}); choose another --out")


def _predict_rows(data: Path | None, dataset: str | None) -> Any:
    """The raw rows to predict: a shipped test split, a raw UCI Adult file, or any table."""
    from budgetnas.tabular.data import read_table
    from budgetnas.tabular.datasets import is_raw_adult, load_dataset, read_adult

    if dataset is not None:
        return load_dataset(dataset)[1]
    assert data is not None
    # the format the shipped Adult files (and UCI's downloads) have: the search's own reader
    return read_adult(data) if is_raw_adult(data) else read_table(data)


def _score(frame: Any, predictions: Any, run: Any) -> tuple[str | None, str | None]:
    """``(score line, warning)`` for rows that hold the run's target column.

    The score is ``accuracy 0.85 on 16,281 labelled rows ...`` (RMSE and MAE for regression),
    None when the column is absent or empty. Labels are compared with the model's classes as
    text, after the run's own spelling rule (:meth:`SavedRun.normalise_labels`: Adult's
    trailing ``.``); labels that are none of the classes are left out of the accuracy and
    named in the warning, and when no label is a class no accuracy is given at all.
    """
    import numpy as np
    import pandas as pd

    from budgetnas.tabular.data import _label_array

    target = run.preprocessing.get("target")
    if target is None or target not in frame.columns:
        return None, None
    y = frame[target].reset_index(drop=True)
    known = y.notna().to_numpy()
    if not known.any():
        return None, None
    pred = predictions["prediction"].to_numpy()[known]
    y = y[known]
    n = int(known.sum())
    if run.task == "regression":
        try:
            err = y.to_numpy(dtype=np.float64) - pred.astype(np.float64)
        except (TypeError, ValueError):
            return None, (f"the target column {target!r} is not numeric; no RMSE was computed")
        rmse, mae = float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err)))
        return (f"RMSE {rmse:.6g}, MAE {mae:.6g} on {n:,} rows with a target "
                f"(column {target!r})"), None
    raw = pd.Series(_label_array(y)).astype(str).to_numpy()
    truth = pd.Series(_label_array(run.normalise_labels(y))).astype(str).to_numpy()
    classes = [str(c) for c in run.classes or []]
    seen = np.isin(truth, classes)
    unseen = sorted(set(raw[~seen]))
    shown = ", ".join(repr(v) for v in unseen[:8]) + (" ..." if len(unseen) > 8 else "")
    named = ", ".join(repr(c) for c in classes[:20]) + (" ..." if len(classes) > 20 else "")
    fixed = int((raw != truth).sum())
    note = (f" ({fixed:,} labels' trailing '.' stripped, as the shipped Adult reader does)"
            if fixed else "")
    if not seen.any():
        return None, (f"none of the {n:,} labelled rows has a target value the model knows, "
                      f"so no accuracy is given: column {target!r} holds {shown}; the model's "
                      f"classes are {named}. Make the labels match the training labels")
    m = int(seen.sum())
    accuracy = float(np.mean(truth[seen] == pd.Series(pred[seen]).astype(str).to_numpy()))
    if m == n:
        return f"accuracy {accuracy:.4f} on {n:,} labelled rows (column {target!r}){note}", None
    return (f"accuracy {accuracy:.4f} on the {m:,} of {n:,} labelled rows whose target is one "
            f"of the model's classes (column {target!r}){note}",
            f"{n - m:,} of {n:,} labelled rows have target values the model never saw ({shown}) "
            f"and are left out of the accuracy; the model's classes are {named}")


# ------------------------------------------------------------------------------------------------
# Entry points named in run.json (see budgetnas.store.rundir)


def resume_run(run_dir: Path, *, force: bool = False) -> None:
    """``budgetnas resume RUN_DIR`` for a tabular search: the original command again.

    Exits with code 2 when ``run.json`` lacks the command's arguments (a store written by
    :func:`~budgetnas.tabular.search.search_table` directly: call it again with the same
    ``store_dir``), and with code 0 and a message when the run is already finished.
    """
    from budgetnas.store.rundir import RunDir

    run = RunDir.open(run_dir)
    args = dict(run.settings().get("args") or {})
    needed = {"algorithm", "out", "seed", "max_params", "max_epochs"}
    if not needed <= set(args):
        _fail(f"{run.settings_path} does not hold the `budgetnas search` arguments "
              f"({sorted(needed - set(args))} missing); run the original command again")
    out = Path(args["out"])
    if (out / "metrics.json").is_file() and (out / "run.json").is_file():
        typer.echo(f"{out} is already complete: nothing to resume (see `budgetnas show {out}`)")
        return
    paths = {k: None if args.get(k) is None else Path(args[k]) for k in ("data", "test")}
    _run_search(data=paths["data"], target=args.get("target"), max_params=args["max_params"],
                dataset=args.get("dataset"), test=paths["test"], task=args.get("task"),
                algorithm=args["algorithm"], time_budget=args.get("time_budget"),
                seed=int(args["seed"]), device=args.get("device", "auto"), out=out,
                steps=args.get("steps"), n_trials=args.get("n_trials"),
                n_random=args.get("n_random"), max_epochs=int(args["max_epochs"]),
                drop=list(args.get("drop") or []), no_reference=bool(args.get("no_reference")),
                overwrite=False, force=force, quiet=False,
                checkpoint_every=args.get("checkpoint_every"))


def report_run(run_dir: Path) -> Path:
    """``budgetnas report RUN_DIR`` for a trial-based search: ``report/trials.md`` from the store.

    One row per trial (number, state, widths, parameters, validation metric, seconds) and the
    best; a finished run also has the full ``report.md`` written by ``budgetnas search``.

    Raises
    ------
    StoreError
        When the store has no trials yet.
    """
    from budgetnas.errors import StoreError
    from budgetnas.store.atomic import atomic_write_text
    from budgetnas.store.rundir import RunDir

    run = RunDir.open(run_dir)
    if run.settings().get("kind") == "oneshot":
        return _report_oneshot(run)
    summary = run.summary(top_k=1)
    storage = run.storage()
    try:
        trials = storage.load_trials(storage.get_study_id(run.study_name))
    finally:
        storage.dispose()
    if not trials:
        raise StoreError(f"{run.path}: no trial has started yet; nothing to report")
    args = summary["args"]
    lines = [f"# Trial-based search: {run.path.name}", "",
             f"- algorithm: {args.get('algorithm')}, budget: {args.get('max_params')} parameters, "
             f"seed: {args.get('seed')}",
             f"- state: {summary['state']}; {summary['budget']['finished']} of "
             f"{summary['budget']['target']} trials finished", ""]
    best = summary["best"]
    if best is not None:
        lines += [f"Best: trial {best['number']}, widths {best['params']}, validation metric "
                  f"{best['value']:.6g}", ""]
    lines += ["| trial | state | widths | params | val metric | seconds |", "|---|---|---|---|---|---|"]
    for t in trials:
        value = "—" if t.value is None else f"{t.value:.6g}"
        lines.append(f"| {t.number} | {t.state.value} | {t.params} | "
                     f"{t.metrics.get('params', '—')} | {value} | "
                     f"{t.metrics.get('seconds', 0.0):.1f} |")
    if (run.path / "report.md").is_file():
        lines += ["", "The full report of the finished run: [report.md](../report.md)."]
    out = run.report_dir / "trials.md"
    run.report_dir.mkdir(exist_ok=True)
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


def _report_oneshot(run: Any) -> Path:
    """``report/oneshot.md`` of a one-shot tabular run: its steps, state and pick."""
    from budgetnas.store.atomic import atomic_write_text

    s = run.summary()
    args, best, budget = s["args"], s["best"], s["budget"]
    lines = [f"# One-shot search: {run.path.name}", "",
             f"- algorithm: {args.get('algorithm')}, budget: {args.get('max_params')} parameters, "
             f"seed: {args.get('seed')}",
             f"- state: {s['state']}; step {budget['finished']} of {budget['target'] or '?'}"
             + ("" if best else " (the last checkpoint; `budgetnas resume` continues from it)")]
    if best is not None:
        lines += [f"- pick: {best['params']}, validation metric {best['value']:.6g}", "",
                  "The full report of the finished run: [report.md](../report.md)."]
    out = run.report_dir / "oneshot.md"
    run.report_dir.mkdir(exist_ok=True)
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


def _cli(text: str) -> str:
    from rich.markup import escape

    from budgetnas.cli._messages import cli_message

    return escape(cli_message(text))


def _default_out(data: Path | None, dataset: str | None, max_params: float) -> Path:
    stem = dataset or (data.name.split(".")[0] if data is not None else "run")
    return Path("runs") / f"{stem}-{int(max_params)}p-{time.strftime('%Y%m%d-%H%M%S')}"


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


class _Progress:
    """Rich progress bars, one per phase; a no-op with ``quiet`` or no terminal.

    A phase of known length shows ``done/total`` and its ETA; one of unknown length (the
    random children of an equal-compute comparison, which stop when the search's time is
    spent) shows a pulsing bar and the count so far, with no ETA.
    """

    def __init__(self, console: Any, quiet: bool) -> None:
        self.quiet = quiet
        self.console = console
        self._tasks: dict[str, Any] = {}
        self._bar = None

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description:<22}"), BarColumn(),
                                 _count_column(), TimeElapsedColumn(), _eta_column(),
                                 console=self.console, transient=False)
            self._bar.start()
        return self

    def update(self, phase: str, done: float, total: float | None) -> None:
        if self._bar is None:
            return
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(_PHASES.get(phase, phase), total=total)
        self._bar.update(self._tasks[phase], completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _count_column() -> Any:
    """``done/total``, or just ``done`` when the total is unknown (not ``done/?``)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class CountColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            done = int(task.completed)
            if task.total is None:
                return Text(f"{done:,}", style="progress.download")
            return Text(f"{done:,}/{int(task.total):,}", style="progress.download")

    return CountColumn()


def _eta_column() -> Any:
    """``ETA 0:01:02`` while the remaining time is known; nothing otherwise (no bare "ETA")."""
    from rich.progress import ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    remaining = TimeRemainingColumn()

    class EtaColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            if task.total is None or task.finished or task.time_remaining is None:
                return Text("")
            return Text("ETA ", style="progress.remaining") + remaining.render(task)

    return EtaColumn()


def _summary(console: Any, result: Any, out: Path, said: set[str] = frozenset()) -> None:
    from rich.console import Console
    from rich.table import Table

    metrics = (["accuracy", "balanced_accuracy", "roc_auc", "log_loss"]
               if result.task != "regression" else ["rmse", "mae", "r2"])
    short = {"accuracy": "acc", "balanced_accuracy": "bal acc", "roc_auc": "AUC",
             "log_loss": "log loss", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
    table = Table(title=f"Test metrics (budget {result.max_params:,.0f} parameters)")
    for col in ["model", "widths", "params", *metrics]:
        table.add_column(short.get(col, col), justify="left" if col in ("model", "widths") else "right")

    def row(name: str, arch: str, params: str, values: dict | None) -> None:
        cells = []
        for m in metrics:
            v = None if values is None else values.get(m)
            cells.append("—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}")
        table.add_row(name, arch, params, *cells)

    row("searched", "-".join(map(str, result.widths)), f"{result.params:,}",
        result.test_metrics)
    if result.random_best is not None:
        rb = result.random_best
        n = len(result.random_children) or len(result.trials)
        row(f"best of {n} random", "-".join(map(str, rb.widths)), f"{rb.params:,}", rb.test_metrics)
    if result.hgb is not None:
        row("HistGradBoosting", "—", "—", result.hgb.test_metrics)
    stdout = Console(file=sys.stdout)
    stdout.print(table)
    for note in (n for n in result.notices if n not in said):
        console.print(f"[yellow]notice:[/yellow] {_cli(note)}", soft_wrap=True, highlight=False,
                      markup=True)
    stdout.print(f"run directory: {out}  ({result.timings.get('total', 0):.0f} s; report: "
                 f"{out / 'report.md'})")
