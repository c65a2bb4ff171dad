"""Exhaustive check of the TabNAS pick on Letter Recognition (26 classes).

A small space — 2 hidden layers × 8 widths = 64 children — is trained exhaustively, every child
standalone with the same recipe and the same 3 seeds. Then ``search_table`` (one-shot TabNAS,
rejection sampling) runs at budgets at the 25th and 50th percentile of the children's parameter
counts, with 3 search seeds each, and its pick is compared with the best feasible child: the
pick passes when its mean test accuracy is within the seed-to-seed spread (max − min over the 3
seeds) of the best feasible child's mean.

Recipe (to keep the run under 20 minutes on 2 cores): Adam lr 1e-2, batch 256, at most 30
epochs, early stopping with patience 5 on the validation loss; a stratified 70/15/15 split of
the 20,000 rows (seed 0).

Usage::

    python benchmarks/tabular_letter_exhaustive.py            # writes benchmarks/results/...
    python benchmarks/tabular_letter_exhaustive.py --reuse    # reuse the exhaustive CSV
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from budgetnas.spaces.mlp import MLPSpace
from budgetnas.tabular import load_tabular, train_mlp
from budgetnas.tabular.metrics import evaluate_model
from budgetnas.tabular.search import Recipe, search_table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tabular" / "mlbench" / "letterrecognition.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"
WIDTHS = (8, 16, 24, 32, 48, 64, 96, 128)
SEEDS = (0, 1, 2)
RECIPE = Recipe(lr=1e-2, batch_size=256, max_epochs=30, patience=5)


def exhaustive(data, space: MLPSpace) -> pd.DataFrame:
    rows = []
    X = space.all_vectors()
    for i, vec in enumerate(X):
        widths = space.widths_of(vec)
        for seed in SEEDS:
            res = train_mlp(data, widths, seed=seed, **RECIPE.kwargs())
            test = evaluate_model(res.model, data.X_test, data.y_test, data.task,
                                  n_classes=data.n_classes)
            rows.append({"w1": widths[0], "w2": widths[1], "params": space.params(vec),
                         "seed": seed, "val_acc": res.val_metric, "test_acc": test["accuracy"],
                         "epochs": len(res.history), "seconds": res.seconds})
        print(f"[{i + 1}/{len(X)}] {widths}: test acc "
              f"{np.mean([r['test_acc'] for r in rows[-len(SEEDS):]]):.4f}", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="reuse the exhaustive CSV")
    parser.add_argument("--steps", type=int, default=1500, help="one-shot steps per search")
    parser.add_argument("--no-sweep", action="store_true",
                        help="skip the supernet learning-rate sweep (5 seeds x 3 rates)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    csv = RESULTS / "tabular_letter_exhaustive.csv"
    t0 = time.perf_counter()
    data = load_tabular(DATA, "lettr", seed=0)
    space = MLPSpace(data.n_features, data.n_outputs, WIDTHS, depths=(2,))
    if args.reuse and csv.exists():
        table = pd.read_csv(csv)
        t_exhaustive = float(table["seconds"].sum())
    else:
        table = exhaustive(data, space)
        table.to_csv(csv, index=False)
        t_exhaustive = time.perf_counter() - t0
    per_child = (table.groupby(["w1", "w2", "params"])
                 .agg(test_mean=("test_acc", "mean"), test_min=("test_acc", "min"),
                      test_max=("test_acc", "max"), val_mean=("val_acc", "mean"))
                 .reset_index())
    per_child["spread"] = per_child["test_max"] - per_child["test_min"]
    budgets = {q: float(np.percentile(per_child["params"], q)) for q in (25, 50)}

    lines = []
    verdicts = []
    t_search = time.perf_counter()
    for q, budget in budgets.items():
        feasible = per_child[per_child["params"] <= budget]
        best = feasible.sort_values("test_mean", ascending=False).iloc[0]
        lines.append(f"\n### Budget {budget:,.0f} parameters ({q}th percentile): "
                     f"{len(feasible)} of 64 children feasible\n")
        lines.append(f"Best feasible child: {int(best.w1)}-{int(best.w2)} ({int(best.params):,} "
                     f"params), mean test accuracy {best.test_mean:.4f} over seeds "
                     f"{list(SEEDS)}, spread (max − min) {best.spread:.4f}; worst feasible "
                     f"child: {feasible.test_mean.min():.4f}.\n")
        lines.append("| search seed | pick | params | pick's mean test acc (exhaustive table) "
                     "| gap to best | within spread | search s |")
        lines.append("|---|---|---|---|---|---|---|")
        for seed in SEEDS:
            t = time.perf_counter()
            result = search_table(data, max_params=budget, widths=WIDTHS, depths=(2,),
                                  steps=args.steps, seed=seed, recipe=RECIPE, n_random=0,
                                  reference=False)
            w1, w2 = result.widths
            pick = per_child[(per_child.w1 == w1) & (per_child.w2 == w2)].iloc[0]
            gap = best.test_mean - pick.test_mean
            ok = bool(gap <= best.spread + 1e-12)
            verdicts.append(ok)
            lines.append(f"| {seed} | {w1}-{w2} | {int(pick.params):,} | {pick.test_mean:.4f} | "
                         f"{gap:.4f} | {'yes' if ok else 'no'} | "
                         f"{result.timings['search']:.1f} (total {time.perf_counter() - t:.1f}) |")
    t_search = time.perf_counter() - t_search

    sweep = []
    if not args.no_sweep:
        sweep += ["", "## Sensitivity to the supernet learning rate", "",
                  "Searches within the spread of the best feasible child, 5 search seeds × "
                  "the 2 budgets, everything else as above (the default is 3e-3):", "",
                  "| supernet lr | within spread | picks (25th pct; 50th pct) |", "|---|---|---|"]
        for lr in (1e-3, 3e-3, 1e-2):
            picks, hits = {25: [], 50: []}, 0
            for q, budget in budgets.items():
                feasible = per_child[per_child["params"] <= budget]
                best = feasible.sort_values("test_mean", ascending=False).iloc[0]
                for seed in range(5):
                    r = search_table(data, max_params=budget, widths=WIDTHS, depths=(2,),
                                     steps=args.steps, seed=seed, supernet_lr=lr,
                                     recipe=RECIPE, n_random=0, reference=False)
                    pick = per_child[(per_child.w1 == r.widths[0]) & (per_child.w2 == r.widths[1])]
                    hits += bool(best.test_mean - pick.test_mean.iloc[0] <= best.spread + 1e-12)
                    picks[q].append("-".join(map(str, r.widths)))
            sweep.append(f"| {lr:g} | {hits} / 10 | {', '.join(picks[25])}; "
                         f"{', '.join(picks[50])} |")

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    import os
    md = [
        "# Exhaustive check of the TabNAS pick on Letter Recognition",
        "",
        "Command: `python benchmarks/tabular_letter_exhaustive.py"
        + (" --reuse`" if args.reuse else "`"),
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), torch {torch.__version__}, one torch thread; "
        "other jobs were running on the machine at the same time, so times are upper bounds.",
        "",
        "Space: 2 hidden layers, each width in "
        f"{list(WIDTHS)} (64 children, {int(per_child.params.min()):,} to "
        f"{int(per_child.params.max()):,} parameters for 16 inputs and 26 classes).",
        f"Data: `letterrecognition.csv.gz`, stratified 70/15/15 split (seed 0): "
        f"{len(data.y_train):,} / {len(data.y_val):,} / {len(data.y_test):,} rows.",
        f"Recipe (every standalone training, the search's final retraining too): Adam lr "
        f"{RECIPE.lr}, batch {RECIPE.batch_size}, at most {RECIPE.max_epochs} epochs, patience "
        f"{RECIPE.patience} on validation loss (fewer epochs than a full run, to keep the whole "
        "benchmark under 20 minutes).",
        f"Search: `search_table(..., algorithm='tabnas', steps={args.steps})` with its other "
        "defaults — one-shot weight sharing (supernet Adam lr 3e-3), 25% warm-up, TabNAS "
        "rejection sampling with the exact P(V), controller lr 0.1.",
        "",
        "Criterion: the pick's mean test accuracy (over the 3 training seeds of the exhaustive "
        "table) is at most the best feasible child's seed-to-seed spread (max − min) below the "
        "best feasible child's mean.",
        "",
        f"Result: **{sum(verdicts)} of {len(verdicts)} searches pick within the spread.**",
        "",
        f"Time: exhaustive training {t_exhaustive / 60:.1f} min "
        + ("(the sum of the training times recorded in the CSV) " if args.reuse else "")
        + f"({len(table)} trainings), the 6 searches {t_search / 60:.1f} min.",
        "",
        "## Searches",
        *lines,
        *sweep,
        "",
        "## All 64 children (mean over 3 seeds)",
        "",
        "| widths | params | test acc mean | min | max | val acc mean |",
        "|---|---|---|---|---|---|",
        *[f"| {int(r.w1)}-{int(r.w2)} | {int(r.params):,} | {r.test_mean:.4f} | {r.test_min:.4f} "
          f"| {r.test_max:.4f} | {r.val_mean:.4f} |"
          for r in per_child.sort_values("params").itertuples()],
        "",
    ]
    (RESULTS / "tabular_letter_exhaustive.md").write_text("\n".join(md))
    print("\n".join(md[:20]))


if __name__ == "__main__":
    main()
