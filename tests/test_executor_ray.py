"""The Ray executor on a local Ray cluster started by the test (2 CPUs), including a worker
killed mid-trial. Skips, saying why, only when Ray is missing or cannot start here."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import budgetnas as bn
from budgetnas.store import SQLStorage
from budgetnas.study import TrialState
from tests.test_executor import _space, _values, crash_once_then_always


def sleepy_victim(trial) -> float:
    """Trial 2 writes its pid and sleeps on its first run: the test kills that worker."""
    marks = Path(os.environ["BUDGETNAS_TEST_MARKS"])
    if trial.number == 2 and not (marks / "victim").exists():
        (marks / "victim.tmp").write_text(str(os.getpid()))
        os.replace(marks / "victim.tmp", marks / "victim")
        time.sleep(60)
    return float(trial.seed % 1000)


@pytest.fixture
def ray_cluster(tmp_path, monkeypatch):
    """A local Ray cluster with 2 CPUs, started here; its workers see the marks directory."""
    monkeypatch.setenv("BUDGETNAS_TEST_MARKS", str(tmp_path))
    try:
        import ray
    except ImportError:
        print("SKIP Ray executor test: Ray is not installed (pip install 'budgetnas[ray]')")
        pytest.skip("Ray is not installed (pip install 'budgetnas[ray]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"BUDGETNAS_TEST_MARKS": str(tmp_path)}})
    except Exception as exc:  # noqa: BLE001 - any failure to start Ray here skips
        print(f"SKIP Ray executor test: Ray cannot start on this machine: {exc}")
        pytest.skip(f"Ray cannot start on this machine: {exc}")
    yield tmp_path
    ray.shutdown()


def plain(trial) -> float:
    return float(trial.seed % 1000)


@pytest.mark.slow
def test_ray_runs_trials_and_retries_a_killed_worker(ray_cluster):
    marks = ray_cluster

    def killer():
        victim = marks / "victim"
        deadline = time.monotonic() + 120
        while not victim.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if victim.exists():
            os.kill(int(victim.read_text()), signal.SIGKILL)  # the worker dies mid-trial

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    ref = bn.Study(_space(), bn.Random(seed=0), seed=4)
    ref.optimize(plain, n_trials=6)
    st = bn.Study(_space(), bn.Random(seed=0), seed=4, storage=SQLStorage(marks / "s.db"))
    st.optimize(sleepy_victim, n_trials=6, executor="ray", workers=2)
    thread.join(timeout=5)
    assert (marks / "victim").exists()  # trial 2 did start and was killed
    assert _values(st) == _values(ref)  # ... and was retried once, completing the same way

    # A worker that dies every time fails its trial after one retry; the others complete.
    crash = bn.Study(_space(), bn.Random(seed=0), seed=4)
    crash.optimize(functools.partial(crash_once_then_always, marks=str(marks)), n_trials=5,
                   executor="ray", workers=2)
    states = {t.number: t.state for t in crash.trials}
    assert states[3] is TrialState.FAILED and "WorkerCrashedError" in crash.trials[3].error
    assert [n for n, s in states.items() if s is TrialState.COMPLETE] == [0, 1, 2, 4]
