"""Crash safety: a search killed with SIGKILL at many moments and resumed each time ends exactly
like an uninterrupted run with the same seed (same trials, same values, same best)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.store import SQLStorage
from budgetnas.store.crashtest import count_finished, run_with_kills
from budgetnas.study import TrialState

ROOT = Path(__file__).resolve().parents[1]
N_TRIALS, SEED = 16, 7


def _space() -> bn.Space:
    return bn.Space({"width": bn.oneof([8, 16, 32, 64, 128]), "depth": bn.oneof([1, 2, 3, 4]),
                     "act": bn.oneof(["relu", "gelu", "silu"]), "drop": bn.floatv(0.0, 0.5)})


def _objective(trial) -> float:
    time.sleep(0.03)  # leaves room for kills inside a trial
    c = trial.child
    noise = np.random.default_rng(trial.seed).normal(0, 0.01)
    return float(np.log2(c["width"]) * c["depth"] / 10 - c["drop"] + noise)


def search_main(db: str) -> None:
    """The search the test kills: a deduplicated random search on a SQLite store."""
    study = bn.Study(_space(), bn.Dedup(bn.Random(seed=SEED)), seed=SEED,
                     storage=SQLStorage(db), study_name="search")
    study.optimize(_objective, max_trials=N_TRIALS)


def _cmd(db: Path) -> list[str]:
    return [sys.executable, "-c", f"from tests.test_store_resume import search_main; "
            f"search_main({str(db)!r})"]


def _result(db: Path) -> list[tuple]:
    s = SQLStorage(db)
    return [(t.number, tuple(t.dna), t.seed, t.state.value, t.value)
            for t in s.load_trials(s.get_study_id("search"))]


@pytest.mark.slow
def test_sigkill_at_five_moments_then_resume_equals_uninterrupted(tmp_path):
    ref = tmp_path / "ref.db"
    subprocess.run(_cmd(ref), cwd=ROOT, check=True, timeout=120)
    want = _result(ref)
    assert len(want) == N_TRIALS and all(s == "complete" for _, _, _, s, _ in want)

    db = tmp_path / "killed.db"
    seen = run_with_kills(_cmd(db), db=db, study_name="search", kill_at=[0, 2, 6, 10, 13],
                          cwd=ROOT, timeout_s=120)
    assert seen[1:] == sorted(seen[1:]) and len(set(seen)) >= 5  # distinct moments
    got = _result(db)
    assert got == want  # same numbers, DNA, seeds, states and values: nothing lost or repeated
    assert count_finished(db, "search") == (N_TRIALS, 0)
    best = max(v for *_, v in got)
    assert best == max(v for *_, v in want)


def test_kill_inside_a_trial_reruns_it_with_the_same_dna_and_seed(tmp_path):
    db = tmp_path / "one.db"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a driver whose process has ended
    st = bn.Study(_space(), bn.Dedup(bn.Random(seed=SEED)), seed=SEED, storage=SQLStorage(db),
                  study_name="search", worker=f"{socket.gethostname()}:{gone.pid}")
    st.optimize(_objective, n_trials=3)
    lost = st.ask()  # the process dies during this trial
    stored = {t.number: t for t in SQLStorage(db).load_trials(st.study_id)}
    assert stored[lost.number].state is TrialState.RUNNING
    subprocess.run(_cmd(db), cwd=ROOT, check=True, timeout=120)
    final = SQLStorage(db).load_trials(st.study_id)
    assert len(final) == N_TRIALS
    again = final[lost.number]
    assert (again.dna, again.seed, again.state) == (lost.dna, lost.seed, TrialState.COMPLETE)
