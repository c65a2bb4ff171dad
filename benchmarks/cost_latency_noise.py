"""Latency noise on this machine: spread of repeated measurements of one child, how the median
settles with repeats, and whether per-layer table latencies add up to the whole network's.

Run from the repository root:  python benchmarks/cost_latency_noise.py > benchmarks/results/cost_latency_noise.md

Until the conv search spaces exist, the "child" is a small CNN (stem + 2 inverted bottlenecks +
classifier at 3x64x64) and one ProxylessNAS operator; the additivity check uses the
MobileNetV2-like ProxylessNAS backbone built from the table's own signatures.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from _machine import cpu_model
from torch import nn

from budgetnas.cost import LatencySettings, build_table, measure_latency
from budgetnas.cost import proxylessnas as pn


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
    b1, _ = pn.proxylessnas_module(
        "expanded_conv-input:32x32x16-output:16x16x24-expand:6-kernel:3-stride:2-idskip:0")
    b2, _ = pn.proxylessnas_module(
        "expanded_conv-input:16x16x24-output:16x16x24-expand:6-kernel:5-stride:1-idskip:1")
    return nn.Sequential(stem, b1, b2, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


def spread_table(name: str, make, settings: LatencySettings, runs: int) -> list[str]:
    model = make()
    res = [measure_latency(model, settings) for _ in range(runs)]
    med = np.array([r.median_ms for r in res])
    iqr = np.array([r.iqr_ms for r in res])
    return [f"| {name} | {settings.backend} | {runs} × {settings.repeats} | "
            f"{np.median(med):.3f} | {med.min():.3f}–{med.max():.3f} | "
            f"{100 * med.std(ddof=1) / med.mean():.1f} % | {np.median(iqr):.3f} | "
            f"{np.median([r.p90 / r.median_ms for r in res]):.2f} |"]


def settle_table(make, settings: LatencySettings, total: int, rng) -> list[str]:
    s = np.array(measure_latency(make(), LatencySettings(**{**settings.to_dict(),
                                                            "input_size": settings.input_size,
                                                            "repeats": total})).samples)
    out = []
    final = float(np.median(s))
    for k in (5, 10, 20, 50, 100, 200, total):
        boot = np.median(rng.choice(s, size=(2000, k), replace=True), axis=1)
        lo, hi = np.percentile(boot, [5, 95])
        out.append(f"| {k} | {np.median(s[:k]):.3f} | {100 * (np.median(s[:k]) / final - 1):+.1f} % "
                   f"| {lo:.3f}–{hi:.3f} ({100 * (hi - lo) / final:.1f} % of the median) |")
    return out


def additivity(settings: LatencySettings) -> tuple[float, float, float, int]:
    sigs = pn.proxylessnas_signatures([(3, 6)] * 21)
    table = build_table({s: (lambda s=s: pn.proxylessnas_module(s)) for s in set(sigs)}, settings)
    summed = sum(table[s].mean_ms for s in sigs)
    torch.manual_seed(0)
    net = nn.Sequential(*[pn.proxylessnas_module(s)[0] for s in sigs])
    whole = measure_latency(net, settings)
    return summed, whole.mean, whole.median_ms, len(set(sigs))


def main() -> None:
    rng = np.random.default_rng(0)
    t0 = time.time()
    cnn = LatencySettings(input_size=(3, 64, 64), warmup=10, repeats=50, threads=1)
    op_sig = "expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0"
    op = LatencySettings(input_size=(24, 56, 56), warmup=10, repeats=50, threads=1)
    lines = ["# Latency noise on this machine\n",
             "Command: `python benchmarks/cost_latency_noise.py`\n",
             f"Machine: {os.cpu_count()} cores (nproc), {cpu_model()}, torch {torch.__version__}; "
             "batch 1, 1 intra-op thread. A shared machine: other jobs ran at the same time "
             f"(load average at start: {os.getloadavg()[0]:.1f}), so these spreads are an upper "
             "bound on a quiet machine's.\n",
             "Models: the conv search spaces do not exist yet, so the child is a small CNN "
             "(3x3 stem to 16 filters, two inverted bottlenecks, classifier; input 3x64x64) and "
             f"one ProxylessNAS operator (`{op_sig}`).\n",
             "## Spread of repeated measurements of one child\n",
             "Each run is one `measure_latency` call (10 warm-up + 50 timed passes); the runs are "
             "back to back on the same module.\n",
             "| model | backend | runs × repeats | median of medians (ms) | min–max of medians "
             "(ms) | CV of medians | median IQR (ms) | p90 / median |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for backend in ("torch", "onnxruntime"):
        lines += spread_table("small CNN", small_cnn,
                              LatencySettings(**{**cnn.to_dict(), "input_size": (3, 64, 64),
                                                 "backend": backend}), 10)
        lines += spread_table("ProxylessNAS op", lambda: pn.proxylessnas_module(op_sig)[0],
                              LatencySettings(**{**op.to_dict(), "input_size": (24, 56, 56),
                                                 "backend": backend}), 10)
    lines += ["\n## How the median settles with repeats (small CNN, torch)\n",
              "One run of 400 timed passes; 'median of first k' uses the first k samples, the "
              "interval is the 5–95 % range of the median of k samples drawn with replacement "
              "from the 400 (bootstrap, 2,000 draws).\n",
              "| repeats k | median of first k (ms) | vs median of 400 | bootstrap 90 % interval (ms) |",
              "|---:|---:|---:|---|"]
    lines += settle_table(small_cnn, cnn, 400, rng)
    settings = LatencySettings(warmup=5, repeats=30, threads=1)
    summed, whole_mean, whole_median, n_sig = additivity(settings)
    lines += ["\n## Do per-layer latencies add up? (MobileNetV2-like ProxylessNAS backbone, 224x224)\n",
              f"Each of its {n_sig} distinct layer signatures measured alone (`build_table`, 5 "
              "warm-up + 30 timed passes, torch, 1 thread), summed over its 25 layers, against the "
              "same 25 modules run as one `nn.Sequential`:\n",
              "| sum of per-layer means (ms) | whole network, mean (ms) | whole network, median "
              "(ms) | sum / whole (mean) |",
              "|---:|---:|---:|---:|",
              f"| {summed:.2f} | {whole_mean:.2f} | {whole_median:.2f} | "
              f"{summed / whole_mean:.3f} |",
              "\nFor comparison, the Pixel 1 table gives 126.77 ms for the same child.",
              f"\nTotal benchmark time: {time.time() - t0:.0f} s; load average at the end: "
              f"{os.getloadavg()[0]:.1f}."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
