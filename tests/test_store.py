"""The storage suite, run against every backend: in-memory, SQLite, PostgreSQL (Optuna's habit).

PostgreSQL: set BUDGETNAS_TEST_POSTGRES_URL, or have Debian's ``postgresql`` installed so that
``.ci/start-postgres.sh`` can start a server on loopback; otherwise those cases skip, saying why.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

import budgetnas as bn
from budgetnas.errors import SettingsMismatchError, TrialError
from budgetnas.store import SQLStorage
from budgetnas.study import InMemoryStorage, Trial, TrialState

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- backends
@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("BUDGETNAS_TEST_POSTGRES_URL")
    reason = ""
    if not url:
        script = ROOT / ".ci" / "start-postgres.sh"
        if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            reason = "no BUDGETNAS_TEST_POSTGRES_URL and no PostgreSQL server installed " \
                     "(apt-get install -y postgresql)"
        else:
            out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
            if out.returncode != 0:
                reason = f".ci/start-postgres.sh failed: {out.stderr.strip()[-500:]}"
            else:
                url = out.stdout.strip().rsplit("=", 1)[-1]
    if url and not reason:
        try:
            import sqlalchemy as sa

            engine = sa.create_engine(url)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001 - any failure to reach the server skips
            reason = f"PostgreSQL at {url} is not reachable: {exc}"
    if reason:
        print(f"SKIP PostgreSQL storage tests: {reason}")
        pytest.skip(reason)
    return url


BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def make_storage(request, tmp_path):
    """A factory: each call opens the same store again (as a resumed process would)."""
    kind = request.param
    if kind == "memory":
        storage = InMemoryStorage()
        return lambda: storage
    if kind == "sqlite":
        return lambda: SQLStorage(tmp_path / "study.db")
    url = request.getfixturevalue("postgres_url")
    return lambda: SQLStorage(url)


def _name() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"  # PostgreSQL's database is shared between tests


def _space() -> bn.Space:
    return bn.Space({"width": bn.oneof([8, 16, 32, 64]), "depth": bn.oneof([1, 2, 3]),
                     "lr": bn.floatv(1e-4, 1e-1, scale="log")})


def _objective(trial) -> float:
    rng = np.random.default_rng(trial.seed)
    c = trial.child
    return float(c["width"] * c["depth"] / 100 - abs(np.log10(c["lr"]) + 2) + 0.01 * rng.random())


# ---------------------------------------------------------------------- the interface
def test_create_study_is_idempotent_and_keeps_settings(make_storage):
    s = make_storage()
    name = _name()
    sid = s.create_study(name, {"direction": "minimize", "args": {"n": 3}})
    assert s.create_study(name, {"direction": "other"}) == sid
    assert s.get_settings(sid) == {"direction": "minimize", "args": {"n": 3}}
    assert s.get_study_id(name) == sid and name in s.list_studies()
    assert s.get_study_id(name + "-none") is None
    s.update_settings(sid, {"direction": "maximize"})
    assert make_storage().get_settings(sid) == {"direction": "maximize"}


def test_trials_round_trip_every_field(make_storage):
    s = make_storage()
    sid = s.create_study(_name(), {})
    t = Trial(number=-1, dna=bn.DNA([2, 0, 0.25]), child={"width": 32, "depth": 1})
    n0 = s.create_trial(sid, t, seed_of=lambda n: 1000 + n)
    t2 = Trial(number=-1, dna=bn.DNA([1, 1, 0.5]), child=object())  # not JSON: stored as repr
    n1 = s.create_trial(sid, t2, state={"k": 1}, seed_of=lambda n: 1000 + n)
    assert (n0, n1, t.seed, t2.seed) == (0, 1, 1000, 1001)
    t.state, t.value = TrialState.COMPLETE, 0.75
    t.metrics = {"reward": 0.75, "params": np.int64(3000), "curve": np.array([0.5, 0.7])}
    t.intermediate = {1: 0.5, 10: 0.7}
    t.user_attrs = {"note": "x"}
    t.datetime_complete = t.datetime_start + 2.5
    t2.state, t2.error, t2.traceback = TrialState.FAILED, "ValueError: bad", "Traceback..."
    s.save_trial(sid, t)
    s.save_trial(sid, t2)
    loaded = make_storage().load_trials(sid)
    assert [x.number for x in loaded] == [0, 1]
    a, b = loaded
    assert a.dna == bn.DNA([2, 0, 0.25]) and isinstance(a.dna, bn.DNA)
    assert (a.state, a.value, a.seed) == (TrialState.COMPLETE, 0.75, 1000)
    plain = json.loads(json.dumps(a.metrics, default=lambda x: x.tolist()))  # memory keeps numpy
    assert plain == {"reward": 0.75, "params": 3000, "curve": [0.5, 0.7]}
    assert a.intermediate == {1: 0.5, 10: 0.7} and a.user_attrs == {"note": "x"}
    assert a.duration == pytest.approx(2.5)
    assert a.child is None  # loaded without the materialised child
    assert (b.state, b.value, b.error, b.traceback) == (TrialState.FAILED, None, "ValueError: bad",
                                                        "Traceback...")


def test_algorithm_state_round_trips_json_and_non_json(make_storage):
    s = make_storage()
    sid = s.create_study(_name(), {})
    assert s.load_algorithm_state(sid) is None
    rng = np.random.default_rng(7)
    json_state = {"rng": rng.bit_generator.state, "pos": 3, "buffer": [[1, 2], [3, 4]]}
    s.save_algorithm_state(sid, json_state)
    assert make_storage().load_algorithm_state(sid) == json_state
    odd = {"population": [(bn.DNA([1, 2]), 0.5)], "logits": np.arange(6.0).reshape(2, 3),
           "by_step": {1: 0.5}}
    s.save_checkpoint(sid, "algorithm", odd)
    back = make_storage().load_algorithm_state(sid)
    assert back["population"] == [(bn.DNA([1, 2]), 0.5)] and back["by_step"] == {1: 0.5}
    np.testing.assert_array_equal(back["logits"], np.arange(6.0).reshape(2, 3))
    s.save_checkpoint(sid, "controller", {"baseline": 0.25})
    assert make_storage().load_checkpoint(sid, "controller") == {"baseline": 0.25}
    assert make_storage().load_checkpoint(sid, "algorithm")["by_step"] == {1: 0.5}


def test_save_trial_and_state_and_attempts(make_storage):
    s = make_storage()
    sid = s.create_study(_name(), {})
    t = Trial(number=-1, dna=bn.DNA([0]))
    s.create_trial(sid, t, state={"step": 1})
    t.state, t.value = TrialState.COMPLETE, 1.0
    s.save_trial_and_state(sid, t, {"step": 2})
    s2 = make_storage()
    assert s2.load_trials(sid)[0].value == 1.0 and s2.load_algorithm_state(sid) == {"step": 2}
    assert [s.record_attempt(sid, 0), s.record_attempt(sid, 0)] == [2, 3]


def test_supernet_checkpoints_are_listed_by_step(make_storage, tmp_path):
    s = make_storage()
    sid = s.create_study(_name(), {})
    s.record_supernet_checkpoint(sid, str(tmp_path / "b.pt"), 200, "b" * 64)
    s.record_supernet_checkpoint(sid, str(tmp_path / "a.pt"), 100, "a" * 64)
    found = make_storage().list_supernet_checkpoints(sid)
    assert [(c.step, Path(c.path).name, c.sha256[0]) for c in found] == [(100, "a.pt", "a"),
                                                                         (200, "b.pt", "b")]


# ---------------------------------------------------------------------- the study on each store
def test_study_resumes_exactly(make_storage):
    name = _name()
    full = bn.Study(_space(), bn.Dedup(bn.Random(seed=3)), seed=5)
    full.optimize(_objective, n_trials=12)

    first = bn.Study(_space(), bn.Dedup(bn.Random(seed=3)), seed=5, storage=make_storage(),
                     study_name=name)
    first.optimize(_objective, n_trials=5)
    # A new process: fresh algorithm object, same store and name.
    second = bn.Study(_space(), bn.Dedup(bn.Random(seed=3)), seed=5, storage=make_storage(),
                      study_name=name)
    assert len(second.trials) == 5
    if not second.storage.persistent:
        return  # an in-memory store does not keep the algorithm's state between studies
    second.optimize(_objective, max_trials=12)
    got = [(t.number, t.dna, t.seed, t.value) for t in second.trials]
    want = [(t.number, t.dna, t.seed, t.value) for t in full.trials]
    assert got == want
    assert second.best_trial.value == full.best_trial.value


def test_interrupted_trial_is_rerun_once_then_failed(make_storage):
    name = _name()
    kw = dict(seed=1, storage=make_storage(), study_name=name)
    first = bn.Study(_space(), bn.Random(seed=0), **kw)
    first.optimize(_objective, n_trials=2)
    lost = first.ask()  # the driver "dies" here: the trial stays running in the store
    kw["storage"] = make_storage()
    second = bn.Study(_space(), bn.Random(seed=0), **kw)
    again = second.ask()
    assert (again.number, again.dna, again.seed) == (lost.number, lost.dna, lost.seed)
    assert again.child == lost.child
    if not second.storage.persistent:
        return
    # Interrupted a second time: the third driver marks it failed and proposes a new trial.
    third = bn.Study(_space(), bn.Random(seed=0), seed=1, storage=make_storage(), study_name=name)
    nxt = third.ask()
    assert nxt.number == lost.number + 1
    failed = third.trials[lost.number]
    assert failed.state is TrialState.FAILED and "not re-run again" in failed.error


def test_resume_with_other_settings_is_refused_unless_forced(make_storage):
    name = _name()
    bn.Study(_space(), bn.Random(seed=0), seed=1, storage=make_storage(), study_name=name)
    with pytest.raises(SettingsMismatchError, match=r"seed: stored 1, given 2.*force=True"):
        bn.Study(_space(), bn.Random(seed=0), seed=2, storage=make_storage(), study_name=name)
    with pytest.raises(SettingsMismatchError, match="space"):
        bn.Study(bn.Space({"w": bn.oneof([1, 2])}), bn.Random(seed=0), seed=1,
                 storage=make_storage(), study_name=name)
    st = bn.Study(_space(), bn.Random(seed=0), seed=2, storage=make_storage(), study_name=name,
                  force=True)
    assert st.storage.get_settings(st.study_id)["seed"] == 2


def test_ask_still_refuses_a_second_pending_trial(make_storage):
    st = bn.Study(_space(), bn.Random(seed=0), storage=make_storage(), study_name=_name())
    st.ask()
    with pytest.raises(TrialError, match="still running"):
        st.ask()


# ---------------------------------------------------------------------- two drivers, one study
def _driver(url: str, name: str, n: int, seed: int) -> list[int]:
    st = bn.Study(_space(), bn.Random(seed=seed), seed=0, storage=SQLStorage(url),
                  study_name=name)
    st.optimize(_objective, n_trials=n)
    # The trials this driver ran (its list also holds the other's, loaded at start).
    return [t.number for t in st.trials
            if t.state is TrialState.COMPLETE and getattr(t, "worker", None) == st.worker]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes_share_one_study(backend, tmp_path, request):
    url = str(tmp_path / "shared.db") if backend == "sqlite" else request.getfixturevalue(
        "postgres_url")
    name = _name()
    bn.Study(_space(), bn.Random(seed=0), seed=0, storage=SQLStorage(url), study_name=name)
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        mine = pool.starmap(_driver, [(url, name, 15, 1), (url, name, 15, 2)])
    assert len(mine[0]) == len(mine[1]) == 15
    assert len(set(mine[0]) & set(mine[1])) == 0  # no number given to both drivers
    st = bn.Study(_space(), bn.Random(seed=0), seed=0, storage=SQLStorage(url), study_name=name)
    assert [t.number for t in st.trials] == list(range(30))
    assert all(t.state is TrialState.COMPLETE for t in st.trials)
    # Seeds follow the numbers, whichever driver ran the trial.
    from budgetnas.study.study import _trial_seed

    assert [t.seed for t in st.trials] == [_trial_seed(0, n) for n in range(30)]


def test_postgres_script_is_shell_valid():
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "start-postgres.sh")]).returncode == 0
