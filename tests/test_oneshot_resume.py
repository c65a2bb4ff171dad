"""One-shot searches stopped at a step and resumed from their last checkpoint end exactly where an
uninterrupted search with the same seed ends: same pick, controller state, supernet weights and
step history (image TuNAS / TabNAS on digits, tabular TabNAS / abs through ``search_table``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.errors import SettingsMismatchError, StoreError
from budgetnas.oneshot import (
    Callback,
    OneShotSearch,
    RunCheckpoint,
    WeightSharingTask,
    checkpoint_progress,
    resume_if_checkpointed,
)
from budgetnas.search import TabNAS
from budgetnas.spaces.mlp import MLPSpace


class StopAt(Callback):
    """Simulates a crash: raises KeyboardInterrupt once the search has done ``step`` steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, search, record) -> None:
        if search.step == self.step:
            raise KeyboardInterrupt


def assert_same(a, b, path: str = "") -> None:
    """Exact equality of nested states (tensors, arrays, dicts, lists, scalars)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, np.asarray(b)), path
    elif isinstance(a, Mapping):
        assert set(a) == set(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# ------------------------------------------------------------------------------------------------
# The loop and the checkpoint files (toy task: fast)


class NoisyToy(WeightSharingTask):
    """Reward = first width / 4 plus noise from torch's global generator (as dropout would)."""

    def __init__(self, space: MLPSpace) -> None:
        self.space = space

    def decode(self, dna):
        return self.space.widths_of(list(dna))

    def train_step(self, child) -> float:
        return float(torch.rand(()))

    def reward(self, child) -> float:
        return child[0] / 4 + 0.1 * float(torch.rand(()))


def _toy(steps: int = 60, callbacks=(), every: int = 0) -> OneShotSearch:
    space = MLPSpace(n_in=2, n_out=1, widths=[2, 3, 4], depths=[2])
    return OneShotSearch(NoisyToy(space), TabNAS(seed=0), space.spec,
                         constraints=[space.constraint(25)], steps=steps, seed=0,
                         callbacks=callbacks, checkpoint_every=every)


def test_checkpoint_files_and_torch_rng_make_a_resume_exact(tmp_path):
    torch.manual_seed(0)
    reference = _toy().run()
    torch.manual_seed(0)
    crashing = _toy(callbacks=[RunCheckpoint(tmp_path), StopAt(37)], every=10)
    with pytest.raises(KeyboardInterrupt):
        crashing.run()
    assert checkpoint_progress(tmp_path)["step"] == 30  # the last checkpoint before the crash
    assert checkpoint_progress(tmp_path / "none") is None
    torch.manual_seed(123)  # another process: torch's generator must come from the checkpoint
    resumed = _toy()
    assert resume_if_checkpointed(resumed, tmp_path) == 30
    result = resumed.run()
    assert result.resumed_from == 30
    assert [r.reward for r in result.history] == [r.reward for r in reference.history]
    assert [r.dna for r in result.history] == [r.dna for r in reference.history]
    assert_same(resumed.algorithm.state_dict(), _final_toy_state())
    assert [s for s, _ in result.policy] == [s for s, _ in reference.policy]


def _final_toy_state():
    torch.manual_seed(0)
    search = _toy()
    search.run()
    return search.algorithm.state_dict()


def test_no_checkpoint_starts_from_zero_and_a_corrupt_one_is_a_store_error(tmp_path):
    assert resume_if_checkpointed(_toy(), tmp_path) == 0
    (tmp_path / "oneshot.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StoreError, match="cannot resume from"):
        resume_if_checkpointed(_toy(), tmp_path)


# ------------------------------------------------------------------------------------------------
# Image search (TuNAS and TabNAS on digits, 8×8)


@pytest.fixture(scope="module")
def digits():
    from budgetnas.vision.search import image_costs, load_digits_data

    data = load_digits_data(seed=0)
    costs = image_costs("proxylessnas", width_mult=0.25, input_size=8,
                        num_classes=data.num_classes, in_channels=1)
    return data, costs


def _image_search(digits, algorithm: str, callbacks=(), every: int = 0):
    from budgetnas.vision.search import build_tunas_search

    data, costs = digits
    return build_tunas_search(costs.space, data, costs.macs_cost(), 200_000, steps=16,
                              algorithm=algorithm, batch_size=32, val_batch_size=64, seed=3,
                              callbacks=callbacks, checkpoint_every=every)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["abs", "tabnas"])
def test_image_search_stopped_at_a_step_then_resumed_equals_uninterrupted(tmp_path, digits,
                                                                         algorithm):
    from budgetnas.vision.search import tunas_pick

    torch.set_num_threads(1)
    full = _image_search(digits, algorithm)
    reference = full.run()
    crashing = _image_search(digits, algorithm, [RunCheckpoint(tmp_path), StopAt(11)], every=4)
    with pytest.raises(KeyboardInterrupt):
        crashing.run()
    resumed = _image_search(digits, algorithm)
    assert resume_if_checkpointed(resumed, tmp_path) == 8
    result = resumed.run()
    assert tunas_pick(resumed, algorithm) == tunas_pick(full, algorithm)
    assert_same(resumed.algorithm.state_dict(), full.algorithm.state_dict(), "controller")
    assert_same(resumed.task.supernet.state_dict(), full.task.supernet.state_dict(), "supernet")
    assert [(r.dna, r.trained, r.loss, r.reward) for r in result.history] == \
        [(r.dna, r.trained, r.loss, r.reward) for r in reference.history]
    assert sum(r.phase == "search" for r in result.history) == 12  # the controller did learn


# ------------------------------------------------------------------------------------------------
# Tabular one-shot search through search_table's run directory


def _table(store: Path, algorithm: str = "tabnas", callbacks=(), max_params: float = 3000):
    from budgetnas.tabular.search import Recipe, search_table

    return search_table(dataset="adult", max_params=max_params, algorithm=algorithm, steps=90,
                        seed=2, device="cpu", recipe=Recipe(max_epochs=1), n_random=0,
                        reference=False, store_dir=store, checkpoint_every=25,
                        callbacks=callbacks)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["tabnas", "abs"])
def test_tabular_one_shot_stopped_then_resumed_equals_uninterrupted(tmp_path, algorithm):
    a, b = tmp_path / "A.partial", tmp_path / "B.partial"
    reference = _table(a, algorithm)
    with pytest.raises(KeyboardInterrupt):
        _table(b, algorithm, callbacks=[StopAt(60)])
    assert json.loads((b / "status.json").read_text())["state"] == "interrupted"
    assert json.loads((b / "run.json").read_text())["kind"] == "oneshot"
    assert checkpoint_progress(b / "checkpoints")["step"] == 50
    with pytest.raises(SettingsMismatchError, match="max_params"):
        _table(b, algorithm, max_params=4000)
    resumed = _table(b, algorithm)
    assert resumed.oneshot.resumed_from == 50
    assert resumed.widths == reference.widths
    assert [r.reward for r in resumed.oneshot.history] == \
        [r.reward for r in reference.oneshot.history]
    final_a = torch.load(a / "checkpoints" / "oneshot.pt", weights_only=False)
    final_b = torch.load(b / "checkpoints" / "oneshot.pt", weights_only=False)
    assert final_a["step"] == final_b["step"] == 90
    assert_same(final_b["algorithm"], final_a["algorithm"], "controller")
    assert_same(final_b["task"]["supernet"], final_a["task"]["supernet"], "supernet")
    out = resumed.save(tmp_path / "B")  # the store moves into the run directory
    assert not b.exists() and (out / "checkpoints" / "oneshot.pt").is_file()
    assert json.loads((out / "status.json").read_text())["state"] == "complete"
    assert json.loads((out / "metrics.json").read_text())["search"]["resumed_from"] == 50
