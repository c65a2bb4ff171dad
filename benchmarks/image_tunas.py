"""TuNAS one-shot search vs random search at the same latency target, on Fashion-MNIST 28×28
(issue 8; TuNAS, Bender et al., CVPR 2020, §3 and §5; papers.md §3).

1. Measure random children of the space on this machine (ONNX Runtime, batch 1, 1 thread,
   thread CPU time, median of many passes) and fit TuNAS's linear latency model.
2. Target T0 = a quantile of the model's predicted latency over random children.
3. TuNAS search (``budgetnas.vision.search.tunas_search``: absolute reward Q + β|T/T0 − 1|,
   β = −0.1, op / filter warm-up over the first 25 % of steps with the controller frozen, then
   its learning rate ramped ×10, Adam β1 = 0, EMA baseline 0.95); pick = per-decision argmax.
4. Random search's picks: uniformly random children whose predicted latency is within a relative
   tolerance of T0 (``random_pick``), one per seed.
5. Every pick trained standalone with one recipe (``train_child``), test accuracy on the 10,000
   official test images, and its latency *measured* (not predicted) on the same target.

    /work/notes/bench_slot python benchmarks/image_tunas.py --out benchmarks/results/image_tunas.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _machine import load, log, machine

from budgetnas.cost.multi_device_fit import Device, fit_device_models, measure_devices
from budgetnas.vision.search import (
    image_costs,
    load_image_data,
    random_pick,
    train_child,
    tunas_search,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "image" / "fashion-mnist"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA), help="folder with the Fashion-MNIST IDX files")
    ap.add_argument("--space", default="proxylessnas")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-val", type=int, default=2_000)
    ap.add_argument("--n-test", type=int, default=None, help="default: all 10,000 test images")
    ap.add_argument("--fit-children", type=int, default=200)
    ap.add_argument("--fit-test", type=int, default=40)
    ap.add_argument("--features", default="stage", choices=["stage", "position"])
    ap.add_argument("--alpha", type=float, default=0.1, help="ridge penalty of the linear model")
    ap.add_argument("--fit-repeats", type=int, default=40)
    ap.add_argument("--check-repeats", type=int, default=200,
                    help="passes when measuring the picks' latency")
    ap.add_argument("--target-quantile", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--search-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--random-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    loads = [load()]

    data = load_image_data(a.data, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test)
    costs = image_costs(a.space, width_mult=a.width)
    space = costs.space
    device = Device("onnxrt_b1", "onnxruntime", 1, warmup=5, repeats=a.fit_repeats)
    log(f"measuring {a.fit_children + a.fit_test} children on {device.describe()}")
    fit = fit_device_models(costs, [device], n_children=a.fit_children, n_test=a.fit_test,
                            alpha=a.alpha, features=a.features)
    model = fit.models[device.name]
    target = fit.quantile_targets(a.target_quantile)[device.name]
    log(f"fit in {fit.seconds:.0f} s, held-out {fit.metrics[device.name]}, T0 = {target:.4f} ms")
    loads.append(load())

    picks: list[dict] = []
    for s in a.search_seeds:
        t0 = time.process_time()
        res = tunas_search(space, data, model, target=target, steps=a.steps, algorithm="abs",
                           width_mult=a.width, seed=s, log_every=max(1, a.steps // 8))
        search_cpu = time.process_time() - t0
        tail = [h for h in res.history if h["phase"] == "search"][-max(1, a.steps // 10):]
        picks.append({"method": "TuNAS", "seed": s, "vec": res.pick,
                      "search_s": res.seconds, "search_cpu_s": search_cpu,
                      "tail_reward": float(np.mean([h["reward"] for h in tail])),
                      "tail_cost": float(np.mean([h["cost"] for h in tail]))})
        log(f"TuNAS seed {s}: {res.seconds:.0f} s, pick predicted {res.pick_cost:.4f} ms")
        loads.append(load())
    for s in a.random_seeds:
        t0 = time.perf_counter()
        vec = random_pick(space, model, target, tolerance=a.tolerance, seed=s)
        picks.append({"method": "random", "seed": s, "vec": vec,
                      "search_s": time.perf_counter() - t0})

    check = Device("onnxrt_b1", "onnxruntime", 1, warmup=10, repeats=a.check_repeats)
    eager = Device("torch_b1", "torch", 1, warmup=10, repeats=a.check_repeats // 2)
    X = np.array([p["vec"] for p in picks], dtype=np.int64)
    measured = measure_devices(costs.build, X, [check, eager],
                               (costs.in_channels, costs.input_size, costs.input_size))
    pred = model.batch(X)
    params, macs = costs.params_cost().batch(X), costs.macs_cost().batch(X)
    for p, m, pr, pa, mc in zip(picks, measured, pred, params, macs):
        p.update(measured_ms=float(m[0]), eager_ms=float(m[1]), predicted_ms=float(pr),
                 params=int(pa), macs=int(mc))
    for p in picks:
        t0 = time.process_time()
        r = train_child(space, p["vec"], data, epochs=a.epochs, width_mult=a.width,
                        seed=a.train_seed)
        p.update(r, train_cpu_s=time.process_time() - t0)
        log(f"{p['method']} seed {p['seed']}: test {r['test_accuracy']:.4f} "
            f"val {r['val_accuracy']:.4f} measured {p['measured_ms']:.4f} ms "
            f"predicted {p['predicted_ms']:.4f} ms")
        loads.append(load())
    total = time.perf_counter() - t_start
    print(json.dumps([{k: v for k, v in p.items() if k != "vec"} for p in picks], indent=1))
    if a.out:
        write_report(a, fit, device, check, eager, target, picks, total, loads)


def write_report(a, fit, device, check, eager, target, picks, total, loads) -> None:  # noqa: ANN001
    m = fit.metrics[device.name]
    test_n = "10,000" if a.n_test is None else f"{a.n_test:,}"
    rand = [p for p in picks if p["method"] == "random"]
    tun = [p for p in picks if p["method"] == "TuNAS"]
    rows = "\n".join(
        f"| {p['method']} | {p['seed']} | {p['test_accuracy']:.4f} | {p['val_accuracy']:.4f} | "
        f"{p['predicted_ms']:.4f} | {p['measured_ms']:.4f} | {p['measured_ms'] / target:.3f} | "
        f"{p['eager_ms']:.3f} | {p['params']:,} | {p['macs'] / 1e6:.2f} | "
        f"{p['train_cpu_s']:.0f} |" for p in picks)
    ra = np.array([p["test_accuracy"] for p in rand])
    ta = np.array([p["test_accuracy"] for p in tun])
    summary = (f"TuNAS mean test accuracy {ta.mean():.4f} over {len(ta)} search seed(s); random "
               f"picks mean {ra.mean():.4f}, std {ra.std(ddof=1) if len(ra) > 1 else 0:.4f}, "
               f"range [{ra.min():.4f}, {ra.max():.4f}] over {len(ra)} seeds; difference "
               f"{ta.mean() - ra.mean():+.4f}.")
    search_rows = "\n".join(
        f"| {p['seed']} | {p['search_s']:.0f} | {p['search_cpu_s']:.0f} | {p['tail_reward']:.4f} "
        f"| {p['tail_cost']:.4f} |" for p in tun)
    vecs = "\n".join(f"- {p['method']} seed {p['seed']}: `{list(p['vec'])}`" for p in picks)
    text = f"""# TuNAS vs random search at one latency target (Fashion-MNIST 28×28)

Command: `/work/notes/bench_slot python benchmarks/image_tunas.py --space {a.space} --width {a.width} \
--n-train {a.n_train} --n-val {a.n_val} --features {a.features} --alpha {a.alpha} \
--fit-repeats {a.fit_repeats} --fit-children {a.fit_children} --fit-test {a.fit_test} \
--steps {a.steps} --search-seeds {' '.join(map(str, a.search_seeds))} \
--random-seeds {' '.join(map(str, a.random_seeds))} --tolerance {a.tolerance} --epochs {a.epochs} \
--target-quantile {a.target_quantile} --out {a.out}`

Machine: {machine()}. 1 thread (of 2 cores), run alongside one other single-threaded benchmark
(and other helpers' work); load average (1, 5, 15 min) sampled at each stage: {'; '.join(loads)}.
Total wall time {total / 60:.1f} min.

Data: Fashion-MNIST, {a.n_train:,} training / {a.n_val:,} validation images (disjoint, seeded, from
the official training split), {test_n} official test images; 28×28×1. Space `{a.space}` at width
multiplier {a.width}, 10 classes.

## Latency model

Latency = ONNX Runtime 1 thread, CPU provider, sequential, batch 1, exported with the TorchScript
exporter; each child timed as the median of {a.fit_repeats} passes after 5 warm-up passes in
**thread CPU time** (`time.thread_time_ns`; with one intra-op thread ONNX Runtime runs the pass on
the calling thread, so time other processes hold the core is not counted). TuNAS linear model
(per-layer one-hot(op) ⊗ one-hot(in filters) ⊗ one-hot(out filters), `{a.features}` layout of
`budgetnas.cost.multi_device_fit.latency_model`, ridge α = {a.alpha}) fitted
on {a.fit_children} random children (smallest and largest included), measured in {fit.seconds:.0f} s
(wall). Held-out ({a.fit_test} other random children): MAPE {m['mape']:.3f}, median APE
{m['mdape']:.3f}, Kendall τ {m['kendall_tau']:.3f}, R² {m['r2']:.3f}. Measured latencies of all
{a.fit_children + a.fit_test} children: {np.vstack([fit.train_ms, fit.test_ms]).min():.4f} to
{np.vstack([fit.train_ms, fit.test_ms]).max():.4f} ms.

Target T0 = the {a.target_quantile} quantile of the model's prediction over 20,000 random children
= **{target:.4f} ms**. Random-search baseline: uniformly random children whose *predicted*
latency is within ±{a.tolerance:.0%} of T0 (`random_pick`, one per seed).

## TuNAS search

{a.steps} steps (25 % warm-up with the controller frozen, then learning rate ×10 ramp), batch 64
train / 256 validation, supernet SGD lr 0.1 cosine, controller lr 0.05 Adam β = (0, 0.999),
absolute reward β = −0.1, EMA baseline 0.95 (`tunas_search`, algorithm "abs"). Last 10 % of the
search steps: mean reward and mean predicted latency of the sampled children.

| search seed | wall s | process CPU s | reward (last 10 %) | sampled latency ms (last 10 %) |
|---:|---:|---:|---:|---:|
{search_rows}

## Picks trained standalone

Every pick trained from scratch with one recipe (`train_child`: {a.epochs} epochs, SGD Nesterov
lr 0.1 cosine, batch 128, weight decay 5e-5, seed {a.train_seed}), test accuracy on {test_n} test
images. Measured latency: ONNX Runtime batch 1, median of {a.check_repeats} passes, thread CPU
time (the search's target device); also PyTorch eager batch 1, median of {a.check_repeats // 2}
passes, thread CPU time, for reference. MACs for one 28×28 image.

| method | seed | test acc | val acc | predicted ms | measured ms | measured / T0 | eager b1 ms | params | MMACs | train CPU s |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

{summary}

DNA vectors of the picks:

{vecs}
"""
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
