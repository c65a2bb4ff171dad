"""A trial-based `budgetnas search` killed with SIGKILL and run again resumes: same trials, same
best, exactly --n-trials finished trials; `show`, `runs list`, `resume` and `report` work on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from budgetnas.store import SQLStorage
from budgetnas.store.crashtest import count_finished, run_with_kills

ROOT = Path(__file__).resolve().parents[1]
N_TRIALS = 12
CLI = [sys.executable, "-c", "from budgetnas.cli import app; app()"]  # `budgetnas` on any PATH


def _cmd(out: Path) -> list[str]:
    return [*CLI, "search", "--dataset", "adult", "--max-params",
            "3000", "--algorithm", "random", "--n-trials", str(N_TRIALS), "--seed", "1",
            "--max-epochs", "1", "--no-reference", "--device", "cpu", "--out", str(out), "-q"]


def _trials(db: Path) -> list[tuple]:
    s = SQLStorage(db)
    try:
        return [(t.number, tuple(t.dna), t.seed, t.state.value, t.value)
                for t in s.load_trials(s.get_study_id("search"))]
    finally:
        s.dispose()


def _cli(*args: str):
    """In-process (no interpreter start-up): exit_code, stdout, stderr."""
    import budgetnas.cli.runs  # noqa: F401 - registers show / runs / resume / report
    import budgetnas.cli.search  # noqa: F401
    from budgetnas.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.mark.slow
def test_sigkill_at_five_moments_then_rerun_equals_uninterrupted(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    a, b = tmp_path / "A", tmp_path / "B"
    subprocess.run(_cmd(a), cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    want = _trials(a / "study.db")
    assert len(want) == N_TRIALS and {s for *_, s, _ in want} == {"complete"}
    assert not (tmp_path / "A.partial").exists()

    seen = run_with_kills(_cmd(b), db=tmp_path / "B.partial" / "study.db", study_name="search",
                          kill_at=[0, 2, 5, 8, 11], cwd=tmp_path, env=env, timeout_s=120)
    assert len(set(seen)) == 5  # five different moments
    assert not (tmp_path / "B.partial").exists()  # the store moved into B
    got = _trials(b / "study.db")
    assert count_finished(b / "study.db", "search") == (N_TRIALS, 0)
    assert got == want  # same children, seeds, states and values: nothing lost or repeated
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    assert mb["search"]["trials"] == N_TRIALS
    assert mb["final"]["widths"] == ma["final"]["widths"]
    assert mb["final"]["val"] == ma["final"]["val"]  # the retrained best is the same model
    assert mb["final"]["test"] == ma["final"]["test"]

    shown = _cli("show", str(b), "--json")
    assert shown.exit_code == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["state"] == "complete" and summary["budget"]["finished"] == N_TRIALS
    assert summary["best"]["value"] == max(v for *_, v in want)
    listed = json.loads(_cli("runs", "list", str(tmp_path), "--json").stdout)
    assert sorted((Path(r["path"]).name, r["finished"], r["state"]) for r in listed) == [
        ("A", N_TRIALS, "complete"), ("B", N_TRIALS, "complete")]
    reported = _cli("report", str(b))
    assert reported.exit_code == 0, reported.stderr
    assert (b / "report" / "trials.md").read_text().count("| complete |") == N_TRIALS

    again = _cli(*_cmd(b)[len(CLI):])
    assert again.exit_code == 2 and "finished search" in again.stderr
    resumed = _cli("resume", str(b))
    assert resumed.exit_code == 0 and "already complete" in resumed.stdout


def test_an_interrupted_search_is_shown_and_one_shot_runs_get_a_clear_message(tmp_path):
    from budgetnas.store.rundir import RunDir

    run = RunDir.create(tmp_path / "C.partial", {"command": "search", "args": {"n_trials": 4}})
    run.mark("running")
    assert RunDir.open(tmp_path / "C").path == run.path  # the unfinished store is found
    shown = _cli("show", str(tmp_path / "C"))
    assert shown.exit_code == 1 and "no study 'search' yet" in shown.stderr

    (tmp_path / "oneshot").mkdir()
    (tmp_path / "oneshot" / "metrics.json").write_text("{}")
    for cmd in ("show", "report", "resume"):
        res = _cli(cmd, str(tmp_path / "oneshot"))
        assert res.exit_code == 2 and "one-shot" in res.stderr, (cmd, res.stderr)
