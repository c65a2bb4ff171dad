"""Neural Predictor on the real NAS tables: ranking quality (Kendall τ on held-out children) of
the one-hot MLP (NAS-Bench-Macro) and the bidirectional GCN (NAS-Bench-201)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetnas.search import NeuralPredictor, nb201_graph, onehot_encode

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nas"
needs_data = pytest.mark.skipif(not DATA.exists(), reason=f"real NAS tables not found at {DATA}")


@pytest.fixture(scope="module")
def macro():
    from budgetnas.nasbench.macro import load_nas_bench_macro

    return load_nas_bench_macro(DATA / "nas-bench-macro_cifar10.json")


@needs_data
def test_macro_table_loads_in_table_order(macro):
    assert macro.X.shape == (6561, 8)
    np.testing.assert_array_equal(macro.index(macro.X), np.arange(6561))
    best = macro.index([[2, 2, 2, 1, 2, 2, 2, 0]])[0]  # the README's best child
    assert macro.mean_acc[best] == pytest.approx(macro.mean_acc.max())


@needs_data
def test_mlp_predictor_ranks_held_out_macro_children(macro):
    from budgetnas.nasbench.macro import macro_space

    rng = np.random.default_rng(0)
    idx = rng.permutation(6561)
    train, test = idx[:100], idx[100:2100]
    pred = NeuralPredictor(seed=0)
    pred.setup(macro_space().spec)
    pred.fit(macro.X[train], macro.mean_acc[train])
    tau = pred.kendall_tau(macro.X[test], macro.mean_acc[test])
    assert tau > 0.75  # measured 0.87


@needs_data
@pytest.mark.slow
def test_gcn_predictor_ranks_held_out_nb201_cells():
    from budgetnas.nasbench import load_nb201_accuracy, nb201_space

    _, table, names = load_nb201_accuracy(DATA / "nb201_12epoch_accuracy.csv.gz")
    y = table[:, names.index("cifar10-val")]
    X = np.stack(np.unravel_index(np.arange(15625), (5,) * 6), axis=1)
    rng = np.random.default_rng(0)
    idx = rng.permutation(15625)
    train, test = idx[:100], idx[100:3100]
    pred = NeuralPredictor(graph=nb201_graph, seed=0)
    assert pred.model == "gcn"
    pred.setup(nb201_space().spec)
    pred.fit(X[train], y[train])
    assert pred.kendall_tau(X[test], y[test]) > 0.45  # measured 0.58


def test_nb201_graph_drops_none_edges():
    A, F = nb201_graph(np.array([[3, 0, 1, 4, 0, 0], [1, 1, 1, 1, 1, 1]]))
    assert A.shape == (2, 8, 8) and F.shape == (2, 8, 7)
    assert A[1, 0, 1] == 1 and A[1, 1, 3] == 1 and A[1, 6, 7] == 1  # 1<-0 feeds 2<-1
    assert A[0, 0, 2] == 0 and A[0, 5].sum() == 0  # none edges carry nothing
    np.testing.assert_array_equal(F[0, 1:7].argmax(axis=1), 2 + np.array([3, 0, 1, 4, 0, 0]))


def test_onehot_encoding_marks_inactive_as_zeros():
    out = onehot_encode(np.array([[1, -1, 0]]), [2, 3, 2])
    np.testing.assert_array_equal(out, [[0, 1, 0, 0, 0, 1, 0]])


def test_predictor_proposes_its_top_predictions_and_never_repeats():
    import budgetnas as bn

    space = bn.Space({"x": [bn.oneof(list(range(5)), name=f"d{i}") for i in range(4)]})
    algo = NeuralPredictor(num_initial=30, num_candidates=10_000, top_k=10, epochs=100, seed=0)
    algo.setup(space.spec)
    seen = []
    for _ in range(60):
        dna = algo.propose()
        seen.append(tuple(dna))
        algo.feedback(dna, float(np.dot(dna, [1.0, 2.0, -1.0, 0.5])))
    assert len(set(seen)) == 60
    # after learning a linear reward, its rounds go for the top: (4, 4, 0, 4) scores 14
    later = np.array(seen[30:])
    assert np.mean(later @ [1.0, 2.0, -1.0, 0.5]) > np.mean(np.array(seen[:30]) @ [1.0, 2.0, -1.0, 0.5]) + 4
    assert len(algo.round_taus_) == 3


def _warm_ensemble(seed: int) -> NeuralPredictor:
    return NeuralPredictor(num_initial=12, num_candidates=200, top_k=6, epochs=12, hidden=(16,),
                           ensemble=3, target="rank", warm_start=True, warm_epochs=4, seed=seed)


def test_warm_started_rank_ensemble_is_seeded_and_resumes_exactly():
    from tests.algorithm_checks import check_resume, check_same_seed, twelve_decision_space

    space = twelve_decision_space()
    check_same_seed(_warm_ensemble, space, n=40)
    # split mid-round: the warm regressor's weights travel in the (JSON) state
    check_resume(_warm_ensemble, space, n=40, split=21)


def test_rank_target_maps_predictions_back_monotonically():
    import budgetnas as bn

    space = bn.Space({"x": [bn.oneof(list(range(4)), name=f"d{i}") for i in range(3)]})
    X = np.array(list(space.spec.iter_vectors()))
    y = X @ np.array([1.0, 2.0, 3.0])
    y[X[:, 0] == 0] = -100.0  # a long failed tail that MSE on raw rewards would chase
    pred = NeuralPredictor(epochs=200, ensemble=4, target="rank", seed=0)
    pred.setup(space.spec)
    pred.fit(X, y)
    p = pred.predict(X)
    good = X[:, 0] > 0
    assert pred.kendall_tau(X[good], y[good]) > 0.8  # ranks the healthy children well
    assert p[~good].max() < p[good].min() + 1.0 and p.min() >= y.min() - 3 * y.std()
    with pytest.raises(Exception, match="target must be"):
        NeuralPredictor(target="raw")


@needs_data
def test_benchmark_predictor_ranks_held_out_macro_children(macro):
    from budgetnas.nasbench.macro import macro_space

    idx = np.random.default_rng(0).permutation(6561)
    pred = NeuralPredictor(ensemble=5, target="rank", epochs=100, seed=0)
    pred.setup(macro_space().spec)
    pred.fit(macro.X[idx[:100]], macro.mean_acc[idx[:100]])
    assert pred.kendall_tau(macro.X[idx[100:2100]], macro.mean_acc[idx[100:2100]]) > 0.75
