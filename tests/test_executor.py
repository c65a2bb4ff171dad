"""Executors: in-process, a local process pool and Ray; seeds independent of the worker count,
crashed workers retried once then failed."""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.executor import (
    InProcessExecutor,
    ProcessPoolTrialExecutor,
    TrialPayload,
    make_executor,
    run_trials,
)
from budgetnas.store import SQLStorage
from budgetnas.study import TrialPruned, TrialState


def _space() -> bn.Space:
    return bn.Space({"width": bn.oneof([8, 16, 32, 64]), "depth": bn.oneof([1, 2, 3])})


# Objectives live at module level: process pools pickle them by name.
def seeded(trial) -> float:
    noise = np.random.default_rng(trial.seed).random()
    return float(trial.child["width"] * trial.child["depth"] + noise)


def mixed(trial) -> float:
    if trial.number == 1:
        raise ValueError("bad child")
    if trial.number == 2:
        trial.report(0.5, step=1)
        raise TrialPruned()
    if trial.number == 3:
        trial.skip("invalid")
        return 0.0
    return float(trial.number)


def crash_once_then_always(trial, marks: str | None = None) -> float:
    marker = Path(marks or os.environ["BUDGETNAS_TEST_MARKS"]) / f"started-{trial.number}"
    if trial.number == 1 and not marker.exists():  # dies on its first run only
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    if trial.number == 3:  # dies every time
        os.kill(os.getpid(), signal.SIGKILL)
    return float(trial.number)


def _values(study) -> list[tuple]:
    return [(t.number, t.dna, t.seed, t.state.value, t.value) for t in study.trials]


@pytest.fixture(scope="module")
def pool():
    """One pool of 2 worker processes for the module (starting one costs seconds)."""
    with ProcessPoolTrialExecutor(2) as ex:
        yield ex


@pytest.mark.slow
def test_one_and_two_workers_give_identical_trials(tmp_path, pool):
    one = bn.Study(_space(), bn.Random(seed=0), seed=3)
    one.optimize(seeded, n_trials=8)
    pooled_one = bn.Study(_space(), bn.Random(seed=0), seed=3)
    with ProcessPoolTrialExecutor(1) as ex:
        pooled_one.optimize(seeded, n_trials=8, executor=ex)
    two = bn.Study(_space(), bn.Random(seed=0), seed=3, storage=SQLStorage(tmp_path / "s.db"))
    two.optimize(seeded, n_trials=8, executor=pool)
    assert _values(two) == _values(one) == _values(pooled_one)
    assert two.best_trial.value == one.best_trial.value


def test_outcomes_of_worker_trials_are_recorded(pool):
    st = bn.Study(_space(), bn.Random(seed=0), seed=1)
    done = run_trials(st, mixed, pool, n_trials=6)
    states = {t.number: t.state for t in st.trials}
    assert done == 6 and len(st.trials) == 7  # the skipped trial does not count
    assert (states[1], states[2], states[3]) == (TrialState.FAILED, TrialState.PRUNED,
                                                 TrialState.SKIPPED)
    failed = st.trials[1]
    assert failed.error == "ValueError: bad child" and "in mixed" in failed.traceback
    assert st.trials[2].value == 0.5 and st.trials[2].intermediate == {1: 0.5}
    assert {t.number: t.value for t in st.completed_trials()} == {0: 0.0, 4: 4.0, 5: 5.0, 6: 6.0}


@pytest.mark.slow
def test_a_crashed_worker_is_retried_once_then_failed(tmp_path, pool):
    st = bn.Study(_space(), bn.Random(seed=0), seed=1, storage=SQLStorage(tmp_path / "s.db"))
    st.optimize(functools.partial(crash_once_then_always, marks=str(tmp_path)), n_trials=6,
                executor=pool)
    by = {t.number: t for t in st.trials}
    assert len(by) == 6
    assert by[1].state is TrialState.COMPLETE and by[1].value == 1.0  # the retry succeeded
    assert by[3].state is TrialState.FAILED and "WorkerCrashedError" in by[3].error
    assert all(by[n].state is TrialState.COMPLETE for n in (0, 2, 4, 5))


def test_uncaught_exception_propagates_after_failing_the_trial():
    st = bn.Study(_space(), bn.Random(seed=0))
    with pytest.raises(ValueError, match="bad child"):
        run_trials(st, mixed, InProcessExecutor(), n_trials=4, catch=())
    assert st.trials[1].state is TrialState.FAILED


def test_inprocess_executor_passes_a_payload():
    got = []
    st = bn.Study(_space(), bn.Random(seed=0), seed=2)
    run_trials(st, lambda p: got.append(p) or 1.0, InProcessExecutor(), n_trials=2)
    assert all(isinstance(p, TrialPayload) for p in got)
    assert [(p.number, p.dna, p.seed) for p in got] == [(t.number, t.dna, t.seed)
                                                       for t in st.trials]


def test_make_executor_names_and_errors(monkeypatch):
    assert isinstance(make_executor(None), InProcessExecutor)
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        make_executor("process", workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"budgetnas\[ray\]"):
        make_executor("ray", workers=2)
