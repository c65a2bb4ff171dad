"""Search, merge, retrain and compare: the whole multi-domain pipeline, and its run directory.

:func:`compare_models` trains and tests the three models of the benchmark on the same domains
with the same recipe (same steps, one batch per domain per step):

- **bundle**: one single-domain network per domain, each on the reference path;
- **shared**: one network, every domain on the reference path (all nodes shared), own heads;
- **multi-path**: the searched paths merged (:class:`MultiPathNetwork` with ``paths``).

Totals count shared nodes once: parameters of the union of nodes + stem(s) + heads; MACs are
summed over the domains (each domain runs its own path on its own image), per image.

:func:`run_search` drives a run directory (``budgetnas.store.rundir``): it resumes the search from
``checkpoints/search.pt`` when one exists, then retrains, each model resuming from its
``checkpoints/retrain-<model>.pt``, and writes ``results.json`` and ``report/report.md``
atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from budgetnas.cost import count_macs, count_parameters
from budgetnas.multidomain.domains import Domain, load_domains
from budgetnas.multidomain.network import MultiPathConfig, MultiPathNetwork
from budgetnas.multidomain.search import MultiDomainSearch, SearchSettings
from budgetnas.multidomain.train import (
    JointTrainConfig,
    checkpoint_info,
    evaluate_domains,
    train_joint,
)
from budgetnas.store.atomic import atomic_write_json, atomic_write_text

__all__ = ["compare_models", "model_costs", "resume_run", "run_search", "write_report"]

Progress = Callable[[str, int, int], None]


def model_costs(net: MultiPathNetwork) -> dict[str, Any]:
    """Parameters (shared nodes once) and per-domain MACs per image of a multi-path network.

    Returns ``{"params", "macs_total", "macs": {domain: MACs}}``; MACs come from
    :func:`budgetnas.cost.count_macs` on each domain's path.
    """
    c = net.config
    shape = (1, c.in_ch, c.image_size, c.image_size)
    macs = {d: count_macs(net.domain_view(d), shape) for d in net.domains}
    return {"params": count_parameters(net), "macs": macs, "macs_total": sum(macs.values())}


def _train_and_test(net: MultiPathNetwork, domains: Sequence[Domain], recipe: JointTrainConfig,
                    progress: Callable[[int, int], None] | None, checkpoint: Path | None,
                    checkpoint_every: int) -> tuple[dict[str, float], float, int]:
    """Train, test; returns (accuracy per domain, CPU seconds of training, step resumed at)."""
    resumed = checkpoint_info(checkpoint)["step"] if checkpoint and checkpoint.is_file() else 0
    t0 = time.process_time()
    train_joint(net, domains, recipe, progress, checkpoint=checkpoint,
                checkpoint_every=checkpoint_every)
    cpu = (checkpoint_info(checkpoint)["cpu_s"] if checkpoint is not None
           else time.process_time() - t0)
    return evaluate_domains(net, domains, "test"), cpu, int(resumed)


def compare_models(domains: Sequence[Domain], config: MultiPathConfig,
                   paths: Mapping[str, Sequence[int]], reference_path: Sequence[int],
                   recipe: JointTrainConfig, *, models: Sequence[str] = ("bundle", "shared",
                                                                         "multipath"),
                   progress: Progress | None = None, checkpoint_dir: str | Path | None = None,
                   checkpoint_every: int = 100) -> dict[str, dict[str, Any]]:
    """Train from scratch and test the bundle, the fully shared and the multi-path model.

    Every network is initialised from ``torch.manual_seed(recipe.seed)`` (bundle members from
    ``recipe.seed + k``), so the comparison does not depend on what ran before. With
    ``checkpoint_dir`` each training checkpoints to ``retrain-<model>.pt`` (bundle members:
    ``retrain-bundle-<domain>.pt``) and a rerun resumes each from its file (see
    :func:`train_joint`); a finished model's file makes the rerun only re-test it.

    Returns ``{model: {"accuracy": {domain: test acc}, "mean_accuracy", "params", "macs",
    "macs_total", "train_s" (CPU seconds of training), "resumed_at" (steps already done when this
    call started), "paths"}}``; the bundle's params / MACs / train_s are sums over its members.
    """
    classes = {d.name: d.num_classes for d in domains}
    ref = tuple(reference_path)
    out: dict[str, dict[str, Any]] = {}
    ckdir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if ckdir is not None:
        ckdir.mkdir(parents=True, exist_ok=True)

    def cb(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda i, n: progress(name, i, n))

    def ck(name: str) -> Path | None:
        return None if ckdir is None else ckdir / f"retrain-{name}.pt"

    for model in models:
        if model == "bundle":
            acc, params, macs, cpu, resumed = {}, 0, {}, 0.0, {}
            for k, d in enumerate(domains):
                torch.manual_seed(recipe.seed + k)
                net = MultiPathNetwork(config, {d.name: d.num_classes}, {d.name: ref})
                a, c, r = _train_and_test(net, [d], recipe, cb(f"bundle:{d.name}"),
                                          ck(f"bundle-{d.name}"), checkpoint_every)
                acc.update(a)
                cpu += c
                resumed[d.name] = r
                cost = model_costs(net)
                params += cost["params"]
                macs.update(cost["macs"])
            res = {"params": params, "macs": macs, "macs_total": sum(macs.values()),
                   "paths": {d.name: list(ref) for d in domains}, "resumed_at": resumed}
        else:
            chosen = ({d: ref for d in classes} if model == "shared"
                      else {d: tuple(paths[d]) for d in classes})
            torch.manual_seed(recipe.seed)
            net = MultiPathNetwork(config, classes, chosen)
            acc, cpu, r = _train_and_test(net, domains, recipe, cb(model), ck(model),
                                          checkpoint_every)
            res = {**model_costs(net), "paths": {d: list(p) for d, p in chosen.items()},
                   "shared_nodes": [list(n) for n in net.shared_nodes()], "resumed_at": r}
        res["accuracy"] = acc
        res["mean_accuracy"] = sum(acc.values()) / len(acc)
        res["train_s"] = cpu
        out[model] = res
    return out


# ------------------------------------------------------------------------------------------------
# run directories


def _settings_from_args(args: Mapping[str, Any]) -> tuple[SearchSettings, JointTrainConfig]:
    s = SearchSettings(**args["search"])
    r = JointTrainConfig(**args["retrain"])
    return s, r


def run_search(run_dir: str | Path, *, progress: Progress | None = None,
               force: bool = False) -> dict[str, Any]:
    """Run (or resume) the multi-domain search stored in ``run_dir`` and write its results.

    ``run.json``'s ``args`` hold ``domains`` (names), ``data`` (``n_train``, ``n_val``,
    ``n_test``, ``seed``, ``data_dir``), ``search`` (:class:`SearchSettings` fields), ``retrain``
    (:class:`JointTrainConfig` fields) and ``models`` (which of bundle / shared / multipath to
    train and test). The search checkpoints to ``checkpoints/search.pt`` and each retraining to
    ``checkpoints/retrain-<model>.pt`` every ``checkpoint_every`` steps; rerunning continues
    from there (a kill in either phase loses at most ``checkpoint_every`` steps).

    Raises
    ------
    StoreError
        When ``run_dir`` is not a run directory.
    DataError, SearchConfigError
        From loading the domains or invalid settings.
    """
    from budgetnas.store.rundir import RunDir

    run = RunDir.open(run_dir)
    args = run.settings()["args"]
    settings, recipe = _settings_from_args(args)
    with run.running():
        domains = load_domains(list(args["domains"]), **args["data"])
        config = MultiPathConfig()
        search = MultiDomainSearch(domains, config, settings)
        ckpt = run.checkpoints_dir / "search.pt"
        resumed_at = 0
        if ckpt.exists():
            search.load(ckpt)
            resumed_at = search.step
        search.run(checkpoint=ckpt, checkpoint_every=int(args.get("checkpoint_every", 50)),
                   progress=None if progress is None else (lambda i, n: progress("search", i, n)))
        paths = search.paths()
        comparison = compare_models(domains, config, paths, search.reference_path, recipe,
                                    models=args.get("models", ["multipath"]), progress=progress,
                                    checkpoint_dir=run.checkpoints_dir,
                                    checkpoint_every=int(args.get("checkpoint_every", 50)))
        results = {
            "domains": {d.name: d.describe() for d in domains},
            "paths": {d: list(p) for d, p in paths.items()},
            "path_labels": {d: config.describe_path(p) for d, p in paths.items()},
            "reference_path": config.describe_path(search.reference_path),
            "target": search.target, "cost_metric": settings.cost_metric,
            "policy": search.probabilities(), "search_steps": search.step,
            "resumed_at_step": resumed_at, "search_s": search.elapsed_s,
            "search": asdict(settings), "retrain": asdict(recipe), "models": comparison,
        }
        atomic_write_json(run.path / "results.json", results)
        write_report(run.path)
    return results


def resume_run(run_dir: str | Path, force: bool = False) -> dict[str, Any]:
    """The ``entry`` of ``budgetnas runs resume``: continue :func:`run_search`."""
    return run_search(run_dir, force=force)


def render_report(results: Mapping[str, Any]) -> str:
    """Markdown report of :func:`run_search`'s results."""
    lines = ["# Multi-domain multi-path search", "", "Domains:", ""]
    lines += [f"- {v}" for v in results["domains"].values()]
    lines += ["", f"Search: {results['search_steps']} steps ({results['search_s']:.0f} s), "
              f"weighting `{results['search']['weighting']}`, reward TuNAS abs on "
              f"{results['cost_metric']} with T0 = {results['target']:,.0f} "
              f"(the reference path {results['reference_path']}), β = {results['search']['beta']}.",
              "", "| domain | searched path |", "|---|---|"]
    lines += [f"| {d} | {p} |" for d, p in results["path_labels"].items()]
    models = results["models"]
    names = list(results["domains"])
    lines += ["", "Test accuracy after retraining from scratch "
              f"({results['retrain']['steps']} joint steps, batch {results['retrain']['batch_size']}"
              " per domain); parameters count shared nodes once; MACs per image summed over the "
              "domains.", "",
              "| model | " + " | ".join(names) + " | mean | params | MACs (total) | train CPU s |",
              "|---" * (len(names) + 5) + "|"]
    for m, r in models.items():
        accs = " | ".join(f"{100 * r['accuracy'][d]:.2f}" for d in names)
        lines.append(f"| {m} | {accs} | {100 * r['mean_accuracy']:.2f} | {r['params']:,} | "
                     f"{r['macs_total']:,} | {r['train_s']:.0f} |")
    resumed = {m: r.get("resumed_at") for m, r in models.items() if r.get("resumed_at")}
    if results.get("resumed_at_step") or resumed:
        done = ", ".join(f"{m} at step {v}" for m, v in sorted(resumed.items())) or "none"
        lines += ["", f"Resumed: search at step {results.get('resumed_at_step', 0)}; "
                  f"retraining: {done}."]
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path) -> Path:
    """The ``report`` of ``budgetnas runs report``: ``report/report.md`` from ``results.json``.

    Raises
    ------
    StoreError
        When the run has no ``results.json`` yet (the search has not finished).
    """
    import json

    from budgetnas.errors import StoreError

    path = Path(run_dir)
    res = path / "results.json"
    if not res.is_file():
        raise StoreError(f"{path} has no results.json yet: finish the run with "
                         f"`budgetnas runs resume {path}` first")
    out = path / "report" / "report.md"
    out.parent.mkdir(exist_ok=True)
    atomic_write_text(out, render_report(json.loads(res.read_text(encoding="utf-8"))))
    return out
