"""Speed of a TabNAS controller step on a 4-layer × 20-width MLP space.

One step = draw a feasible child by rejection, estimate P(V) (Monte-Carlo, N policy draws priced
for parameters) or compute it exactly, form the corrected REINFORCE gradient, one Adam update.
Compared with the same step written with torch autograd on tiny tensors.

    python benchmarks/search_controller_speed.py --out benchmarks/results/search_controller_speed.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from _machine import emit

import budgetnas as bn
from budgetnas.cost import Constraint, FunctionCost
from budgetnas.search import TabNAS

WIDTHS = np.round(np.geomspace(8, 512, 20)).astype(np.int64)  # 20 widths, 8 .. 512
D_IN, LAYERS = 54, 4


def mlp_params(X: np.ndarray) -> np.ndarray:
    W = WIDTHS[X]
    d = np.concatenate([np.full((len(X), 1), D_IN), W, np.ones((len(X), 1), np.int64)], axis=1)
    return ((d[:, :-1] + 1) * d[:, 1:]).sum(axis=1).astype(np.float64)


def setup(**kw) -> tuple[TabNAS, float]:
    space = bn.Space({"w": [bn.oneof(list(WIDTHS), name=f"layer{i}") for i in range(LAYERS)]})
    budget = float(np.percentile(mlp_params(space.spec.sample_batch(20_000,
                                                                    np.random.default_rng(0))), 25))
    algo = TabNAS(seed=0, **kw)
    algo.setup(space.spec, [Constraint(FunctionCost(mlp_params, unit="parameters",
                                                    name="params"), max=budget)])
    return algo, budget


def reward(X: np.ndarray) -> np.ndarray:
    return np.log(mlp_params(X)) / 20.0  # a stand-in quality: bigger nets score higher


def _rates(n: int, wall0: float, cpu0: float) -> tuple[float, float]:
    return n / (time.perf_counter() - wall0), n / (time.process_time() - cpu0)


def time_vector_api(algo: TabNAS, seconds: float) -> tuple[float, float]:
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu < seconds:
        X = algo.propose_batch(1)
        algo.feedback_batch(X, reward(X))
        n += 1
    return _rates(n, start, cpu)


def time_dna_api(algo: TabNAS, seconds: float) -> tuple[float, float]:
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu < seconds:
        dna = algo.propose()
        algo.feedback(dna, float(reward(algo.spec.to_vector(dna)[None])[0]))
        n += 1
    return _rates(n, start, cpu)


def time_torch_autograd(budget: float, N: int, seconds: float) -> tuple[float, float]:
    """The same step (rejection, MC P(V), corrected REINFORCE, Adam) with torch autograd."""
    g = torch.Generator().manual_seed(0)
    logits = torch.zeros(LAYERS, len(WIDTHS), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    b_num = b_den = 0.0
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.process_time() - cpu < seconds:
        with torch.no_grad():
            probs = torch.softmax(logits, 1)
            while True:
                y = torch.multinomial(probs, 1, generator=g).T
                if mlp_params(y.numpy())[0] <= budget:
                    break
            Z = torch.multinomial(probs, N, replacement=True, generator=g).T
            ok = torch.as_tensor(mlp_params(Z.numpy()) <= budget)
        r = float(reward(y.numpy())[0])
        b = b_num / b_den if b_den else r
        logp = torch.log_softmax(logits, 1)
        lp_y = logp.gather(1, y.T).sum()
        lp_z = logp.gather(1, Z.T).sum(0)
        pv = (torch.exp(lp_z - lp_z.detach()) * ok).mean()
        loss = -(r - b) * (lp_y - torch.log(pv.clamp_min(1e-12)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        b_num, b_den = 0.9 * b_num + 0.1 * r, 0.9 * b_den + 0.1
        n += 1
    return _rates(n, start, cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = []
    for N in (256, 1024, 4096):
        algo, budget = setup(pv="mc", num_mc_samples=N, exact_threshold=1000)
        rows.append((f"MC, N = {N}", "vector API", time_vector_api(algo, a.seconds), algo.pv_))
        algo, _ = setup(pv="mc", num_mc_samples=N, exact_threshold=1000)
        rows.append((f"MC, N = {N}", "DNA API (propose / feedback)",
                     time_dna_api(algo, a.seconds), algo.pv_))
        rows.append((f"MC, N = {N}", "same step in torch autograd",
                     time_torch_autograd(budget, N, a.seconds), float("nan")))
    algo, _ = setup(pv="exact", exact_threshold=200_000)
    m = len(algo.feasibility.feasible_set)
    rows.append((f"exact over {m:,} feasible children", "vector API",
                 time_vector_api(algo, a.seconds), algo.pv_))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    lines = [
        "# TabNAS controller step speed (4 layers × 20 widths)",
        "",
        f"Command: `python benchmarks/search_controller_speed.py --seconds {a.seconds:g}`",
        "",
        f"Machine: {os.cpu_count()} cores (nproc), {cpu}, torch {torch.__version__} (1 thread), "
        f"numpy {np.__version__}; load average at start {load:.1f} (a shared machine: other jobs "
        "ran at the same time, so these rates are lower bounds).",
        "",
        f"Space: 4 hidden layers, widths {WIDTHS.tolist()} (160,000 children); cost = parameters "
        f"of an MLP {D_IN} → widths → 1, budget at the 25th percentile of random children. "
        "One step = rejection-sample a feasible child from the policy, P(V) (Monte-Carlo from N "
        "policy draws priced for parameters, or exact over the enumerated feasible set), the "
        "corrected REINFORCE gradient, one Adam update.",
        "",
        "Steps per CPU-second count only this process's CPU time (what one free core does); "
        "steps per wall-second include the time other jobs held the cores.",
        "",
        "| P(V) | path | steps / CPU-s | steps / wall-s | final P(V) |",
        "|---|---|---:|---:|---:|",
    ]
    for what, path, (wall, cpu), pv in rows:
        lines.append(f"| {what} | {path} | {cpu:,.0f} | {wall:,.0f} | {pv:.3f} |")
    best = max(r[2][1] for r in rows if r[1] == "vector API" and "N = 1024" in r[0])
    lines += ["", f"Goal (issue 3): ≥ 2,000 steps/s. Measured with N = 1024 (vector API): "
              f"{best:,.0f} steps per CPU-second — {'met' if best >= 2000 else 'NOT met'} "
              "(per CPU-second; the wall-clock rate on this loaded machine is lower)."]
    emit(lines, a.out)


if __name__ == "__main__":
    main()
