"""Kill a search with SIGKILL at chosen moments and resume it: the crash-safety check.

Used by the tests of :class:`budgetnas.store.SQLStorage` resume and by the end-to-end test of
``budgetnas search``::

    finished = run_with_kills(["budgetnas", "search", ..., "--out", str(run)],
                              db=run / "study.db", study_name="search",
                              kill_at=[0, 2, 5, 8, 11])

Each moment is a number of finished trials in the store: the process is started, killed with
SIGKILL as soon as the store holds that many finished trials (0: as soon as the store has the
study, i.e. possibly before the first trial), then started again, and so on; after the last
kill it runs to the end. The caller compares the store with an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from budgetnas.errors import StoreError
from budgetnas.study.trial import TrialState

__all__ = ["count_finished", "run_with_kills"]


def count_finished(db: str | os.PathLike, study_name: str) -> tuple[int, int]:
    """(finished, running) trials of ``study_name`` in the SQLite file ``db``; (-1, 0) when the
    store or the study does not exist yet. Reads with a bare read-only connection, cheap enough
    to poll every few milliseconds next to the run it watches."""
    if not Path(db).exists():
        return -1, 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as c:
            sid = c.execute("SELECT id FROM studies WHERE name = ?", (study_name,)).fetchone()
            if sid is None:
                return -1, 0
            rows = c.execute("SELECT state, COUNT(*) FROM trials WHERE study_id = ? "
                             "GROUP BY state", sid).fetchall()
    except sqlite3.OperationalError:  # the schema is being created right now
        return -1, 0
    counts = dict(rows)
    finished = sum(n for state, n in counts.items()
                   if state not in (TrialState.RUNNING.value, TrialState.SKIPPED.value))
    return finished, counts.get(TrialState.RUNNING.value, 0)


def run_with_kills(cmd: Sequence[str], *, db: str | os.PathLike, study_name: str,
                   kill_at: Sequence[int], mid_trial: bool = True, timeout_s: float = 120.0,
                   env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
                   poll_s: float = 0.01) -> list[int]:
    """Run ``cmd`` and SIGKILL it at each moment of ``kill_at``, restarting it each time; then
    run it to completion. Returns the finished-trial counts seen at each kill.

    With ``mid_trial``, a kill waits until a trial is running (so it lands inside a trial, the
    case that must re-run that trial exactly once) unless the process ends first.

    Raises
    ------
    StoreError
        When a run exits before reaching its kill moment, or the final run fails
        (the message holds its output).
    TimeoutError
        After ``timeout_s`` seconds in one run.
    """
    seen = []
    full_env = {**os.environ, **(env or {})}
    for moment in kill_at:
        proc = subprocess.Popen(list(cmd), env=full_env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        start = time.monotonic()
        while True:
            finished, running = count_finished(db, study_name)
            if finished >= moment and (not mid_trial or running or moment == 0):
                break
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise StoreError(f"the run exited (code {proc.returncode}) with {finished} "
                                 f"finished trials, before the kill at {moment}:\n{out[-3000:]}")
            if time.monotonic() - start > timeout_s:
                proc.kill()
                proc.wait()
                raise TimeoutError(f"no kill moment {moment} within {timeout_s} s")
            time.sleep(poll_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait()  # reap it: a zombie would still look alive to the resumed run
        if proc.stdout:
            proc.stdout.close()
        seen.append(finished)
    done = subprocess.run(list(cmd), env=full_env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0:
        raise StoreError(f"the final resumed run failed (code {done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seen
