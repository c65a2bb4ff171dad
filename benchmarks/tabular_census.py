"""TabNAS on UCI KDD Census-Income (199,523 + 99,762 rows × 40 features): time, memory, accuracy.

Reads the two CSV files (no header; names from ``columns.txt``; ``instance_weight`` is a survey
weight and is dropped), runs :func:`budgetnas.tabular.search.search_table` with default
settings at a parameter budget, and writes ``benchmarks/results/tabular_census.md``.
Targets: at most 20 minutes on 2 cores and 4 GB of memory.

Usage::

    python benchmarks/tabular_census.py [--max-params 20000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import pandas as pd
import torch

from budgetnas.tabular.search import search_table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tabular" / "census-income"
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-params", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    names = (DATA / "columns.txt").read_text().split()
    read = dict(header=None, names=names, skipinitialspace=True, na_values=["?"])
    train = pd.read_csv(DATA / "census_income_1994_1995_train.csv.gz", **read)
    test = pd.read_csv(DATA / "census_income_1994_1995_test.csv.gz", **read)
    result = search_table(train, "income", test=test, max_params=args.max_params, seed=args.seed,
                          drop_columns=["instance_weight"])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = result.metrics_dict()
    f, r, h = m["final"], m["random_best"], m["hist_gradient_boosting"]
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    load = os.getloadavg()
    md = [
        "# TabNAS on Census-Income",
        "",
        f"Command: `python benchmarks/tabular_census.py --max-params {args.max_params} "
        f"--seed {args.seed}` (search_table with default settings: TabNAS one-shot, "
        f"{m['search']['steps']:,} steps, final retraining, equal-compute random children, "
        "HistGradientBoosting).",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), torch {torch.__version__}. Load average at "
        f"the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other jobs shared the machine, "
        "so times are upper bounds).",
        "",
        f"Data: {m['data']['n_train']:,} training / {m['data']['n_val']:,} validation rows "
        f"(the official training file), {m['data']['n_test']:,} test rows (the official test "
        f"file), {m['data']['n_features']} features after preprocessing; 6.2 % positive, so "
        "balanced accuracy and AUC matter more than accuracy (majority class: 0.938).",
        "",
        f"**Wall time {seconds / 60:.1f} min (target ≤ 20), peak RSS {peak:,.0f} MiB "
        "(target ≤ 4 GB).**",
        "",
        "| model | widths | params | test acc | bal. acc | AUC | log loss |",
        "|---|---|---|---|---|---|---|",
        f"| searched (retrained) | {'-'.join(map(str, f['widths']))} | {f['params']:,} | "
        f"{f['test']['accuracy']:.4f} | {f['test']['balanced_accuracy']:.4f} | "
        f"{f['test']['roc_auc']:.4f} | {f['test']['log_loss']:.4f} |",
        f"| best of {r['n_children']} random feasible | {'-'.join(map(str, r['widths']))} | "
        f"{r['params']:,} | {r['test']['accuracy']:.4f} | {r['test']['balanced_accuracy']:.4f} | "
        f"{r['test']['roc_auc']:.4f} | {r['test']['log_loss']:.4f} |",
        f"| HistGradientBoosting | — | — | {h['test']['accuracy']:.4f} | "
        f"{h['test']['balanced_accuracy']:.4f} | {h['test']['roc_auc']:.4f} | "
        f"{h['test']['log_loss']:.4f} |",
        "",
        "Phase times (seconds): " + ", ".join(f"{k} {v:.0f}" for k, v in m["timings"].items()),
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tabular_census.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
