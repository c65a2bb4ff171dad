"""Ray executor speed-up: 8 trials of 2 s each with 1 worker, then with 2 workers, on a local
Ray cluster with 2 CPUs (started once, before both timings).

    python benchmarks/store_ray_speedup.py [--trials 8] [--seconds 2]
"""

from __future__ import annotations

import argparse
import functools
import time

import ray

import budgetnas as bn
from budgetnas.executor import RayExecutor


def sleeper(trial, seconds: float) -> float:
    time.sleep(seconds)
    return float(trial.seed % 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - t0
    space = bn.Space({"w": bn.oneof(list(range(16)))})
    objective = functools.partial(sleeper, seconds=args.seconds)
    times, values = {}, {}
    for workers in (1, 2):
        study = bn.Study(space, bn.Random(seed=0), seed=1)
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=args.trials, executor=RayExecutor(workers=workers))
        times[workers] = time.perf_counter() - t0
        values[workers] = [t.value for t in study.trials]
    ray.shutdown()
    print(f"ray {ray.__version__}; cluster start {start_s:.1f} s; {args.trials} trials of "
          f"{args.seconds:g} s; same values with 1 and 2 workers: {values[1] == values[2]}")
    print("| workers | wall s | speed-up |")
    print("|---|---|---|")
    for w in (1, 2):
        print(f"| {w} | {times[w]:.2f} | {times[1] / times[w]:.2f}x |")


if __name__ == "__main__":
    main()
