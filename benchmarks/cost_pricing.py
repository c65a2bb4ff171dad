"""Batched pricing throughput of the cost models (children priced per second).

Run from the repository root:  python benchmarks/cost_pricing.py [--n 200000] [--repeats 5]

Prices random children of the ProxylessNAS space (21 decisions; Pixel 1 lookup table and a
TuNAS linear model fitted to it) and of NAS-Bench-201 (6 decisions; full tables of 27 devices),
and prints a markdown report (machine, numbers) to stdout.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model

from budgetnas.cost import (
    Constraint,
    LinearLatencyModel,
    MultiDeviceCost,
    device_table_costs,
    feasible_all,
    load_table,
)
from budgetnas.cost import proxylessnas as pn
from budgetnas.nasbench import load_nb201_latency

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nas"


def throughput(fn, X: np.ndarray, repeats: int) -> tuple[float, float]:
    """(children/s of the median run, median seconds) over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    return len(X) / t, t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []

    pixel1 = load_table(DATA / "proxylessnas_pixel1_trim.yaml")
    nc = pn.proxylessnas_num_choices()
    table_cost = pn.proxylessnas_table_latency(pixel1)
    X = np.floor(rng.random((args.n, len(nc))) * nc).astype(np.int64)
    # TuNAS: fit the linear model to table latencies of 2,000 random children
    X_fit = np.floor(rng.random((2000, len(nc))) * nc).astype(np.int64)
    linear = LinearLatencyModel(pn.proxylessnas_feature_layers(), num_choices=nc)
    t0 = time.perf_counter()
    linear.fit(X_fit, table_cost.batch(X_fit))
    fit_s = time.perf_counter() - t0
    quality = linear.evaluate(X[:20_000], table_cost.batch(X[:20_000]))
    rows.append(("LinearLatencyModel.predict_batch (ProxylessNAS, 21 decisions, "
                 f"{linear.n_features_} features)", *throughput(linear.predict_batch, X,
                                                                args.repeats)))
    rows.append(("TableLatency.batch (ProxylessNAS Pixel 1 table, 25 layers)",
                 *throughput(table_cost.batch, X, args.repeats)))
    budget = Constraint(table_cost, 84.0)
    rows.append(("Constraint(TableLatency ≤ 84 ms).feasible_batch",
                 *throughput(budget.feasible_batch, X, args.repeats)))

    _, lat, devices = load_nb201_latency(DATA / "nb201_latency_27devices.csv.gz")
    costs = device_table_costs(lat, devices, [5] * 6)
    Xn = rng.integers(0, 5, size=(args.n, 6))
    rows.append(("TableCost.batch (NB201 pixel3, full table)",
                 *throughput(costs["pixel3"].batch, Xn, args.repeats)))
    targets = {d: float(np.median(lat[:, h])) for h, d in enumerate(devices)}
    for how in ("mean", "max"):
        multi = MultiDeviceCost(costs, targets, aggregate=how)
        rows.append((f"MultiDeviceCost.batch ({how} over 27 NB201 devices)",
                     *throughput(multi.batch, Xn, args.repeats)))
    rows.append(("feasible_all(27 per-device constraints) (NB201)",
                 *throughput(lambda A: feasible_all(multi.constraints(), A), Xn, args.repeats)))

    print("# Cost pricing throughput\n")
    print(f"Command: `python benchmarks/cost_pricing.py --n {args.n} --repeats {args.repeats}`\n")
    print(f"Machine: {os.cpu_count()} cores (nproc), {cpu_model()}, torch {torch.__version__}, "
          f"numpy {np.__version__}; median of {args.repeats} runs over {args.n:,} random "
          "children; shared machine (other jobs were running).\n")
    print("| cost model | children/s | seconds per batch |")
    print("|---|---:|---:|")
    for name, rate, secs in rows:
        print(f"| {name} | {rate:,.0f} | {secs:.4f} |")
    print(f"\nLinear model fitted to Pixel 1 table latencies of 2,000 random ProxylessNAS children "
          f"in {fit_s:.2f} s; on 20,000 other children: MAPE {quality['mape']:.2e}, "
          f"R² {quality['r2']:.12f}, Kendall τ {quality['kendall_tau']:.6f} (the table is "
          "additive per layer, so the per-layer features represent it exactly).")
    v = pn.mobilenet_v2_like_vector()
    print(f"\nMobileNetV2-like child (every layer k3 e6) on the Pixel 1 table: "
          f"{table_cost(v):.2f} ms (linear model: {linear(v):.2f} ms); cheapest child of the "
          f"space: {table_cost.min_cost():.2f} ms.")


if __name__ == "__main__":
    main()
