"""End-to-end time and accuracy of the README's first command on the shipped UCI Adult data.

Runs ``budgetnas search --dataset adult --max-params 5000 --out DIR`` (default settings: TabNAS
one-shot search, 1,500 steps, final retraining, equal-compute random children,
HistGradientBoosting reference, ONNX export, report) as a subprocess per seed, and writes
``benchmarks/results/tabular_adult.md`` with the wall-clock time, peak memory and the test
metrics next to HistGradientBoosting's. Target: at most 5 minutes on 2 cores.

Usage::

    python benchmarks/tabular_adult.py [--seeds 0 1] [--max-params 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-params", type=int, default=5000)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("budgetnas")
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "adult"
            cmd = [str(exe), "search", "--dataset", "adult", "--max-params", str(args.max_params),
                   "--seed", str(seed), "--out", str(out), "--quiet"]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"command failed ({proc.returncode}):\n{proc.stderr}")
            metrics = json.loads((out / "metrics.json").read_text())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # MiB, max so far
        rows.append((seed, seconds, peak, metrics))
        print(f"seed {seed}: {seconds:.0f} s, {metrics['final']['widths']}, test acc "
              f"{metrics['final']['test']['accuracy']:.4f}", flush=True)

    load = os.getloadavg()
    md = [
        "# `budgetnas search --dataset adult` end to end",
        "",
        f"Command: `budgetnas search --dataset adult --max-params {args.max_params} --seed S "
        "--out DIR` (all other settings default), run by `python benchmarks/tabular_adult.py "
        f"--seeds {' '.join(map(str, args.seeds))}`.",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), torch {torch.__version__}, "
        f"Python {platform.python_version()}. Load average after the runs: "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other jobs shared the machine, so "
        "times are upper bounds).",
        "",
        "Target: at most 5 minutes on 2 cores. Data: the official split: the 32,561 training "
        "rows split 70:15 into 26,814 training and 5,747 validation rows; 16,281 test rows.",
        "",
        "| seed | wall time | peak RSS | searched widths | params | test acc | bal. acc | AUC "
        "| best random (n) test acc | HGB test acc | HGB AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed, seconds, peak, m in rows:
        f, r, h = m["final"], m["random_best"], m["hist_gradient_boosting"]
        md.append(
            f"| {seed} | {seconds / 60:.1f} min | {peak:,.0f} MiB | "
            f"{'-'.join(map(str, f['widths']))} | {f['params']:,} | {f['test']['accuracy']:.4f} | "
            f"{f['test']['balanced_accuracy']:.4f} | {f['test']['roc_auc']:.4f} | "
            f"{r['test']['accuracy']:.4f} ({r['n_children']}) | {h['test']['accuracy']:.4f} | "
            f"{h['test']['roc_auc']:.4f} |")
    md += ["", "Phase times of the last run (seconds): "
           + ", ".join(f"{k} {v:.0f}" for k, v in rows[-1][3]["timings"].items()), ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tabular_adult.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
