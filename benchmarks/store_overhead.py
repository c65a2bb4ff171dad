"""Store overhead per trial with SQLite: the same study loop on an in-memory store and on a SQLite
file (WAL, synchronous=NORMAL and FULL); the overhead is the difference per trial.

    python benchmarks/store_overhead.py [--trials 2000]

Each trial costs two transactions: one at ask (trial + number + the algorithm's state after
propose) and one at tell (finished trial + state after feedback).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import budgetnas as bn
from budgetnas.store import SQLStorage


def space() -> bn.Space:
    # A tabular-MLP-like space: 4 layers of width choices, activation, dropout.
    return bn.Space({"widths": [bn.oneof([0, 8, 16, 32, 64, 128, 256]) for _ in range(4)],
                     "act": bn.oneof(["relu", "gelu", "silu"]), "drop": bn.floatv(0.0, 0.5)})


def objective(trial) -> float:
    return float(sum(trial.child["widths"])) / 1000 - trial.child["drop"]


def per_trial_ms(storage, n: int, algo) -> float:
    study = bn.Study(space(), algo, storage=storage, study_name="bench", seed=0)
    study.optimize(objective, n_trials=20)  # warm-up (first transactions, caches)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return (time.perf_counter() - t0) / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for name, make_algo in [("Random", lambda: bn.Random(seed=0)),
                            ("Dedup(Random)", lambda: bn.Dedup(bn.Random(seed=0)))]:
        mem = min(per_trial_ms(bn.InMemoryStorage(), args.trials, make_algo())
                  for _ in range(args.repeats))
        for sync in ("NORMAL", "FULL"):
            times = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as d:
                    st = SQLStorage(os.path.join(d, "study.db"), synchronous=sync)
                    times.append(per_trial_ms(st, args.trials, make_algo()))
            sql = min(times)
            rows.append((name, sync, mem, sql, sql - mem))
    print(f"trials per run: {args.trials}, best of {args.repeats}; python {platform.python_version()}")
    print("| algorithm | SQLite synchronous | in-memory ms/trial | SQLite ms/trial | store overhead ms/trial |")
    print("|---|---|---|---|---|")
    for name, sync, mem, sql, over in rows:
        print(f"| {name} | {sync} | {mem:.3f} | {sql:.3f} | {over:.3f} |")


if __name__ == "__main__":
    main()
