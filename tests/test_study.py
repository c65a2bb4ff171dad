"""The Study loop: ask/tell, skip, fail, pending trials, early stopping, results, optimize,
and clean stops of finite searches."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import budgetnas as bn
from budgetnas.errors import InvalidDNAError, SearchExhausted, TrialError
from tests.algorithm_checks import twelve_decision_space


def small_space() -> bn.Space:
    return bn.Space({"width": bn.oneof([16, 32, 64]), "depth": bn.oneof([1, 2])})


def score(child) -> float:
    return child["width"] / 64 + child["depth"] / 10


class Recorder(bn.SearchAlgorithm):
    """Random proposals; remembers every feedback it gets."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.inner = bn.Random(seed=seed)
        self.fed: list[tuple[tuple, dict]] = []

    def setup(self, spec, constraints=()):
        super().setup(spec, constraints)
        self.inner.setup(spec, constraints)

    def propose(self):
        return self.inner.propose()

    def feedback(self, dna, reward):
        self.fed.append((tuple(dna), reward))


# ---------------------------------------------------------------------- ask / tell
def test_ask_tell_records_value_metrics_and_feeds_the_algorithm():
    space, algo = small_space(), Recorder(seed=1)
    study = bn.Study(space, algo, seed=5)
    trial = study.ask()
    assert trial.number == 0 and trial.state is bn.TrialState.RUNNING
    assert trial.child == space.materialize(trial.dna)
    study.tell(trial, {"reward": 0.75, "params": 1234})
    assert trial.state is bn.TrialState.COMPLETE and trial.value == 0.75
    assert trial.metrics == {"reward": 0.75, "params": 1234}
    assert algo.fed == [(tuple(trial.dna), {"reward": 0.75, "params": 1234})]
    assert trial.duration is not None and trial.duration >= 0
    second = study.ask()
    second.tell({"value": 0.5})  # the shortcut, and "value" as the key
    assert second.number == 1 and second.value == 0.5
    assert algo.fed[-1][1]["reward"] == 0.5
    with pytest.raises(TrialError, match="already complete"):
        study.tell(trial, 1.0)


def test_trial_seeds_depend_on_study_seed_and_number_only():
    def seeds(study_seed):
        study = bn.Study(small_space(), bn.Random(seed=0), seed=study_seed)
        out = []
        for _ in range(5):
            t = study.ask()
            out.append(t.seed)
            study.tell(t, 0.0)
        return out

    a = seeds(1)
    assert a == seeds(1) and len(set(a)) == 5 and a != seeds(2)
    assert all(0 <= s < 2**31 for s in a)


def test_tell_needs_a_finite_value_for_a_complete_trial():
    study = bn.Study(small_space(), bn.Random(seed=0))
    trial = study.ask()
    for bad in (None, math.nan, math.inf, {"params": 3}):
        with pytest.raises(ValueError):
            study.tell(trial, bad)
    assert trial.state is bn.TrialState.RUNNING  # nothing was recorded
    study.tell(trial, 0.1)


def test_skip_is_recorded_never_fed_back_and_keeps_finished_trials_untouched():
    algo = Recorder()
    study = bn.Study(small_space(), algo)
    trial = study.ask()
    study.skip(trial, "invalid child: out of memory at build time")
    assert trial.state is bn.TrialState.SKIPPED and trial.error.startswith("invalid child")
    assert algo.fed == []
    done = study.ask()
    study.tell(done, 0.3)
    with pytest.raises(TrialError, match="already complete"):
        study.skip(done, "too late")
    assert done.error is None and done.state is bn.TrialState.COMPLETE


def test_fail_keeps_exception_and_traceback():
    algo = Recorder()
    study = bn.Study(small_space(), algo)

    def objective(trial):
        if trial.number == 1:
            raise_deep(trial.child)
        return score(trial.child)

    study.optimize(objective, n_trials=3)
    failed = study.trials[1]
    assert failed.state is bn.TrialState.FAILED and failed.value is None
    assert failed.error == "ZeroDivisionError: cannot build this child"
    assert "raise_deep" in failed.traceback and "ZeroDivisionError" in failed.traceback
    assert [t.state for t in study.trials] == [bn.TrialState.COMPLETE, bn.TrialState.FAILED,
                                               bn.TrialState.COMPLETE]
    assert len(algo.fed) == 2  # the failed trial is not fed back
    with pytest.raises(TrialError):
        study.fail(failed, RuntimeError("again"))
    assert failed.error == "ZeroDivisionError: cannot build this child"


def raise_deep(child):
    raise ZeroDivisionError("cannot build this child")


def test_an_exception_outside_catch_propagates_after_marking_the_trial_failed():
    study = bn.Study(small_space(), bn.Random(seed=0))

    def objective(trial):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=5)
    assert len(study.trials) == 1 and study.trials[0].state is bn.TrialState.FAILED
    study.optimize(lambda t: score(t.child), n_trials=2)  # the study is still usable
    assert len(study.completed_trials()) == 2


def test_objective_returning_nan_or_none_fails_the_trial_and_the_loop_goes_on():
    study = bn.Study(small_space(), bn.Random(seed=0))
    values = iter([0.5, math.nan, None, 0.7])
    study.optimize(lambda t: next(values), n_trials=4)
    assert [t.state.value for t in study.trials] == ["complete", "failed", "failed", "complete"]
    assert "finite value" in study.trials[1].error


# ---------------------------------------------------------------------- never re-yield
def test_a_pending_trial_makes_the_next_ask_raise():
    study = bn.Study(small_space(), bn.Random(seed=0))
    pending = study.ask()
    with pytest.raises(TrialError, match=r"trial\(s\) \[0\] are still running.*study.tell"):
        study.ask()
    with pytest.raises(TrialError):
        study.ask()  # still refused: nothing is re-yielded
    study.tell(pending, 1.0)
    assert study.ask().number == 1


def test_sample_raises_when_the_body_neither_tells_nor_skips():
    it = bn.sample(small_space(), bn.Random(seed=0), num_trials=10)
    child, trial = next(it)
    assert child == trial.child
    with pytest.raises(TrialError, match="still running"):
        next(it)


def test_sample_loop_counts_told_trials_and_not_skipped_ones():
    seen = []
    for child, trial in bn.sample(small_space(), bn.Random(seed=3), num_trials=6):
        if child["depth"] == 2:
            trial.skip("depth 2 is not buildable here")
        else:
            trial.study.tell(trial, score(child))
        seen.append(trial)
    told = [t for t in seen if t.state is bn.TrialState.COMPLETE]
    assert len(told) == 6 and all(t.child["depth"] == 1 for t in told)
    assert all(t.state is bn.TrialState.SKIPPED for t in seen if t.child["depth"] == 2)
    assert [t.number for t in seen] == list(range(len(seen)))


def test_tell_from_another_study_and_report_after_tell_are_refused():
    a = bn.Study(small_space(), bn.Random(seed=0))
    b = bn.Study(small_space(), bn.Random(seed=0))
    ta, tb = a.ask(), b.ask()
    with pytest.raises(TrialError, match="another study"):
        b.tell(ta, 1.0)
    a.tell(ta, 1.0)
    b.tell(tb, 1.0)
    with pytest.raises(TrialError, match="report\\(\\) needs a running trial"):
        ta.report(0.5, step=1)


def test_a_bad_proposal_from_an_algorithm_is_a_clear_error():
    class Broken(bn.SearchAlgorithm):
        def propose(self):
            return bn.DNA([0])  # one decision short

    study = bn.Study(small_space(), Broken())
    with pytest.raises(InvalidDNAError, match="too short.*'depth'"):
        study.ask()


# ---------------------------------------------------------------------- early stopping
def run_curves(study, curves, stop_after_check=True):
    """Each trial reports curve values at steps 1..; stops when the policy says so."""
    for curve in curves:
        trial = study.ask()
        for step, v in enumerate(curve, start=1):
            trial.report(v, step)
            if stop_after_check and trial.should_stop():
                study.tell(trial, v, bn.TrialState.PRUNED)
                break
        else:
            study.tell(trial, curve[-1])


def test_stop_by_value_maximize_and_minimize():
    curves = [[0.6, 0.9], [0.4, 0.95], [0.55, 0.7]]
    up = bn.Study(small_space(), bn.Random(seed=0), early_stopping=bn.StopByValue({1: 0.5}))
    run_curves(up, curves)
    assert [t.state.value for t in up.trials] == ["complete", "pruned", "complete"]
    assert up.trials[1].value == 0.4 and up.trials[1].intermediate == {1: 0.4}

    # minimising a loss: a threshold of 0.5 stops losses *above* 0.5
    down = bn.Study(small_space(), bn.Random(seed=0), direction="minimize",
                    early_stopping=bn.StopByValue({1: 0.5}))
    run_curves(down, curves)
    assert [t.state.value for t in down.trials] == ["pruned", "complete", "pruned"]


def test_stop_by_rank_stops_trials_outside_the_top_fraction():
    policy = bn.StopByRank(step=2, top_fraction=0.5, min_peers=2)
    study = bn.Study(small_space(), bn.Random(seed=0), early_stopping=policy)
    curves = [[0.1, 0.5, 0.6], [0.1, 0.7, 0.8], [0.1, 0.2, 0.9], [0.1, 0.9, 0.95],
              [0.1, 0.6, 0.7]]
    run_curves(study, curves)
    # trial 2: 2 peers (0.5, 0.7), 2 better -> out of the top half of 3; trial 4: 0.6 vs
    # (0.5, 0.7, 0.2, 0.9): 2 better, ceil(0.5 * 5) = 3 -> continues
    assert [t.state.value for t in study.trials] == ["complete", "complete", "pruned",
                                                     "complete", "complete"]
    assert not policy.should_stop(1, 0.0, [1.0, 1.0, 1.0])  # another step
    assert not policy.should_stop(2, 0.0, [1.0])  # too few peers
    with pytest.raises(ValueError):
        bn.StopByRank(step=1, top_fraction=0.0)


def test_trial_pruned_raised_by_the_objective():
    study = bn.Study(small_space(), Recorder(), early_stopping=bn.StopByValue({2: 0.5}))

    def objective(trial):
        for step in range(1, 4):
            trial.report(0.1 * step * (trial.number + 1), step)
            if trial.should_stop():
                raise bn.TrialPruned
        return 1.0

    study.optimize(objective, n_trials=4)
    states = [t.state.value for t in study.trials]
    assert states == ["pruned", "pruned", "complete", "complete"]
    assert study.trials[0].value == pytest.approx(0.2)  # its last reported value


# ---------------------------------------------------------------------- results
def test_best_trial_top_k_and_dataframe_values():
    space = bn.Space({"op": bn.oneof([{"k": bn.oneof([3, 5])}, "none"]),
                      "shift": bn.floatv(-1.0, 1.0)})

    class Fixed(bn.SearchAlgorithm):
        def __init__(self):
            super().__init__(seed=0)
            self.out = [bn.DNA([0, 1, -0.5]), bn.DNA([1, 0.25]), bn.DNA([0, 0, 0.75])]

        def propose(self):
            return self.out.pop(0)

    study = bn.Study(space, Fixed())
    for value in (0.3, 0.9, 0.6):
        t = study.ask()
        study.tell(t, {"reward": value, "params": 10 * t.number})
    assert study.best_trial.number == 1
    assert [t.number for t in study.top_k(2)] == [1, 2]
    df = study.trials_dataframe()
    assert list(df["number"]) == [0, 1, 2] and list(df["value"]) == [0.3, 0.9, 0.6]
    assert list(df["state"]) == ["complete"] * 3 and list(df["params"]) == [0, 10, 20]
    assert list(df["dna"]) == ["[0, 1, -0.5]", "[1, 0.25]", "[0, 0, 0.75]"]
    assert df["dp:op"].tolist() == [0, 1, 0]
    assert df["dp:op#0.k"].tolist()[0] == 1 and math.isnan(df["dp:op#0.k"].tolist()[1])
    assert df["dp:shift"].tolist() == [-0.5, 0.25, 0.75]  # a negative float is a value, not NaN
    assert (df["duration"] >= 0).all()

    empty = bn.Study(space, bn.Random(seed=0))
    with pytest.raises(ValueError, match="no complete trial"):
        _ = empty.best_trial


def test_minimize_direction():
    algo = Recorder(seed=2)
    study = bn.Study(small_space(), algo, direction="minimize")
    study.optimize(lambda t: score(t.child), n_trials=20)
    values = [t.value for t in study.trials]
    assert study.best_trial.value == min(values)
    assert [t.value for t in study.top_k(3)] == sorted(values)[:3]
    assert [r["reward"] for _, r in algo.fed] == [-v for v in values]  # the algorithm maximises
    with pytest.raises(ValueError, match="direction"):
        bn.Study(small_space(), bn.Random(seed=0), direction="down")


# ---------------------------------------------------------------------- optimize
def test_optimize_with_n_trials_and_timeout():
    study = bn.Study(twelve_decision_space(), bn.Random(seed=0))
    study.optimize(lambda t: 1.0, n_trials=25)
    assert len(study.trials) == 25
    study.optimize(lambda t: 1.0, n_trials=5)  # n_trials counts *more* trials
    assert len(study.trials) == 30

    def slow(trial):
        time.sleep(0.02)
        return 1.0

    start = time.monotonic()
    study.optimize(slow, timeout=0.15)
    elapsed = time.monotonic() - start
    n = len(study.trials) - 30
    assert 1 <= n <= 9 and elapsed < 0.15 + 0.5
    with pytest.raises(ValueError, match="n_trials"):
        study.optimize(slow)


def test_grid_study_stops_cleanly_on_exhaustion():
    space = small_space()
    study = bn.Study(space, bn.Grid())
    study.optimize(lambda t: score(t.child), n_trials=100)
    assert [tuple(t.dna) for t in study.trials] == [tuple(d) for d in space.iter_dna()]
    assert study.best_trial.child == {"width": 64, "depth": 2}
    with pytest.raises(SearchExhausted, match="all 6 children"):
        study.ask()


def test_sample_with_grid_ends_after_the_last_child():
    n = 0
    for child, trial in bn.sample(small_space(), bn.Grid()):  # no num_trials: ends by itself
        trial.tell(score(child))
        n += 1
    assert n == 6


def test_dedup_random_study_stops_instead_of_spinning():
    space = small_space()
    study = bn.Study(space, bn.Dedup(bn.Random(seed=4)))
    start = time.monotonic()
    study.optimize(lambda t: score(t.child), n_trials=1000)
    assert time.monotonic() - start < 5
    assert len(study.trials) == 6
    assert len({tuple(t.dna) for t in study.trials}) == 6


def test_constraints_reject_before_a_trial_exists():
    class WidthAtMost32:
        def feasible_batch(self, X):
            return np.asarray(X)[:, 0] <= 1

    class Blind(bn.Random):  # ignores the constraints it is given: the study must filter
        def setup(self, spec, constraints=()):
            super().setup(spec, ())

    for algo, rejects in [(bn.Random(seed=0), False), (Blind(seed=0), True)]:
        study = bn.Study(small_space(), algo, constraints=[WidthAtMost32()])
        study.optimize(lambda t: score(t.child), n_trials=30)
        assert len(study.trials) == 30 and (study.n_rejected > 0) == rejects
        assert all(t.child["width"] <= 32 for t in study.trials)


def test_dataframe_of_a_large_study_is_a_dataframe():
    study = bn.Study(twelve_decision_space(), bn.Random(seed=1))
    study.optimize(lambda t: float(t.child["blocks"][0]["width"]), n_trials=200)
    df = study.trials_dataframe()
    assert isinstance(df, pd.DataFrame) and df.shape[0] == 200
    widths = np.array([16, 24, 32, 48])[df["dp:blocks[0].width"].astype(int)]
    np.testing.assert_array_equal(widths, df["value"].to_numpy())


def test_asking_does_not_reload_every_stored_trial(monkeypatch):
    # the in-memory store numbers a new trial in O(1); reloading all trials per ask made a
    # 20,000-trial study quadratic
    study = bn.Study(small_space(), bn.Random(seed=0))

    def refuse(study_id):
        raise AssertionError("load_trials called on the ask/tell path")

    monkeypatch.setattr(study.storage, "load_trials", refuse)
    study.optimize(lambda t: score(t.child), n_trials=50)
    assert [t.number for t in study.trials] == list(range(50))
    monkeypatch.undo()
    stored = study.storage.load_trials(study.study_id)
    assert [t.value for t in stored] == [t.value for t in study.trials]
    assert all(t.child is None for t in stored)
    stored[0].metrics["x"] = 1  # loaded copies are independent of the store
    assert study.storage.load_trials(study.study_id)[0].metrics == {}


def test_readme_random_search_snippet_runs():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text() if readme.exists() else ""
    blocks = [b.split("\n", 1)[1] for b in text.split("```python")[1:]]
    snippet = next((b.split("```")[0] for b in blocks if "bn.sample(space, bn.Random" in b), None)
    if snippet is None:
        pytest.skip("README.md does not show the 12-decision random search yet")
    assert len(snippet.strip().splitlines()) <= 10
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)  # noqa: S102 -- our own README
    assert scope["space"].size == 1_679_616 and scope["space"].num_decisions == 12
