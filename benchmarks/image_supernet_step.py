"""Supernet training step for a child vs the standalone child's step (issue 8 criterion: ≤ 1.5×).

For the smallest, a middle (every dimension at quantile 0.5), a random and the largest child of
each conv space, time one SGD step (forward, backward, optimiser; momentum 0.9) of (a) the
standalone child built by ``extract`` and (b) the supernet running the same child on sliced
weights. Time is the thread CPU time (``time.thread_time``) of a 1-thread torch, so that other
processes on the machine do not enter it; the two steps alternate, step by step, and medians of
``--reps`` steps (after 3 warm-up steps) are reported, split into forward / backward / optimiser.

    python benchmarks/image_supernet_step.py --out benchmarks/results/image_supernet_step.md
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from budgetnas.bignas import quantile_child
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet


def _timed_step(model: Callable[[torch.Tensor], torch.Tensor], opt: torch.optim.Optimizer,
                x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """One SGD step; thread CPU seconds of (forward + loss, backward, optimiser)."""
    t0 = time.thread_time()
    loss = F.cross_entropy(model(x), y)
    t1 = time.thread_time()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    t2 = time.thread_time()
    opt.step()
    t3 = time.thread_time()
    return t1 - t0, t2 - t1, t3 - t2


def bench_space(name: str, width: float, batch: int, reps: int, seed: int) -> list[dict]:
    """Rows ``{space, child, params, child_ms (fwd, bwd, opt), super_ms (...)}`` for one space."""
    torch.manual_seed(seed)
    space = get_space(name)
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=width).train()
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(batch, 1, 28, 28, generator=g), torch.randint(0, 10, (batch,), generator=g)
    children = {"smallest": space.to_vector(space.smallest()),
                "middle (q 0.5)": quantile_child(space, 0.5),
                "random": space.sample_batch(1, np.random.default_rng(seed))[0],
                "largest": space.to_vector(space.largest())}
    sup_opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    rows = []
    for cname, v in children.items():
        arch = space.materialize(space.from_vector(v))
        child = net.extract(arch).train()
        c_opt = torch.optim.SGD(child.parameters(), lr=1e-3, momentum=0.9)

        def sup(xb: torch.Tensor, arch: object = arch) -> torch.Tensor:
            return net(xb, arch)

        tc, ts = [], []
        for r in range(reps + 3):
            c = _timed_step(child, c_opt, x, y)
            s = _timed_step(sup, sup_opt, x, y)
            if r >= 3:
                tc.append(c)
                ts.append(s)
        mc, ms = np.median(tc, axis=0) * 1e3, np.median(ts, axis=0) * 1e3
        # median of the whole step, not the sum of the parts' medians
        step_c = float(np.median(np.sum(tc, axis=1)) * 1e3)
        step_s = float(np.median(np.sum(ts, axis=1)) * 1e3)
        row = {"space": name, "child": cname,
               "params": sum(p.numel() for p in child.parameters()),
               "super_params": net.num_parameters(), "child_ms": mc, "super_ms": ms,
               "child_step": step_c, "super_step": step_s}
        rows.append(row)
        print(f"{name:16s} {cname:15s} params {row['params']:>9d} child {step_c:8.1f} ms "
              f"supernet {step_s:8.1f} ms ratio {step_s / step_c:.2f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spaces", default="mobilenetv3_like,proxylessnas,mobiledet")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    load0 = ", ".join(open("/proc/loadavg").read().split()[:3])
    rows = [r for s in a.spaces.split(",") for r in bench_space(s, a.width, a.batch, a.reps,
                                                                  a.seed)]
    load1 = ", ".join(open("/proc/loadavg").read().split()[:3])
    if not a.out:
        return
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    ncpu = sum(ln.startswith("processor") for ln in open("/proc/cpuinfo"))
    ratios = [r["super_step"] / r["child_step"] for r in rows]
    with open(a.out, "w") as f:
        f.write("# Conv supernet step vs standalone child step\n\n")
        f.write(f"Command: `/work/notes/bench_slot python benchmarks/image_supernet_step.py "
                f"--spaces {a.spaces} --width {a.width} --batch {a.batch} --reps {a.reps} "
                f"--threads {a.threads} --out {a.out}`\n\n")
        f.write(f"Machine: {cpu}, nproc {ncpu}, torch {torch.__version__}; {a.threads} torch "
                f"thread (of {ncpu} cores), run alongside one other single-threaded benchmark; "
                f"load average {load0} at the start, {load1} at the end. Times are thread CPU "
                "time (`time.thread_time`), which other processes do not enter (they still share "
                "caches and memory bandwidth).\n\n")
        f.write(f"One SGD step (momentum 0.9, cross-entropy), input 28×28×1, batch {a.batch}, "
                f"width multiplier {a.width}, train mode (batch-norm on batch statistics, running "
                "statistics updated). Standalone = the child built by `ConvSupernet.extract` with "
                "its own optimiser; supernet = `ConvSupernet.forward(x, child)` on slices of the "
                "shared tensors, the optimiser over all shared tensors (untouched ones have no "
                "gradient and are skipped). Steps alternate; medians of "
                f"{a.reps} steps after 3 warm-up steps; fwd / bwd / opt are the medians of the "
                "parts.\n\n")
        f.write("| space | child | child params | supernet params | standalone step ms "
                "(fwd / bwd / opt) | supernet step ms (fwd / bwd / opt) | ratio |\n")
        f.write("|---|---|---:|---:|---:|---:|---:|\n")
        for r, q in zip(rows, ratios):
            c, s = r["child_ms"], r["super_ms"]
            f.write(f"| {r['space']} | {r['child']} | {r['params']:,} | {r['super_params']:,} | "
                    f"{r['child_step']:.1f} ({c[0]:.1f} / {c[1]:.1f} / {c[2]:.1f}) | "
                    f"{r['super_step']:.1f} ({s[0]:.1f} / {s[1]:.1f} / {s[2]:.1f}) | {q:.2f} |\n")
        f.write(f"\nRatio supernet / standalone: max {max(ratios):.2f}, median "
                f"{float(np.median(ratios)):.2f} over {len(ratios)} children; the ≤ 1.5× goal "
                f"is {'met for every child' if max(ratios) <= 1.5 else 'NOT met for every child'}"
                ".\n")


if __name__ == "__main__":
    main()
