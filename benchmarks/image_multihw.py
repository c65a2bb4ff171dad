"""Multi-hardware TuNAS search on Fashion-MNIST 28×28: the average-case and worst-case picks vs
single-device picks (issue 8 item 4; Chu et al., arXiv 2008.08178, §3; papers.md §8).

"Devices" are distinct execution targets of this one machine whose latency profiles differ
(``budgetnas.cost.multi_device_fit.default_devices``): PyTorch eager batch 1, ONNX Runtime batch 1,
PyTorch eager batch 64 (ms per image); all 1 thread, thread CPU time, median of repeats.

1. Measure random children of the multihw space on every device; fit one TuNAS linear latency
   model per device; report how differently the devices rank children (Spearman).
2. Per-device target T_d = the median of that device's predicted latency over random children.
3. TuNAS searches (absolute reward on a latency *ratio* with target 1) with cost = mean_d
   (L_d / T_d) (average case), max_d (L_d / T_d) (worst case), and L_d / T_d of each single device.
4. Each pick: every device's *measured* latency ratio, and standalone test accuracy (one recipe).

    /work/notes/bench_slot python benchmarks/image_multihw.py --out benchmarks/results/image_multihw.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _machine import load, log, machine

from budgetnas.cost.multi_device_fit import (
    default_devices,
    fit_device_models,
    measure_devices,
    spearman_matrix,
)
from budgetnas.vision.search import image_costs, load_image_data, train_child, tunas_search

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "image" / "fashion-mnist"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA), help="folder with the Fashion-MNIST IDX files")
    ap.add_argument("--space", default="multihw")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--n-train", type=int, default=8_000)
    ap.add_argument("--n-val", type=int, default=2_000)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--fit-children", type=int, default=200)
    ap.add_argument("--fit-test", type=int, default=30)
    ap.add_argument("--features", default="stage", choices=["stage", "position"])
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=15, help="batch-1 passes per child when fitting")
    ap.add_argument("--check-repeats", type=int, default=100, help="batch-1 passes per pick")
    ap.add_argument("--target-quantile", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    loads = [load()]

    data = load_image_data(a.data, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test)
    costs = image_costs(a.space, width_mult=a.width)
    space = costs.space
    devices = default_devices(a.repeats)
    names = [d.name for d in devices]
    log(f"measuring {a.fit_children + a.fit_test} children on {names}")
    fit = fit_device_models(costs, devices, n_children=a.fit_children, n_test=a.fit_test,
                            alpha=a.alpha, features=a.features)
    targets = fit.quantile_targets(a.target_quantile)
    log(f"fit in {fit.seconds:.0f} s; targets {targets}; metrics {fit.metrics}")
    loads.append(load())

    runs = {"average (mean)": fit.multi_cost(targets, "mean"),
            "worst case (max)": fit.multi_cost(targets, "max")}
    for d in names:
        runs[f"single: {d}"] = fit.multi_cost(targets, "mean", devices=[d])
    picks = []
    for label, cost in runs.items():
        res = tunas_search(space, data, cost, target=1.0, steps=a.steps, algorithm="abs",
                           width_mult=a.width, seed=a.seed)
        picks.append({"run": label, "vec": res.pick, "search_s": res.seconds,
                      "objective": float(res.pick_cost)})
        log(f"{label}: {res.seconds:.0f} s, pick objective {res.pick_cost:.3f}")
        loads.append(load())

    X = np.array([p["vec"] for p in picks], dtype=np.int64)
    check = default_devices(a.check_repeats)
    measured = measure_devices(costs.build, X, check,
                               (costs.in_channels, costs.input_size, costs.input_size))
    T = np.array([targets[n] for n in names])
    pred_ratio = fit.predict(X) / T
    meas_ratio = measured / T
    macs, params = costs.macs_cost().batch(X), costs.params_cost().batch(X)
    for p, mr, pr, m, mc, pa in zip(picks, meas_ratio, pred_ratio, measured, macs, params):
        p.update(measured_ratio=mr.tolist(), predicted_ratio=pr.tolist(), measured_ms=m.tolist(),
                 macs=int(mc), params=int(pa))
    for p in picks:
        t0 = time.process_time()
        r = train_child(space, p["vec"], data, epochs=a.epochs, width_mult=a.width, seed=0)
        p.update(r, train_cpu_s=time.process_time() - t0)
        log(f"{p['run']}: test {r['test_accuracy']:.4f}, measured ratios "
            f"{np.round(p['measured_ratio'], 3).tolist()}")
        loads.append(load())
    total = time.perf_counter() - t_start
    print(json.dumps([{k: v for k, v in p.items() if k != "vec"} for p in picks], indent=1))
    if a.out:
        write_report(a, fit, devices, check, targets, picks, costs, total, loads)


def _matrix(names: list[str], S: np.ndarray) -> str:
    head = "| | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
    return head + "\n".join(f"| {n} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
                            for n, row in zip(names, S))


def write_report(a, fit, devices, check, targets, picks, costs, total, loads) -> None:  # noqa: ANN001
    names = [d.name for d in devices]
    allX = np.vstack([fit.train_X, fit.test_X])
    allY = np.vstack([fit.train_ms, fit.test_ms])
    macs = costs.macs_cost().batch(allX)[:, None]
    S = fit.rank_correlation()
    S_macs = spearman_matrix(np.hstack([allY, macs]))[-1, :-1]
    dev_lines = "\n".join(f"- `{d.name}`: {d.describe()}; pick check: {c.repeats} passes. Target "
                          f"T = {targets[d.name]:.4f} ms. Measured over the {len(allY)} children: "
                          f"{allY[:, h].min():.4f} to {allY[:, h].max():.4f} ms (median "
                          f"{np.median(allY[:, h]):.4f}). Held-out fit: MAPE "
                          f"{fit.metrics[d.name]['mape']:.3f}, Kendall τ "
                          f"{fit.metrics[d.name]['kendall_tau']:.3f}, R² "
                          f"{fit.metrics[d.name]['r2']:.3f}."
                          for h, (d, c) in enumerate(zip(devices, check)))
    hdr = ("| search cost | test acc | " + " | ".join(f"{n} ratio" for n in names)
           + " | mean ratio | max ratio | predicted ratios | MMACs | params |\n|---|---:|"
           + "---:|" * (len(names) + 2) + "---|---:|---:|")
    rows = "\n".join(
        f"| {p['run']} | {p['test_accuracy']:.4f} | "
        + " | ".join(f"{v:.3f}" for v in p["measured_ratio"])
        + f" | {np.mean(p['measured_ratio']):.3f} | {np.max(p['measured_ratio']):.3f} | "
        + ", ".join(f"{v:.2f}" for v in p["predicted_ratio"])
        + f" | {p['macs'] / 1e6:.2f} | {p['params']:,} |" for p in picks)
    ms_rows = "\n".join(f"| {p['run']} | " + " | ".join(f"{v:.4f}" for v in p["measured_ms"])
                        + f" | {p['search_s']:.0f} | {p['train_cpu_s']:.0f} |" for p in picks)
    vecs = "\n".join(f"- {p['run']}: `{list(p['vec'])}`" for p in picks)
    text = f"""# Multi-hardware search: average / worst-case picks vs single-device picks

Command: `/work/notes/bench_slot python benchmarks/image_multihw.py --space {a.space} \
--width {a.width} --n-train {a.n_train} --fit-children {a.fit_children} --fit-test {a.fit_test} \
--features {a.features} --alpha {a.alpha} --repeats {a.repeats} --steps {a.steps} --epochs {a.epochs} \
--target-quantile {a.target_quantile} --out benchmarks/results/image_multihw.md`

Machine: {machine()}. 1 thread (of 2 cores), run alongside one other single-threaded benchmark
(and other helpers' work); load average (1, 5, 15 min) at each stage: {'; '.join(loads)}. Total
wall time {total / 60:.1f} min.

Data: Fashion-MNIST 28×28×1, {a.n_train:,} training / {a.n_val:,} validation images (disjoint,
from the official training split), {'10,000' if a.n_test is None else a.n_test} official test
images. Space `{a.space}` (MobileNetV3-like without SE / h-swish, kernels 3 and 5; papers.md §8)
at width multiplier {a.width}, 10 classes.

## Devices (one physical CPU, three execution targets)

All times are thread CPU time (`time.thread_time_ns`) of a 1-thread run, median of the passes:
with one intra-op thread both PyTorch and ONNX Runtime run the forward pass on the calling
thread, and CPU time leaves out the time other processes hold the core. ONNX models are exported
with the TorchScript exporter and run on the CPU provider, sequential.

{dev_lines}

One TuNAS linear model per device (`{a.features}` features of
`budgetnas.cost.multi_device_fit.latency_model`, ridge α = {a.alpha}), fitted on
{a.fit_children} random children (smallest and largest included) and checked on {a.fit_test}
others; measuring took {fit.seconds:.0f} s wall. T_d = the {a.target_quantile} quantile of the
device's predicted latency over 20,000 random children.

Spearman rank correlation of the measured latencies of all {len(allY)} children between devices
(1 = the devices order children identically):

{_matrix(names, S)}

Spearman correlation of each device's latency with MACs: {', '.join(f'{n} {v:.3f}' for n, v in
zip(names, S_macs))}.

## Searches and picks

TuNAS (`tunas_search`, absolute reward Q + β|r − 1| with β = −0.1 on the cost *ratio* r, target 1;
{a.steps} steps, 25 % warm-up with the controller frozen, then ×10 learning-rate ramp; Adam β1 = 0;
EMA baseline 0.95; seed {a.seed} for every run, so the runs differ only by their cost). Costs:
average = mean_d L_d/T_d, worst case = max_d L_d/T_d (`MultiDeviceCost`, aggregate "mean" /
"max"), single = L_d/T_d of one device.

Each pick's measured latency ratio on every device (measured latency / that device's target; ≤ 1
meets the target), their mean and max, the models' predicted ratios, and standalone test accuracy
(`train_child`: {a.epochs} epochs, SGD Nesterov lr 0.1 cosine, batch 128, seed 0; test on the
official test images):

{hdr}
{rows}

Measured latencies (ms; per image for torch_b64), search wall seconds and training CPU seconds:

| search cost | {' | '.join(names)} | search s | train CPU s |
|---|{'---:|' * (len(names) + 2)}
{ms_rows}

DNA vectors of the picks:

{vecs}
"""
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
