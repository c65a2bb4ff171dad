"""Time one training step of an MLP supernet child against a standalone MLP of the same widths.

One step = forward + backward + Adam update on a batch of real, preprocessed UCI Adult rows
(93 features). Three ways are timed for each child, interleaved round by round so that machine
load hits them alike:

- ``standalone``: ``build_mlp(n_in, widths, 1)`` with ``torch.optim.Adam``;
- ``sliced``: ``MLPSupernet`` + ``SlicedAdam.train_step`` (child-sized gradients and update);
- ``naive``: ``MLPSupernet.forward(x, widths)`` with ``torch.optim.Adam`` over the whole supernet
  (full-size gradients and update: the cost that ``SlicedAdam`` avoids).

The issue-5 target is ``sliced / standalone <= 1.3``.

Run:  python benchmarks/supernet_step.py --out benchmarks/results/supernet_step.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _machine import cpu_model

from budgetnas.supernet.mlp import MLPSupernet, SlicedAdam
from budgetnas.tabular import build_mlp, load_dataset, load_tabular

CHILDREN = {
    "small": (32, 16),
    "medium": (128, 64),
    "large": (256, 256, 128),
    "full": (512, 512, 512),
    "shallow": (64,),
}


def _time_block(step: Callable[[], None], n: int, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e3


def bench(args: argparse.Namespace) -> tuple[list[dict], int]:
    train, _, target = load_dataset("adult")
    data = load_tabular(train, target, seed=0)
    x = torch.as_tensor(data.X_train[: args.batch], device=args.device)
    y = torch.as_tensor(data.y_train[: args.batch], dtype=torch.float32, device=args.device)
    n_in = x.shape[1]

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out[:, 0], target)

    rows = []
    for name, widths in CHILDREN.items():
        torch.manual_seed(0)
        mlp = build_mlp(n_in, widths, 1).to(args.device)
        mlp_opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
        sup = MLPSupernet(n_in, args.max_widths, 1).to(args.device)
        sliced_opt = SlicedAdam(sup, lr=1e-3)
        sup_naive = MLPSupernet(n_in, args.max_widths, 1).to(args.device)
        naive_opt = torch.optim.Adam(sup_naive.parameters(), lr=1e-3)

        def standalone(mlp=mlp, mlp_opt=mlp_opt) -> None:
            mlp_opt.zero_grad(set_to_none=True)
            loss_fn(mlp(x), y).backward()
            mlp_opt.step()

        def sliced(widths=widths, sliced_opt=sliced_opt) -> None:
            sliced_opt.train_step(x, y, widths, loss_fn)

        def naive(widths=widths, sup_naive=sup_naive, naive_opt=naive_opt) -> None:
            naive_opt.zero_grad(set_to_none=True)
            loss_fn(sup_naive(x, widths), y).backward()
            naive_opt.step()

        ways = {"standalone": standalone, "sliced": sliced, "naive": naive}
        for fn in ways.values():  # warm-up: allocator, kernels, Adam state
            _time_block(fn, args.warmup, args.device)
        times: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(args.rounds):
            for k, fn in ways.items():
                times[k].append(_time_block(fn, args.steps, args.device))
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            {
                "child": name,
                "widths": widths,
                "params": sup.num_params(widths),
                **{f"{k}_ms": v for k, v in med.items()},
                "ratio": med["sliced"] / med["standalone"],
                "naive_ratio": med["naive"] / med["standalone"],
            }
        )
    return rows, n_in


def _table(rows: list[dict]) -> str:
    header = (
        "| child | widths | child params | standalone ms | sliced ms | sliced / standalone "
        "| naive ms | naive / standalone |\n|---|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {r['child']} | {'-'.join(map(str, r['widths']))} | {r['params']:,} | "
        f"{r['standalone_ms']:.3f} | {r['sliced_ms']:.3f} | **{r['ratio']:.2f}** | "
        f"{r['naive_ms']:.3f} | {r['naive_ratio']:.2f} |"
        for r in rows
    ]
    return "\n".join([header, *lines])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--max-widths", type=int, nargs="+", default=[512, 512, 512])
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1],
        help="torch intra-op threads (CPU), one table each",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds")
    p.add_argument("--steps", type=int, default=20, help="steps per timed block")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--out", help="write a markdown report here")
    args = p.parse_args()
    start = time.time()
    load_before = os.getloadavg()[0]
    tables = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows, n_in = bench(args)
        tables.append(f"### {threads} intra-op thread(s)\n\n" + _table(rows))
        print(tables[-1], flush=True)
    load_after = os.getloadavg()[0]
    table = "\n\n".join(tables)
    if args.out:
        cmd = "python benchmarks/supernet_step.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items()
            if v is not None
        )
        text = f"""# Supernet child step vs standalone MLP step

What: one training step (forward + backward + Adam update) on a batch of {args.batch} real,
preprocessed UCI Adult rows ({n_in} features, binary cross-entropy), median ms per step over
{args.rounds} interleaved rounds of {args.steps} steps (after {args.warmup} warm-up steps each).
Supernet max widths {args.max_widths}, output 1.

- **standalone**: `build_mlp(n_in, widths, 1)` + `torch.optim.Adam`.
- **sliced**: `MLPSupernet` + `SlicedAdam.train_step` (gradients and Adam update on the child's
  slices only). Issue-5 target: sliced / standalone <= 1.3.
- **naive**: `MLPSupernet.forward(x, widths)` + `torch.optim.Adam` over the whole supernet
  (full-size gradients, whole-supernet Adam update).

Command: `{cmd}`

Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, torch {torch.__version__},
device {args.device}, intra-op threads {args.threads} (one table each), Python {platform.python_version()}.
Load average (1 min) {load_before:.1f} before / {load_after:.1f} after: the machine was shared
with other jobs, so absolute times are noisy; the interleaved rounds keep the ratios fair.
Run at {time.strftime("%Y-%m-%d %H:%M", time.localtime(start))}.

{table}
"""
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
