"""Multi-domain search (papers.md §9): op warm-up in the search loop, and resuming the retraining
phase after a kill, both in :func:`train_joint` and through a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from budgetnas.errors import SearchConfigError
from budgetnas.multidomain.domains import load_domain
from budgetnas.multidomain.network import MultiPathConfig, MultiPathNetwork
from budgetnas.multidomain.search import MultiDomainSearch, SearchSettings
from budgetnas.multidomain.train import JointTrainConfig, checkpoint_info, train_joint

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CFG = MultiPathConfig()
PATHS = {"fashion-mnist": (0, 1, 2, 3, 4, 0), "digits": (0, 2, 2, 1, 4, 1)}


class Killed(Exception):
    """Stands in for a SIGKILL: raised from a progress callback mid-training."""


@pytest.fixture(scope="module")
def domains():
    fashion = DATA / "image" / "fashion-mnist"
    if not fashion.is_dir():
        pytest.skip(f"real data folder {fashion} is missing")
    kw = dict(n_train=64, n_val=32, n_test=48, seed=0)
    return [load_domain(n, data_dir=fashion, **kw) for n in ("fashion-mnist", "digits")]


def _net(seed: int = 0) -> MultiPathNetwork:
    torch.manual_seed(seed)
    return MultiPathNetwork(CFG, {"fashion-mnist": 10, "digits": 10}, PATHS)


def _kill_at(step: int):
    def progress(i: int, n: int) -> None:
        if i == step:
            raise Killed

    return progress


@pytest.mark.slow  # four short trainings and checkpoints: ~6-12 s on 2 shared cores
def test_train_joint_resumes_after_a_kill_to_the_same_weights(tmp_path, domains):
    cfg = JointTrainConfig(steps=7, batch_size=16, weighting="focal", seed=4)
    full = _net()
    log_full = train_joint(full, domains, cfg)

    ckpt = tmp_path / "retrain.pt"
    killed = _net()
    with pytest.raises(Killed):
        train_joint(killed, domains, cfg, _kill_at(5), checkpoint=ckpt, checkpoint_every=2)
    assert checkpoint_info(ckpt)["step"] == 4  # the last save before the kill
    resumed = _net(seed=99)  # another initialisation: everything must come from the file
    log = train_joint(resumed, domains, cfg, checkpoint=ckpt, checkpoint_every=2)
    info = checkpoint_info(ckpt)
    assert info["step"] == info["total"] == 7 and info["cpu_s"] > 0
    assert log == log_full
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    # A finished checkpoint trains no further.
    again = _net(seed=5)
    train_joint(again, domains, cfg, _kill_at(1), checkpoint=ckpt)
    assert torch.equal(again.heads["digits"].weight, full.heads["digits"].weight)
    with pytest.raises(SearchConfigError, match="delete it to start over"):
        train_joint(_net(), domains, JointTrainConfig(steps=9, batch_size=16, seed=4),
                    checkpoint=ckpt)


def test_search_op_warmup_schedule_and_flags(domains):
    s = SearchSettings(steps=8, batch_size=8, val_batch_size=16, warmup_fraction=0.5, seed=1)
    search = MultiDomainSearch(domains, CFG, s)
    assert [search.warmup_probability(i) for i in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    search.run()
    mixed = [h["digits"]["mixed_layers"] for h in search.history]
    assert mixed[0] == CFG.num_layers  # p = 1: every layer averages all its ops
    assert mixed[4:] == [0, 0, 0, 0] and sum(mixed[1:4]) > 0
    off = MultiDomainSearch(domains, CFG, SearchSettings(**{**s.__dict__, "op_warmup": False}))
    assert off.warmup_probability(0) == 0.0
    off.run(steps=2)
    assert [h["digits"]["mixed_layers"] for h in off.history] == [0, 0]


@pytest.mark.slow  # two tiny pipelines with MAC counting: ~15 s on 2 shared cores
def test_run_directory_resumes_retraining_after_a_kill(tmp_path, domains):
    from budgetnas.multidomain.pipeline import run_search
    from budgetnas.store.rundir import RunDir

    args = {"domains": ["digits", "fashion-mnist"],
            "data": {"n_train": 64, "n_val": 32, "n_test": 48, "seed": 0,
                     "data_dir": str(DATA / "image" / "fashion-mnist")},
            "search": {"steps": 4, "batch_size": 8, "val_batch_size": 16, "seed": 2},
            "retrain": {"steps": 6, "batch_size": 16, "seed": 2},
            "models": ["shared", "multipath"], "checkpoint_every": 2}
    settings = {"command": "search-multidomain", "args": args, "study_name": "multidomain",
                "entry": "budgetnas.multidomain.pipeline:resume_run",
                "report": "budgetnas.multidomain.pipeline:write_report"}
    RunDir.create(tmp_path / "full", settings)
    full = run_search(tmp_path / "full")

    RunDir.create(tmp_path / "killed", settings)

    def kill(name: str, i: int, n: int) -> None:
        if name == "multipath" and i == 5:
            raise Killed

    with pytest.raises(Killed):
        run_search(tmp_path / "killed", progress=kill)
    assert not (tmp_path / "killed" / "results.json").exists()
    ck = tmp_path / "killed" / "checkpoints"
    assert checkpoint_info(ck / "retrain-shared.pt")["step"] == 6
    assert checkpoint_info(ck / "retrain-multipath.pt")["step"] == 4
    resumed = run_search(tmp_path / "killed", force=True)
    assert resumed["resumed_at_step"] == 4  # the search was complete
    assert resumed["models"]["shared"]["resumed_at"] == 6
    assert resumed["models"]["multipath"]["resumed_at"] == 4
    for m in ("shared", "multipath"):
        assert resumed["models"][m]["accuracy"] == full["models"][m]["accuracy"]
        assert resumed["models"][m]["params"] == full["models"][m]["params"]
    report = (tmp_path / "killed" / "report" / "report.md").read_text()
    assert "Resumed: search at step 4; retraining: multipath at step 4, shared at step 6." in report
    saved = json.loads((tmp_path / "killed" / "results.json").read_text())
    assert saved["models"]["multipath"]["accuracy"] == full["models"]["multipath"]["accuracy"]
