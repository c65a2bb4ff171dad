"""CondConv (8 experts) vs plain convolutions (1 expert) in a small MobileNetV3-like net.

Trains each variant the same way on a Fashion-MNIST subset, then measures accuracy on the full
test split, parameters, MACs (budgetnas.cost.counting convention) and CPU latency at batch 1 and
64 for both CondConv execution paths (median of repeats).

Run from the repository root::

    python benchmarks/condconv.py --out benchmarks/results/condconv.md

Needs the Fashion-MNIST IDX files (``--data``, default ``../shared/data/image/fashion-mnist``).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from budgetnas.cost.counting import cost_report
from budgetnas.nn import ConvBNAct, InvertedBottleneck, make_divisible
from budgetnas.vision.data import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    load_fashion_mnist,
    to_tensor_dataset,
)
from budgetnas.vision.train import train_image_model

# (expansion, out channels, kernel, stride, SE, activation, CondConv) after a stride-2 stem:
# 28x28 -> 14 -> 7 -> 4. CondConv in the last three blocks, as the paper does for its last stages.
BLOCKS = [
    (1, 16, 3, 1, True, "relu", False),
    (4, 24, 3, 2, False, "relu", False),
    (3, 24, 3, 1, False, "relu", False),
    (3, 40, 5, 2, True, "hswish", True),
    (3, 40, 5, 1, True, "hswish", True),
    (3, 48, 5, 1, True, "hswish", True),
]


class TinyMobileNetV3(nn.Module):
    """MobileNetV3-small-like classifier for 1×28×28 images built from budgetnas.nn blocks."""

    def __init__(self, width: float = 1.0, num_experts: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        c = make_divisible(16 * width)
        layers: list[nn.Module] = [ConvBNAct(1, c, 3, 2, act="hswish")]
        for t, out, k, s, se, act, cond in BLOCKS:
            o = make_divisible(out * width)
            layers.append(InvertedBottleneck(c, o, t, k, s, se=se, act=act,
                                             num_experts=num_experts if cond else 1))
            c = o
        head = make_divisible(288 * width)
        layers.append(ConvBNAct(c, head, 1, act="hswish"))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))

    def set_condconv_path(self, path: str) -> None:
        for m in self.modules():
            if isinstance(m, InvertedBottleneck):
                m.set_condconv_path(path)


def latencies_ms(configs: dict[str, nn.Module], batch: int, repeats: int, warmup: int = 3
                 ) -> dict[str, float]:
    """Median ms of one forward pass (eval, no grad) per config, measured round-robin.

    Interleaving the configs within each round spreads any background load evenly over them,
    so the comparison stays fair on a shared machine.
    """
    x = torch.randn(batch, 1, 28, 28)
    times: dict[str, list[float]] = {k: [] for k in configs}
    with torch.no_grad():
        for m in configs.values():
            m.eval()
            for _ in range(warmup):
                m(x)
        for _ in range(repeats):
            for k, m in configs.items():
                t0 = time.perf_counter()
                m(x)
                times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"nproc={nproc}, CPU: {cpu}, torch {torch.__version__}, "
            f"torch threads={torch.get_num_threads()}, Python {platform.python_version()}, "
            f"load average (1/5/15 min) at the end: {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/image/fashion-mnist")
    ap.add_argument("--train-size", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training and latency (1 is robust on a shared machine)")
    ap.add_argument("--with-base", action="store_true",
                    help="also train the 1-expert net at width 1.0 (fewer MACs than CondConv)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    x, y = load_fashion_mnist(args.data, "train")
    xt, yt = load_fashion_mnist(args.data, "test")
    rng = np.random.default_rng(args.seed)
    idx = rng.permutation(len(y))
    tr, va = idx[: args.train_size], idx[args.train_size : args.train_size + 2000]
    norm = {"mean": FASHION_MNIST_MEAN, "std": FASHION_MNIST_STD}
    train = to_tensor_dataset(x[tr], y[tr], **norm)
    val = to_tensor_dataset(x[va], y[va], **norm)
    test = to_tensor_dataset(xt, yt, **norm)

    base_macs = cost_report(TinyMobileNetV3(1.0, 8), (1, 1, 28, 28)).macs
    # the 1-expert net widened until its MACs match the 8-expert net's (closest multiplier)
    widths = [round(1.0 + 0.05 * i, 2) for i in range(0, 21)]
    matched = min(widths, key=lambda w: abs(cost_report(TinyMobileNetV3(w, 1), (1, 1, 28, 28)).macs - base_macs))
    variants = [(f"1 expert, width {matched} (MACs matched)", matched, 1),
                ("CondConv 8 experts, width 1.0", 1.0, 8)]
    if args.with_base:
        variants.insert(0, ("1 expert, width 1.0", 1.0, 1))

    rows, nets = [], {}
    for name, width, experts in variants:
        torch.manual_seed(args.seed)
        net = TinyMobileNetV3(width, experts)
        rep = cost_report(net, (1, 1, 28, 28))
        res = train_image_model(net, train, val, test, epochs=args.epochs, batch_size=128,
                                lr=0.1, weight_decay=4e-5, seed=args.seed)
        rows.append((name, rep.params, rep.macs, res.val_accuracy, res.test_accuracy, res.seconds))
        nets[name] = net
        print(name, rep.params, rep.macs, res.test_accuracy, f"{res.seconds:.1f}s", flush=True)

    # latency: one copy per CondConv execution path, all measured round-robin
    configs: dict[tuple[str, str], nn.Module] = {}
    for name, net in nets.items():
        if net.features[-2].num_experts == 1:
            configs[(name, "plain")] = net
            continue
        for path in ("grouped", "mixture"):
            clone = copy.deepcopy(net)
            clone.set_condconv_path(path)
            configs[(name, path)] = clone
    keyed = {f"{n}|{p}": m for (n, p), m in configs.items()}
    b1 = latencies_ms(keyed, 1, args.repeats)
    b64 = latencies_ms(keyed, 64, max(5, args.repeats // 3))
    lat = {n: {} for n in nets}
    for (n, p) in configs:
        lat[n][p] = (b1[f"{n}|{p}"], b64[f"{n}|{p}"])
    print(lat, flush=True)
    rows = [r + (lat[r[0]],) for r in rows]

    total = time.perf_counter() - t_start
    lines = [
        "# CondConv: 8 experts vs 1 expert on Fashion-MNIST (tiny MobileNetV3-like net)",
        "",
        "Command: `python benchmarks/condconv.py"
        + (f" --train-size {args.train_size} --epochs {args.epochs} --seed {args.seed}"
           f" --repeats {args.repeats} --threads {args.threads}")
        + (" --with-base" if args.with_base else "") + (f" --out {args.out}`" if args.out else "`"),
        "",
        f"Machine: {machine()}.",
        "",
        f"Setup: {args.train_size} training images (seeded subset of the 60,000), 2,000 validation "
        f"images, accuracy on the full 10,000-image test split; {args.epochs} epochs, SGD Nesterov "
        "lr 0.1 cosine, batch 128, weight decay 4e-5, seed "
        f"{args.seed}. Network: stride-2 stem, 6 inverted bottlenecks (SE + h-swish in the last 3, "
        "which are the CondConv blocks), 1x1 head to 288, linear classifier. MACs are "
        "multiply-adds per 28x28 image (conv + linear + CondConv routing and kernel mixing, "
        "grouped path). Latency: median ms of one forward pass in eval mode, no grad, "
        f"{args.threads} torch thread(s), all rows measured round-robin "
        f"({args.repeats} rounds at batch 1, {max(5, args.repeats // 3)} at batch 64).",
        "",
        "| variant | params | MACs | val acc | test acc | train s | path | ms @ b1 | ms @ b64 |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, params, macs, va_acc, te_acc, secs, lat in rows:
        for i, (path, (b1, b64)) in enumerate(lat.items()):
            head = (f"| {name} | {params:,} | {macs:,} | {va_acc:.4f} | {te_acc:.4f} | {secs:.0f} "
                    if i == 0 else "| | | | | | ")
            lines.append(f"{head}| {path} | {b1:.2f} | {b64:.2f} |")
    lines += ["", f"Total runtime: {total:.0f} s.", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
