"""SQLite specifics: WAL, schema versions, parallel writers, atomic files, the run directory."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import pytest

import budgetnas as bn
from budgetnas.errors import SchemaVersionError, SettingsMismatchError, StoreError
from budgetnas.store import (
    SCHEMA_VERSION,
    RunDir,
    SQLStorage,
    atomic_save,
    atomic_write_json,
    find_runs,
    sha256_file,
)
from budgetnas.study import Trial, TrialState


def test_sqlite_uses_wal_and_records_schema_version(tmp_path):
    db = tmp_path / "sub" / "study.db"
    SQLStorage(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    db = tmp_path / "study.db"
    SQLStorage(db)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaVersionError, match=rf"schema version {SCHEMA_VERSION + 1}.*newer"):
        SQLStorage(db)


def test_unreachable_database_is_a_store_error(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the store"):
        SQLStorage(tmp_path / "dir.db")


def test_storage_pickles_by_url(tmp_path):
    import pickle

    s = SQLStorage(tmp_path / "a.db")
    sid = s.create_study("x", {"k": 1})
    assert pickle.loads(pickle.dumps(s)).get_settings(sid) == {"k": 1}


# ---------------------------------------------------------------------- parallel writers
def _writer(db: str, worker: int, n: int) -> int:
    s = SQLStorage(db)
    sid = s.create_study("race", {})
    for i in range(n):
        t = Trial(number=-1, dna=bn.DNA([worker, i]))
        s.create_trial(sid, t, state={"worker": worker, "i": i})
        t.state, t.value = TrialState.COMPLETE, float(worker * 1000 + i)
        s.save_trial_and_state(sid, t, {"worker": worker, "i": i + 1})
    return n


@pytest.mark.slow
def test_four_processes_write_one_sqlite_store_without_loss(tmp_path):
    db = str(tmp_path / "race.db")
    SQLStorage(db).create_study("race", {})
    n = 40
    with mp.get_context("spawn").Pool(4) as pool:  # a "database is locked" error would raise here
        assert pool.starmap(_writer, [(db, w, n) for w in range(4)]) == [n] * 4
    s = SQLStorage(db)
    trials = s.load_trials(s.get_study_id("race"))
    assert [t.number for t in trials] == list(range(4 * n))
    assert sorted(t.value for t in trials) == sorted(float(w * 1000 + i) for w in range(4)
                                                     for i in range(n))
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert s.load_algorithm_state(s.get_study_id("race"))["i"] == n  # the last writer's state


# ---------------------------------------------------------------------- atomic files
def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "run.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}

    def half(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_save(target, half)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary left behind


def test_atomic_save_returns_the_sha256(tmp_path):
    digest = atomic_save(tmp_path / "w.bin", lambda f: f.write(b"abc"))
    # SHA-256("abc"), FIPS 180-2 test vector
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(tmp_path / "w.bin") == digest


# ---------------------------------------------------------------------- run directory
def test_run_dir_layout_resume_check_and_summary(tmp_path):
    settings = {"command": "search", "args": {"dataset": "adult", "n_trials": 4, "seed": 1}}
    run = RunDir.create(tmp_path / "r", settings)
    assert run.settings_path.name == "run.json" and run.checkpoints_dir.is_dir()
    assert run.report_dir.is_dir() and run.state() == "new"
    # More trials or other workers may change on resume; what is searched may not.
    RunDir.create(tmp_path / "r", {**settings, "args": {**settings["args"], "n_trials": 8,
                                                        "workers": 2}})
    with pytest.raises(SettingsMismatchError, match=r"args.seed: stored 1, given 2.*--force"):
        RunDir.create(tmp_path / "r", {**settings, "args": {**settings["args"], "seed": 2}})
    space = bn.Space({"w": bn.oneof([1, 2, 3, 4])})
    with run.running():
        assert run.state() == "running"
        st = bn.Study(space, bn.Grid(), storage=run.storage(), study_name=run.study_name)
        st.optimize(lambda t: float(t.child["w"]), n_trials=4)
    s = run.summary(top_k=2)
    assert s["state"] == "complete" and s["budget"]["finished"] == 4
    assert s["budget"]["target"] == 8  # the resumed settings asked for 8
    assert s["best"]["params"] == {"w": 4} and [t["value"] for t in s["top_k"]] == [4.0, 3.0]
    assert find_runs(tmp_path) == [run]
    with pytest.raises(StoreError, match="not a run directory"):
        RunDir.open(tmp_path)


def test_run_dir_reads_a_killed_run_as_interrupted(tmp_path):
    import subprocess
    import sys

    run = RunDir.create(tmp_path / "r", {"command": "x", "args": {}})
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    status = {"state": "running", "pid": proc.pid, "host": __import__("socket").gethostname(),
              "updated": 0.0}
    atomic_write_json(run.status_path, status)
    assert run.state() == "running"
    proc.kill()
    proc.wait()
    assert run.state() == "interrupted"
