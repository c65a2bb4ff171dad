"""The run directory: where one search keeps its settings, store, checkpoints and report.

::

    RUN_DIR/
      run.json        settings: {"command", "args", "study_name", "entry", "report", "storage"?,
                      "kind"?, "created", "budgetnas_version"} -- written once, atomically
      status.json     {"state": running|complete|failed|interrupted, "pid", "host", "updated"}
      study.db        the SQLite store (SQLStorage), unless run.json names a "storage" URL
      checkpoints/    supernet / controller weights (atomic writes, recorded in the store)
      report/         the report and plots, regenerated from the store

A one-shot search (``"kind": "oneshot"`` in ``run.json``) keeps no trial store: its state is
``checkpoints/oneshot.pt`` (supernet, optimiser, controller, RNGs, step) with
``checkpoints/oneshot.json`` naming the step, and its results are ``metrics.json``.

``entry`` and ``report`` are ``"module:function"`` strings: ``budgetnas resume RUN_DIR`` calls
``entry(run_dir, force=...)``, ``budgetnas report RUN_DIR`` calls ``report(run_dir)``; that is
how a command (e.g. ``budgetnas search``) plugs its runs into the generic commands.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from budgetnas.errors import SettingsMismatchError, StoreError
from budgetnas.store.atomic import atomic_write_json
from budgetnas.store.sql import SQLStorage
from budgetnas.study.trial import Trial, TrialState

__all__ = ["EXECUTION_ARGS", "RunDir", "find_runs", "install_run", "load_entry"]

RUN_FILE, STATUS_FILE, DB_FILE = "run.json", "status.json", "study.db"
CHECKPOINTS_DIR, REPORT_DIR = "checkpoints", "report"
EXECUTION_ARGS = frozenset({"n_trials", "max_trials", "timeout", "workers", "executor",
                            "ray_address", "force", "out", "quiet", "verbose", "resume",
                            "overwrite", "checkpoint_every"})
"""Arguments that may change on resume: how long and where to run, not what is searched
(results do not depend on the number of workers)."""

_VOLATILE = frozenset({"created", "budgetnas_version", "resumed", "entry", "report"})


@dataclass(frozen=True)
class RunDir:
    """A run directory (see the module docstring for its layout).

    >>> run = RunDir.create("runs/adult", {"command": "search", "args": {...},
    ...                                    "entry": "budgetnas.cli.search:resume_run"})
    >>> study = bn.Study(space, algo, storage=run.storage(), study_name=run.study_name)
    """

    path: Path

    # ------------------------------------------------------------------ layout
    @property
    def settings_path(self) -> Path:
        return self.path / RUN_FILE

    @property
    def status_path(self) -> Path:
        return self.path / STATUS_FILE

    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, path: str | os.PathLike, settings: Mapping[str, Any], *,
               force: bool = False) -> RunDir:
        """Start a run in ``path``, or reopen the one there if its settings agree.

        Arguments in :data:`EXECUTION_ARGS` (``n_trials``, ``workers``...) may differ.

        Raises
        ------
        SettingsMismatchError
            When ``path`` holds a run with other settings and ``force`` is False.
        """
        run = cls(Path(path))
        new = json.loads(json.dumps(dict(settings)))  # fails early if not JSON-able
        if run.settings_path.exists():
            old = run.settings()
            diff = _diff(_comparable(old), _comparable(new))
            if diff and not force:
                shown = "; ".join(f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in diff.items())
                raise SettingsMismatchError(
                    f"{run.path} holds a run with other settings ({shown}). Resume it with "
                    "the same settings, choose another --out directory, or pass --force to "
                    "continue it with the new ones.")
            merged = {**old, **new, "created": old.get("created", time.time())}
            if merged != old:
                merged["resumed"] = time.time()
                atomic_write_json(run.settings_path, merged)
        else:
            from budgetnas import __version__

            new.setdefault("study_name", "search")
            new.update(created=time.time(), budgetnas_version=__version__)
            atomic_write_json(run.settings_path, new)
        run.checkpoints_dir.mkdir(exist_ok=True)
        run.report_dir.mkdir(exist_ok=True)
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """An existing run directory; ``path.partial`` when ``path`` does not exist yet and a
        trial-based ``budgetnas search --out path`` is still running or was interrupted there.

        Raises
        ------
        StoreError
            When ``path`` has no ``run.json`` (not a run directory).
        """
        run = cls(Path(path))
        if not run.settings_path.is_file():
            partial = run.path.with_name(run.path.name + ".partial")
            if not run.path.exists() and (partial / RUN_FILE).is_file():
                return cls(partial)  # a trial-based search that has not finished yet
            if (run.path / "metrics.json").is_file():
                raise StoreError(
                    f"{run.path} is a one-shot `budgetnas search` run (tabnas / abs) written "
                    f"before one-shot runs kept a {RUN_FILE}: there is nothing to show, resume "
                    "or report; its results are in metrics.json and report.md")
            raise StoreError(f"{run.path} is not a run directory: it has no {RUN_FILE}. "
                             "Give the --out directory of a `budgetnas search` run.")
        return run

    def settings(self) -> dict[str, Any]:
        """The parsed ``run.json``."""
        try:
            return json.loads(self.settings_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read {self.settings_path}: {exc}") from exc

    @property
    def study_name(self) -> str:
        return str(self.settings().get("study_name", "search"))

    def storage(self) -> SQLStorage:
        """The run's store: ``run.json``'s ``"storage"`` URL, else ``study.db`` here."""
        return SQLStorage(self.settings().get("storage") or self.db_path)

    # ------------------------------------------------------------------ status
    def mark(self, state: str) -> None:
        """Record the run's state (``running``, ``complete``, ``failed``, ``interrupted``)."""
        atomic_write_json(self.status_path, {"state": state, "pid": os.getpid(),
                                             "host": socket.gethostname(), "updated": time.time()})

    @contextlib.contextmanager
    def running(self) -> Iterator[RunDir]:
        """Mark the run ``running`` for the block, then ``complete``, ``interrupted`` (Ctrl-C)
        or ``failed``. A ``kill -9`` leaves ``running`` with a dead pid: :meth:`state` reads it
        as ``interrupted``."""
        self.mark("running")
        try:
            yield self
        except KeyboardInterrupt:
            self.mark("interrupted")
            raise
        except BaseException:
            self.mark("failed")
            raise
        self.mark("complete")

    def state(self) -> str:
        """``running``, ``complete``, ``failed``, ``interrupted``, or ``new`` (never started)."""
        try:
            status = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return "new"
        state = status.get("state", "new")
        if state == "running" and status.get("host") == socket.gethostname():
            from budgetnas.study.study import _pid_alive

            if not _pid_alive(int(status.get("pid", -1))):
                return "interrupted"
        return state

    # ------------------------------------------------------------------ summary
    def summary(self, top_k: int = 5) -> dict[str, Any]:
        """What ``budgetnas show`` prints: state, trial counts, best child, top-k, budget use.

        For a one-shot run (``"kind": "oneshot"``) the counts are steps: ``budget.finished`` is
        the last checkpoint's step (all steps once ``metrics.json`` exists), ``best`` the
        final pick with its validation accuracy, ``cost`` the pick's cost against the budget
        (``value``, ``max``, ``unit``, ``within``), ``budget.elapsed_s`` the seconds of every
        part of a resumed run together and ``budget.part_s`` those of the last part.

        Raises
        ------
        StoreError
            When the store has no study of this run's name.
        """
        settings = self.settings()
        if settings.get("kind") == "oneshot":
            return self._oneshot_summary(settings)
        storage = self.storage()
        try:
            sid = storage.get_study_id(self.study_name)
            if sid is None:
                raise StoreError(f"{self.path}: the store has no study {self.study_name!r} yet "
                                 "(the run was stopped before its first trial)")
            trials = storage.load_trials(sid)
            direction = storage.get_settings(sid).get("direction", "maximize")
        finally:
            storage.dispose()
        counts = {s.value: 0 for s in TrialState}
        for t in trials:
            counts[t.state.value] += 1
        complete = [t for t in trials if t.state is TrialState.COMPLETE]
        complete.sort(key=lambda t: t.value, reverse=direction == "maximize")
        args = settings.get("args", {})
        target = args.get("n_trials") or args.get("max_trials")
        finished = sum(counts[s] for s in ("complete", "failed", "pruned"))
        starts = [t.datetime_start for t in trials if t.datetime_start]
        ends = [t.datetime_complete for t in trials if t.datetime_complete]
        return {
            "path": str(self.path), "command": settings.get("command"),
            "study_name": self.study_name, "state": self.state(), "direction": direction,
            "trials": counts, "n_trials": len(trials),
            "budget": {"finished": finished, "target": target,
                       "elapsed_s": (max(ends) - min(starts)) if starts and ends else 0.0,
                       "trial_s": sum(t.duration or 0.0 for t in trials)},
            "best": _trial_summary(complete[0]) if complete else None,
            "top_k": [_trial_summary(t) for t in complete[:top_k]],
            "args": args,
        }


    def _oneshot_summary(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        args = dict(settings.get("args") or {})
        try:
            progress = json.loads((self.checkpoints_dir / "oneshot.json").read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            progress = {}
        try:
            metrics = json.loads((self.path / "metrics.json").read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            metrics = None
        target = args.get("steps") or progress.get("steps")
        done = int(progress.get("step", 0))
        best = None
        if metrics is not None:
            final = metrics.get("final") or {}
            value = final.get("val_accuracy")
            if value is None and isinstance(final.get("val"), Mapping):  # the tabular command
                value = final["val"].get(metrics.get("primary_metric", "accuracy"))
            child = final.get("arch") or final.get("widths")
            best = {"number": None, "value": value, "dna": list(final.get("dna") or []),
                    "params": child, "seed": args.get("seed"),
                    "metrics": {k: v for k, v in final.items()
                                if isinstance(v, (int, float, str)) and not isinstance(v, bool)},
                    "duration_s": (metrics.get("timings") or {}).get("total")}
            done = int((metrics.get("search") or {}).get("steps_done") or done)
        timings = (metrics or {}).get("timings") or {}
        return {
            "path": str(self.path), "command": settings.get("command"), "kind": "oneshot",
            "study_name": self.study_name, "state": self.state(), "direction": "maximize",
            "trials": {s.value: 0 for s in TrialState}, "n_trials": 0,
            "budget": {"finished": done, "target": target, "unit": "steps",
                       "elapsed_s": float(timings.get("total", 0.0)),
                       "part_s": float(timings.get("total", 0.0))
                       - float(timings.get("earlier_parts", 0.0)),
                       "trial_s": 0.0},
            "best": best, "top_k": [] if best is None else [best], "args": args,
            "cost": None if metrics is None else _oneshot_cost(metrics),
        }


def _oneshot_cost(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pick's cost against the budget of a finished one-shot run: ``value``, ``max``,
    ``unit`` and ``within`` (None when ``metrics.json`` names no budget)."""
    final = metrics.get("final") or {}
    budget = metrics.get("budget")
    if isinstance(budget, Mapping) and final.get("cost") is not None:  # search-image
        value, limit, unit = final["cost"], budget.get("max"), budget.get("unit", "")
    elif metrics.get("max_params") is not None and final.get("params") is not None:  # tabular
        value, limit, unit = final["params"], metrics["max_params"], "parameters"
    else:
        return None
    value, limit = float(value), float(limit)
    return {"value": value, "max": limit, "unit": unit, "within": bool(value <= limit)}


def install_run(run: RunDir, tmp: str | os.PathLike, out: str | os.PathLike, *,
                overwrite: bool = False) -> Path:
    """Finish a run: copy ``run``'s ``run.json`` and ``checkpoints/`` into the finished
    directory ``tmp`` (built beside ``out``), mark it ``complete``, rename it to ``out`` and
    remove ``run`` (e.g. ``OUT.partial``).

    Raises
    ------
    FileExistsError
        If ``out`` is a file, or exists, is not empty and ``overwrite`` is False.
    """
    import shutil

    tmp, out = Path(tmp), Path(out)
    if out.exists() and not out.is_dir():
        # never replace a user's file (or a device) with a run directory, even with overwrite
        raise FileExistsError(f"{str(out)!r} is a file, not a directory; choose another output "
                              "directory")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{str(out)!r} already exists and is not empty; choose another "
                              "output directory or pass --overwrite")
    shutil.copy2(run.settings_path, tmp / RUN_FILE)
    if run.checkpoints_dir.is_dir():
        shutil.copytree(run.checkpoints_dir, tmp / CHECKPOINTS_DIR, dirs_exist_ok=True)
    (tmp / REPORT_DIR).mkdir(exist_ok=True)
    RunDir(tmp).mark("complete")
    replace_dir(tmp, out)
    if run.path.resolve() != out.resolve():
        shutil.rmtree(run.path, ignore_errors=True)
    return out


def replace_dir(tmp: str | os.PathLike, out: str | os.PathLike) -> None:
    """Move the finished directory ``tmp`` to ``out``; an old ``out`` is removed only after the
    new one is in place, so a crash leaves one of the two whole."""
    import shutil

    tmp, out = Path(tmp), Path(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def find_runs(root: str | os.PathLike, max_depth: int = 4) -> list[RunDir]:
    """Run directories under ``root`` (itself included), up to ``max_depth`` levels down."""
    root = Path(root)
    found: list[RunDir] = []

    def walk(d: Path, depth: int) -> None:
        if (d / RUN_FILE).is_file():
            found.append(RunDir(d))
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            walk(child, depth + 1)

    walk(root, 0)
    return found


def load_entry(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``.

    Raises
    ------
    ImportError
        When the module or the function does not exist (the message names it).
    """
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ImportError(f"an entry point is 'package.module:function', got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"cannot load {spec!r}: {exc}") from exc
    return fn


def _trial_summary(t: Trial) -> dict[str, Any]:
    return {"number": t.number, "value": t.value, "dna": list(t.dna),
            "params": getattr(t, "params", None), "seed": t.seed,
            "metrics": {k: v for k, v in t.metrics.items() if isinstance(v, (int, float, str))},
            "duration_s": t.duration}


def _comparable(settings: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in settings.items() if k not in _VOLATILE}
    if isinstance(out.get("args"), Mapping):
        out["args"] = {k: v for k, v in out["args"].items() if k not in EXECUTION_ARGS}
    out.setdefault("study_name", "search")
    return out


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<unset>"), new.get(k, "<unset>")
        if k == "args" and isinstance(a, Mapping) and isinstance(b, Mapping):
            out.update({f"args.{kk}": v for kk, v in _diff(a, b).items()})
        elif a != b:
            out[k] = (a, b)
    return out
