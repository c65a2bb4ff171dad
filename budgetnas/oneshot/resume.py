"""Resume a one-shot search after a crash or ``kill -9``: checkpoints in a run directory.

:class:`RunCheckpoint` saves :meth:`OneShotSearch.state_dict` (supernet, optimiser, controller,
warm-up sampler, numpy and torch RNGs, step, history) every ``checkpoint_every`` steps to
``<dir>/oneshot.pt`` with an atomic replace, and a small ``<dir>/oneshot.json`` that says which
step it holds. :func:`resume_if_checkpointed` loads it into a freshly built search (same
arguments, same seed), so that :meth:`OneShotSearch.run` continues from that step and ends with
the same controller, supernet and pick as an uninterrupted run: the steps after the last
checkpoint are recomputed from the same state (TuNAS, Bender et al. 2020, §3.1 interleaves
supernet and controller steps; both are in the state).

>>> search = OneShotSearch(task, algo, spec, steps=400, checkpoint_every=50,       # doctest: +SKIP
...                        callbacks=[RunCheckpoint(run.checkpoints_dir)])
>>> resume_if_checkpointed(search, run.checkpoints_dir)  # step 0 or the last checkpoint  # doctest: +SKIP
>>> result = search.run()                                                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from budgetnas.errors import StoreError
from budgetnas.oneshot.loop import Checkpoint, OneShotResult, OneShotSearch

__all__ = ["CHECKPOINT_NAME", "RunCheckpoint", "checkpoint_progress", "resume_if_checkpointed"]

CHECKPOINT_NAME = "oneshot"
"""Checkpoint files are ``<dir>/oneshot.pt`` (the state) and ``<dir>/oneshot.json`` (its step)."""


class RunCheckpoint(Checkpoint):
    """Save the search's state into a checkpoints folder at each checkpoint and at the end.

    Parameters
    ----------
    directory : path
        E.g. a :class:`~budgetnas.store.RunDir`'s ``checkpoints_dir``; created if missing.
    name : str
        File stem (``oneshot`` → ``oneshot.pt`` and ``oneshot.json``).

    Notes
    -----
    Both files are replaced atomically, the state first: after a crash ``oneshot.json`` never
    names a step newer than the state on disk.
    """

    def __init__(self, directory: str | os.PathLike, name: str = CHECKPOINT_NAME) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        super().__init__(self.directory / f"{name}.pt")
        self.progress_path = self.directory / f"{name}.json"

    def on_checkpoint(self, search: OneShotSearch) -> None:
        from budgetnas.store.atomic import atomic_write_json

        super().on_checkpoint(search)
        atomic_write_json(self.progress_path, {"step": search.step, "steps": search.steps,
                                               "updated": time.time()})

    def on_end(self, search: OneShotSearch, result: OneShotResult) -> None:
        self.on_checkpoint(search)


def checkpoint_progress(directory: str | os.PathLike,
                        name: str = CHECKPOINT_NAME) -> dict[str, Any] | None:
    """``{"step", "steps", "updated"}`` of the checkpoint in ``directory``, or None if none."""
    path = Path(directory) / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def resume_if_checkpointed(search: OneShotSearch, directory: str | os.PathLike,
                           name: str = CHECKPOINT_NAME) -> int:
    """Load ``<directory>/<name>.pt`` into ``search`` when it exists; return the step it resumes at.

    ``search`` must be built with the same arguments as the one that wrote the checkpoint.

    Raises
    ------
    StoreError
        When the checkpoint cannot be read (corrupt file) or belongs to a search of another
        number of steps; the message says to start again with ``--overwrite``.
    """
    path = Path(directory) / f"{name}.pt"
    if not path.is_file():
        return 0
    try:
        search.load_checkpoint(path)
    except Exception as exc:  # torch / pickle raise many kinds; all mean "cannot use it"
        raise StoreError(f"cannot resume from {path}: {type(exc).__name__}: {exc}. Start the "
                         "search again (--overwrite) or restore the file") from exc
    return search.step
