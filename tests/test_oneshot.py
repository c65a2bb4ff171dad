"""The one-shot loop: warm-up, interleaved controller feedback, checkpoints and exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.errors import SearchConfigError
from budgetnas.oneshot import (
    BatchStream,
    Callback,
    Checkpoint,
    OneShotSearch,
    SupervisedTask,
    WeightSharingTask,
    accuracy_reward,
    policy_probabilities,
)
from budgetnas.search import Random, TabNAS
from budgetnas.spaces.mlp import MLPSpace
from budgetnas.supernet.mlp import MLPSupernet, SlicedAdam
from budgetnas.tabular.train import task_loss

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LETTER = DATA / "tabular" / "mlbench" / "letterrecognition.csv.gz"

# papers.md §2 toy: losses of the 3 x 3 two-layer widths {2, 3, 4}; budget 25; best feasible 4-2.
TOY_LOSS = np.array([[0.9, 0.9, 0.66], [0.9, 0.66, 0.3], [0.6, 0.3, 0.1]])


class ToyTask(WeightSharingTask):
    """Reward = 1 - the toy loss of the child; records what the loop asked for."""

    def __init__(self, space: MLPSpace) -> None:
        self.space = space
        self.trained: list[tuple] = []
        self.warmup_calls: list[float] = []
        self.rewarded: list[tuple] = []

    def decode(self, dna):
        return self.space.widths_of(list(dna))

    def warmup_child(self, child, p, rng):
        self.warmup_calls.append(p)
        return (4, 4) if rng.random() < p else child

    def train_step(self, child) -> float:
        self.trained.append(tuple(child))
        return 0.0

    def reward(self, child) -> float:
        self.rewarded.append(tuple(child))
        i, j = (self.space.widths.index(w) for w in child)
        return 1.0 - TOY_LOSS[i, j]


def toy_space() -> MLPSpace:
    return MLPSpace(n_in=2, n_out=1, widths=[2, 3, 4], depths=[2])


def test_warmup_trains_the_supernet_alone_then_every_step_feeds_back():
    space = toy_space()
    budget = space.constraint(25)
    task = ToyTask(space)
    algo = TabNAS(seed=0)
    search = OneShotSearch(task, algo, space.spec, constraints=[budget],
                           cost=space.param_cost(), steps=400, warmup_fraction=0.25, seed=0)
    result = search.run()
    assert result.steps_done == 400 and result.stopped == "steps"
    phases = [r.phase for r in result.history]
    assert phases == ["warmup"] * 100 + ["search"] * 300
    # warm-up: the probability of widening falls linearly from 1 towards 0; no reward
    assert task.warmup_calls[0] == 1.0 and task.warmup_calls[-1] == pytest.approx(0.01)
    assert np.all(np.diff(task.warmup_calls) < 0)
    assert all(r.reward is None for r in result.history[:100])
    # search: the trained child is the sampled one, rewarded once, and feasible
    assert len(task.rewarded) == 300 and task.trained[100:] == task.rewarded
    assert all(r.feasible and r.cost <= 25 for r in result.history)
    assert algo.controller.num_updates == 300
    # the toy's best feasible child is the bottleneck 4-2 (TabNAS finds it in most runs)
    assert space.widths_of(list(algo.most_probable_feasible())) in {(4, 2), (3, 3), (2, 4)}


def test_policy_snapshots_are_distributions_per_decision():
    space = toy_space()
    search = OneShotSearch(ToyTask(space), TabNAS(seed=1), space.spec,
                           constraints=[space.constraint(25)], steps=200, policy_every=20)
    result = search.run()
    steps = [s for s, _ in result.policy]
    assert steps == list(range(0, 201, 20))
    for _, probs in result.policy:
        assert [len(p) for p in probs] == [1, 3, 3]
        assert all(abs(p.sum() - 1) < 1e-9 for p in probs)
    assert np.allclose(result.policy[0][1][1], 1 / 3)  # uniform before any update
    assert not np.allclose(result.policy[-1][1][1], 1 / 3)
    assert policy_probabilities(Random(seed=0)) is None


def test_checkpoint_hook_is_called_every_k_steps_and_the_time_budget_stops():
    space = toy_space()
    seen = []

    class Hook(Callback):
        def on_checkpoint(self, search):
            seen.append(search.step)

    search = OneShotSearch(ToyTask(space), TabNAS(seed=0), space.spec,
                           constraints=[space.constraint(25)], steps=100, callbacks=[Hook()],
                           checkpoint_every=30)
    search.run()
    assert seen == [30, 60, 90]
    stopped = OneShotSearch(ToyTask(space), TabNAS(seed=0), space.spec, steps=10_000,
                            time_budget_s=0.0).run()
    assert stopped.stopped == "time" and stopped.steps_done == 0


def test_bad_settings_raise():
    space = toy_space()
    with pytest.raises(SearchConfigError, match="steps"):
        OneShotSearch(ToyTask(space), TabNAS(), space.spec, steps=0)
    with pytest.raises(SearchConfigError, match="warmup_fraction"):
        OneShotSearch(ToyTask(space), TabNAS(), space.spec, steps=10, warmup_fraction=1.0)


def test_batch_stream_covers_every_row_once_per_epoch_and_resumes():
    x = torch.arange(10, dtype=torch.float32)[:, None]
    y = torch.arange(10)
    stream = BatchStream(x, y, batch_size=4, seed=3)
    rows = torch.cat([stream.next()[1] for _ in range(3)])
    assert sorted(rows.tolist()) == list(range(10))
    state = stream.state_dict()
    after = [stream.next()[1].tolist() for _ in range(5)]
    again = BatchStream(x, y, batch_size=4, seed=99)
    again.load_state_dict(state)
    assert [again.next()[1].tolist() for _ in range(5)] == after
    with pytest.raises(ValueError, match="rows"):
        BatchStream(x[:0], y[:0], 4)


def _letter(n_rows: int = 3000):
    if not LETTER.exists():
        pytest.skip(f"real data folder missing: {LETTER}")
    from budgetnas.tabular import load_tabular, read_table

    frame = read_table(LETTER).iloc[:n_rows]
    return load_tabular(frame, "lettr", seed=0)


def _letter_search(data, steps: int, seed: int = 0, callbacks=()):
    torch.manual_seed(seed)
    space = MLPSpace(data.n_features, data.n_outputs, widths=[8, 16, 32, 64], depths=[1, 2])
    budget = space.constraint(2500)
    net = MLPSupernet(space.n_in, space.feasible_max_widths(2500), space.n_out)
    task = SupervisedTask(
        net, SlicedAdam(net, lr=3e-3),
        BatchStream(torch.as_tensor(data.X_train), torch.as_tensor(data.y_train), 128, seed),
        BatchStream(torch.as_tensor(data.X_val), torch.as_tensor(data.y_val), 512, seed + 1),
        lambda out, y: task_loss(out, y, "multiclass"), accuracy_reward,
        decode=lambda dna: space.widths_of(list(dna)), warmup=net.warmup_widths)
    algo = TabNAS(seed=seed)
    search = OneShotSearch(task, algo, space.spec, constraints=[budget], cost=space.param_cost(),
                           steps=steps, seed=seed, callbacks=callbacks)
    return search, space, budget


@pytest.mark.slow
def test_real_supernet_search_on_letter_learns_and_stays_within_budget():
    torch.set_num_threads(1)
    data = _letter()
    search, space, budget = _letter_search(data, steps=600)
    result = search.run()
    rewards = [r.reward for r in result.history if r.reward is not None]
    assert len(rewards) == 450
    assert np.mean(rewards[-50:]) > np.mean(rewards[:50]) + 0.05  # shared weights improved
    assert all(r.cost <= 2500 for r in result.history)
    # warm-up widened layers to the largest feasible width (first layer 64 at this budget)
    assert any(r.trained[0] == 64 for r in result.history[:20])
    pick = space.widths_of(list(search.algorithm.most_probable_feasible()))
    assert space.params(space.dna_of(pick)) <= 2500


def test_resume_from_a_checkpoint_continues_exactly():
    torch.set_num_threads(1)
    data = _letter(1500)
    states = []

    class Save(Callback):
        def on_checkpoint(self, search):
            states.append(search.state_dict())

    full, _, _ = _letter_search(data, steps=80, callbacks=[Save()])
    full.checkpoint_every = 40
    reference = full.run()
    resumed, _, _ = _letter_search(data, steps=80, seed=0)
    resumed.load_state_dict(states[0])  # taken at step 40
    assert resumed.step == 40
    result = resumed.run()
    key = [(r.dna, r.trained, round(r.loss, 6), r.reward) for r in reference.history]
    assert [(r.dna, r.trained, round(r.loss, 6), r.reward) for r in result.history] == key
    with pytest.raises(SearchConfigError, match="steps"):
        _letter_search(data, steps=81)[0].load_state_dict(states[0])


def test_checkpoint_file_resumes_a_search(tmp_path):
    torch.set_num_threads(1)
    data = _letter(1500)
    path = tmp_path / "search.ckpt"
    reference = _letter_search(data, steps=50)[0].run()
    state_after = []

    class Stop(Callback):  # a crash right after the checkpoint of step 40
        def on_checkpoint(self, search):
            state_after.append(search.step)
            if search.step == 40:
                raise KeyboardInterrupt

    crashing, _, _ = _letter_search(data, steps=50, callbacks=[Checkpoint(path), Stop()])
    crashing.checkpoint_every = 20
    with pytest.raises(KeyboardInterrupt):
        crashing.run()
    assert state_after == [20, 40] and path.exists()
    resumed, _, _ = _letter_search(data, steps=50)
    resumed.load_checkpoint(path)
    result = resumed.run()
    assert [r.reward for r in result.history] == [r.reward for r in reference.history]


def test_most_probable_feasible_by_enumeration_agrees_with_tabnas():
    from budgetnas.tabular.search import most_probable_feasible

    space = MLPSpace(n_in=2, n_out=1, widths=[2, 3, 4], depths=[1, 2])
    budget = space.constraint(25)
    algo = TabNAS(seed=3)
    OneShotSearch(ToyTask2(space), algo, space.spec, constraints=[budget], steps=300).run()
    probs = policy_probabilities(algo)
    ours = most_probable_feasible(space, probs, budget)
    assert ours == algo.most_probable_feasible()
    # and it is the argmax of log p over the feasible set, computed naively
    best = max((dna for dna in space.space.iter_dna() if budget.feasible(dna)),
               key=lambda d: np.sum([np.log(probs[i][v]) for i, v in
                                     zip(np.flatnonzero(space.space.to_vector(d) >= 0), d)]))
    assert ours == best


class ToyTask2(ToyTask):
    """The toy reward extended to depth 1 (a single layer scores like its 2-layer mean)."""

    def reward(self, child) -> float:
        if len(child) == 1:
            i = self.space.widths.index(child[0])
            return 1.0 - TOY_LOSS[i].mean()
        return super().reward(child)

    def warmup_child(self, child, p, rng):
        return child


def test_record_constraints_mark_samples_over_a_soft_budget_without_changing_them():
    """TuNAS's absolute reward does not enforce the budget; the history's ``feasible`` must
    still say whether each sampled child fits it, and recording must not change the samples."""
    from budgetnas.search import Reinforce

    space = toy_space()
    cost = space.param_cost()

    def run(record):
        algo = Reinforce(reward="abs", cost=cost, target=25, seed=3)
        return OneShotSearch(ToyTask(space), algo, space.spec, record_constraints=record,
                             cost=cost, steps=120, seed=3).run().history

    plain, recorded = run(()), run([space.constraint(25)])
    assert [r.dna for r in plain] == [r.dna for r in recorded]
    assert [r.reward for r in plain] == [r.reward for r in recorded]
    assert all(r.feasible for r in plain)  # nothing to check against: vacuously feasible
    fits = [r.cost <= 25 for r in recorded]
    assert [r.feasible for r in recorded] == fits
    assert 0 < sum(fits) < len(fits)  # some samples over the soft budget, some within
