"""Multi-domain multi-path search (Wang et al., WACV 2021, papers.md §9).

Several image domains share one supernet of (layer, op) nodes with their own weights; one
REINFORCE controller per domain (:class:`budgetnas.Reinforce`, TuNAS absolute reward) picks that
domain's path; the paths are merged (nodes where domains agree are shared) and retrained jointly.

>>> domains = load_domains(["fashion-mnist", "digits", "mnist5k"], n_train=1000)  # doctest: +SKIP
>>> search = MultiDomainSearch(domains, MultiPathConfig(), SearchSettings(steps=200))
>>> paths = search.run()
>>> net = MultiPathNetwork(MultiPathConfig(), {d.name: d.num_classes for d in domains}, paths)
"""

from budgetnas.multidomain.domains import DOMAINS, Domain, load_domain, load_domains, make_domain
from budgetnas.multidomain.network import (
    LayerSpec,
    MultiPathConfig,
    MultiPathNetwork,
    OpSpec,
    PathCost,
    path_space,
)
from budgetnas.multidomain.pipeline import compare_models, model_costs, run_search, write_report
from budgetnas.multidomain.search import MultiDomainSearch, SearchSettings
from budgetnas.multidomain.train import (
    JointTrainConfig,
    checkpoint_info,
    evaluate_domains,
    recalibrate_bn,
    train_joint,
)
from budgetnas.multidomain.weighting import WEIGHTINGS, domain_weights

__all__ = ["DOMAINS", "WEIGHTINGS", "Domain", "JointTrainConfig", "LayerSpec", "MultiDomainSearch",
           "MultiPathConfig", "MultiPathNetwork", "OpSpec", "PathCost", "SearchSettings",
           "checkpoint_info", "compare_models", "domain_weights", "evaluate_domains", "load_domain", "load_domains",
           "make_domain", "model_costs", "path_space", "recalibrate_bn", "run_search",
           "train_joint", "write_report"]
