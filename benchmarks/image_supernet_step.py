"""Supernet training step for a child vs the standalone child's step (issue 8 criterion: ≤ 1.5×).

For a few children of a conv space (smallest, a quantile-0.5 child, largest, random), time one SGD
step (forward, backward, optimiser) of (a) the standalone child built by ``extract`` and (b) the
supernet running the same child on sliced weights. The two are timed alternately, step by step,
so that load from other processes hits both alike; medians are reported.

    python benchmarks/image_supernet_step.py --space mobilenetv3_like --batch 64 --reps 15
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from budgetnas.bignas import quantile_child
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="mobilenetv3_like")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    space = get_space(a.space)
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=a.width).train()
    x, y = torch.randn(a.batch, 1, 28, 28), torch.randint(0, 10, (a.batch,))
    children = {"smallest": space.to_vector(space.smallest()),
                "quantile_0.5": quantile_child(space, 0.5),
                "random": space.sample_batch(1, np.random.default_rng(0))[0],
                "largest": space.to_vector(space.largest())}
    sup_opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    rows = []
    for name, v in children.items():
        arch = space.materialize(space.from_vector(v))
        child = net.extract(arch).train()
        c_opt = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9)

        def step_child(child: torch.nn.Module = child, c_opt: torch.optim.Optimizer = c_opt) -> None:
            loss = F.cross_entropy(child(x), y)
            c_opt.zero_grad(set_to_none=True)
            loss.backward()
            c_opt.step()

        def step_super(arch: object = arch) -> None:
            loss = F.cross_entropy(net(x, arch), y)
            sup_opt.zero_grad(set_to_none=True)
            loss.backward()
            sup_opt.step()

        for _ in range(2):
            step_child()
            step_super()
        tc, ts = [], []
        for _ in range(a.reps):
            t = time.perf_counter()
            step_child()
            tc.append(time.perf_counter() - t)
            t = time.perf_counter()
            step_super()
            ts.append(time.perf_counter() - t)
        mc, ms = np.median(tc) * 1e3, np.median(ts) * 1e3
        params = space.params(arch, num_classes=10, in_channels=1, width_mult=a.width)
        rows.append((name, params, mc, ms, ms / mc))
        print(f"{name:14s} params {params:>9d} child {mc:8.1f} ms supernet {ms:8.1f} ms "
              f"ratio {ms / mc:.2f}", flush=True)
    if a.out:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), platform.processor())
        load = open("/proc/loadavg").read().split()[:3]
        with open(a.out, "w") as f:
            f.write("# Conv supernet step vs standalone child step\n\n")
            f.write(f"Command: `python benchmarks/image_supernet_step.py --space {a.space} "
                    f"--width {a.width} --batch {a.batch} --reps {a.reps} --threads {a.threads}`\n\n")
            f.write(f"Machine: nproc={torch.get_num_threads()} threads used of "
                    f"{len(open('/proc/cpuinfo').read().split('processor')) - 1} CPUs, {cpu}, "
                    f"torch {torch.__version__}; load average during the run {', '.join(load)} "
                    "(other jobs shared the CPUs; the two steps were timed alternately).\n\n")
            f.write(f"Input 28×28×1, batch {a.batch}, SGD momentum 0.9, train mode; supernet "
                    f"parameters {net.num_parameters()}. Median of {a.reps} steps.\n\n")
            f.write("| child | params | standalone step (ms) | supernet step (ms) | ratio |\n")
            f.write("|---|---:|---:|---:|---:|\n")
            for r in rows:
                f.write(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.2f} |\n")


if __name__ == "__main__":
    main()
