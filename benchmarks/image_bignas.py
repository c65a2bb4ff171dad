"""BigNAS on Fashion-MNIST: children without retraining vs the same children trained from scratch.

One supernet of a conv space is trained with BigNAS (sandwich rule with 2 random children,
inplace distillation, zero-initialised residual BN γ, regularisation on the largest child only,
exponential learning rate with a constant ending; Yu et al., ECCV 2020, §3). Then, for the
smallest, the middle (every dimension at quantile 0.5) and the largest child:

- test accuracy with the shared weights, no retraining, **without** BN calibration (the shared
  running statistics left by training) and **with** BN calibration on training images (§3.3);
- test accuracy of the same architecture trained from scratch, standalone, for as many steps on
  the same batches size and data as the supernet saw (recipe in the results file).

Finally coarse-to-fine selection (§3.4) under a MACs budget, children ranked by calibrated
validation accuracy.

    python benchmarks/image_bignas.py --out benchmarks/results/image_bignas.md
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model

from budgetnas.bignas import BigNASTrainer, coarse_to_fine, evaluate_child, quantile_child
from budgetnas.cost.base import Constraint
from budgetnas.oneshot import BatchStream
from budgetnas.spaces import get_space
from budgetnas.supernet.conv import ConvSupernet
from budgetnas.vision.search import image_costs, load_image_data
from budgetnas.vision.train import TrainConfig, evaluate, train_image_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "image" / "fashion-mnist"


def _load() -> str:
    return ", ".join(open("/proc/loadavg").read().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="mobilenetv3_like")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-val", type=int, default=1_000)
    ap.add_argument("--n-test", type=int, default=3_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--n-calib", type=int, default=1024)
    ap.add_argument("--grid", type=int, default=3, help="coarse levels per dimension")
    ap.add_argument("--max-macs", type=float, default=1.0e6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    load_start = _load()
    wall0 = time.perf_counter()

    data = load_image_data(DATA, n_train=a.n_train, n_val=a.n_val, n_test=a.n_test, seed=a.seed)
    space = get_space(a.space)
    net = ConvSupernet(space, num_classes=10, in_channels=1, width_mult=a.width)
    steps = a.epochs * int(math.ceil(a.n_train / a.batch))
    warmup = max(1, steps // 20)
    trainer = BigNASTrainer(net, BatchStream(data.train_x, data.train_y, a.batch, seed=a.seed),
                            total_steps=steps, lr=a.lr, warmup_steps=warmup, seed=a.seed)
    t0 = time.thread_time()
    trainer.run(log_every=max(1, steps // 10))
    t_super = time.thread_time() - t0
    print(f"supernet: {steps} steps in {t_super:.0f} s thread CPU", flush=True)

    costs = image_costs(space, width_mult=a.width)
    macs = costs.macs_cost()
    children = {"smallest": np.asarray(space.to_vector(space.smallest()), dtype=np.int64),
                "middle (quantile 0.5)": quantile_child(space, 0.5),
                "largest": np.asarray(space.to_vector(space.largest()), dtype=np.int64)}
    g = torch.Generator().manual_seed(a.seed + 1)
    calib_x = data.train_x[torch.randperm(len(data.train_x), generator=g)[:a.n_calib]]
    scratch_cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch, lr=a.lr, momentum=0.9,
                              nesterov=True, weight_decay=3e-5, label_smoothing=0.1,
                              warmup_epochs=warmup / math.ceil(a.n_train / a.batch), seed=a.seed)
    rows = []
    for name, v in children.items():
        t0 = time.thread_time()
        acc_raw = evaluate_child(net, v, None, data.test_x, data.test_y)
        acc_cal = evaluate_child(net, v, calib_x, data.test_x, data.test_y)
        t_eval = time.thread_time() - t0
        # from scratch: the same number of steps of the same batch size on the same images
        torch.manual_seed(a.seed)
        model = space.build(space.from_vector(v), num_classes=10, in_channels=1,
                            width_mult=a.width)
        train = torch.utils.data.TensorDataset(data.train_x, data.train_y)
        t0 = time.thread_time()
        train_image_model(model, train, config=scratch_cfg)
        t_scratch = time.thread_time() - t0
        acc_scr = evaluate(model, torch.utils.data.TensorDataset(data.test_x, data.test_y))[1]
        params = space.params(space.from_vector(v), num_classes=10, in_channels=1,
                              width_mult=a.width)
        row = (name, params, float(macs.batch(v[None])[0]), acc_raw, acc_cal, acc_scr,
               t_eval, t_scratch)
        rows.append(row)
        print(f"{name}: params {params} MACs {row[2]:.0f} no-calib {acc_raw:.4f} "
              f"calib {acc_cal:.4f} scratch {acc_scr:.4f} (scratch {t_scratch:.0f} s)", flush=True)

    t0 = time.thread_time()
    levels = tuple(float(v) for v in np.linspace(0.0, 1.0, a.grid))
    sel = coarse_to_fine(net, Constraint(macs, max=a.max_macs), calib_x, data.val_x,
                         data.val_y, levels=levels, fine_rounds=3, fine_mutations=6,
                         seed=a.seed)
    pick = np.asarray(sel.dna, dtype=np.int64)
    pick_test = evaluate_child(net, pick, calib_x, data.test_x, data.test_y)
    t_sel = time.thread_time() - t0
    n_coarse = sum(e["stage"] == "coarse" for e in sel.evaluations)
    n_fine = len(sel.evaluations) - n_coarse
    best_coarse = max(e["accuracy"] for e in sel.evaluations if e["stage"] == "coarse")
    pick_params = space.params(space.from_vector(pick), num_classes=10, in_channels=1,
                               width_mult=a.width)
    print(f"coarse_to_fine: val {sel.accuracy:.4f} test {pick_test:.4f} MACs {sel.cost:.0f} "
          f"({n_coarse} coarse + {n_fine} fine evaluations, {t_sel:.0f} s)", flush=True)
    wall = time.perf_counter() - wall0
    load_end = _load()
    print(f"total wall {wall:.0f} s", flush=True)
    if not a.out:
        return
    with open(a.out, "w") as f:
        f.write("# BigNAS on Fashion-MNIST: children without retraining vs trained from scratch\n\n")
        f.write(f"Command: `/work/notes/bench_slot python benchmarks/image_bignas.py --space "
                f"{a.space} --width {a.width} --n-train {a.n_train} --n-val {a.n_val} "
                f"--n-test {a.n_test} --epochs {a.epochs} --batch {a.batch} --lr {a.lr} "
                f"--n-calib {a.n_calib} --grid {a.grid} --max-macs {a.max_macs:g} --threads {a.threads} "
                f"--seed {a.seed} --out {a.out}`\n\n")
        f.write(f"Machine: {cpu_model()}, nproc {len([ln for ln in open('/proc/cpuinfo') if ln.startswith('processor')])}, "
                f"torch {torch.__version__}; {a.threads} thread (of 2 cores), run alongside one "
                f"other single-threaded benchmark; load average {load_start} at the start, "
                f"{load_end} at the end. Total wall-clock {wall / 60:.1f} min. Times below are "
                "thread CPU time (`time.thread_time`).\n\n")
        f.write(f"Data: Fashion-MNIST 28×28 grey, {a.n_train} training images (seeded subset of "
                f"the official training split), {a.n_val} validation images (disjoint, same "
                f"split), the first {a.n_test} images of the official test split for the "
                "accuracies below.\n\n")
        f.write(f"Supernet: `{a.space}` at width multiplier {a.width} "
                f"({net.num_parameters():,} shared parameters). BigNAS training "
                f"(`BigNASTrainer`): {steps} steps of batch {a.batch} ({a.epochs} epochs), "
                "each step the largest, the smallest and 2 uniformly random children on the same "
                "batch, gradients summed, one SGD step (Nesterov momentum 0.9); the largest "
                "learns from the labels with label smoothing 0.1, dropout 0.2 before the "
                "classifier and an L2 penalty 3e-5 (weight decay), the others from the "
                "largest's soft predictions (inplace distillation) without regularisation; "
                "residual BN γ zero-initialised; learning rate: linear warm-up over "
                f"{warmup} steps to {a.lr}, exponential decay to 5% of it over 80% of the "
                f"steps, then constant. Training took {t_super:.0f} s thread CPU.\n\n")
        f.write(f"BN calibration: the child's BN statistics re-estimated as the exact mean over "
                f"{a.n_calib} training images (batches of 256), the shared statistics put back "
                "afterwards. Without calibration: the running statistics as training left them "
                "(momentum 0.1, updated by every child of every step).\n\n")
        f.write(f"From scratch: the same architecture built standalone, trained on the same "
                f"{a.n_train} images for the same {a.epochs} epochs at batch {a.batch} "
                f"(the same number of optimiser steps as the supernet), SGD Nesterov momentum "
                f"0.9, peak lr {a.lr}, linear warm-up over the same {warmup} steps then cosine "
                "decay to 0, weight decay 3e-5 (weights of dimension ≥ 2), label smoothing 0.1, "
                "no dropout (`train_image_model`). The supernet's step costs about the largest "
                "+ smallest + 2 random children's steps, so from scratch each child gets fewer "
                "FLOPs than the supernet training as a whole, but as many images and steps.\n\n")
        f.write("| child | params | MACs | test acc., no retraining, no BN calibration | "
                "with BN calibration | trained from scratch | scratch training (s) |\n")
        f.write("|---|---:|---:|---:|---:|---:|---:|\n")
        for r in rows:
            f.write(f"| {r[0]} | {r[1]:,} | {r[2]:,.0f} | {r[3]:.4f} | {r[4]:.4f} | "
                    f"{r[5]:.4f} | {r[7]:.0f} |\n")
        f.write(f"\nCoarse-to-fine selection under MACs ≤ {a.max_macs:,.0f} (`coarse_to_fine`): "
                f"coarse grid of filter / op / depth quantiles {tuple(round(x, 3) for x in levels)} "
                f"({n_coarse} feasible children evaluated), then 3 rounds of 6 one-decision "
                f"mutations ({n_fine} feasible new children evaluated); every child "
                f"BN-calibrated on the same {a.n_calib} training images and ranked by accuracy on the "
                f"{a.n_val} validation images. Best coarse child: {best_coarse:.4f} validation. "
                f"Pick: {sel.cost:,.0f} MACs, {pick_params:,} params, validation "
                f"{sel.accuracy:.4f}, test {pick_test:.4f} (calibrated, no retraining). "
                f"Selection took {t_sel:.0f} s thread CPU.\n\nPick (DNA vector): "
                f"`{list(sel.dna)}`\n")


if __name__ == "__main__":
    main()
