"""Throughput of the search-space core and the Study loop, next to PyGlove 0.4.5.

On the 12-decision space 4 blocks x kernel {3,5,7} x expansion {1,3,6} x width {16,24,32,48}
(1,679,616 children) it measures, in one process:

* batched random DNA sampling (``space.sample_batch``: an int64 ``(n, 12)`` array), and the same
  turned into ``DNA`` objects (``spec.from_vectors``);
* Random search through the Study's ask/tell with a trivial objective (propose, materialise,
  record, tell, feedback), and the same through ``study.optimize`` and ``bn.sample``;
* ``space.materialize`` of dict-valued children, with the DNA check (the default) and without;
* PyGlove 0.4.5 on the same space: ``pg.sample`` with ``pg.geno.Random`` and a trivial
  feedback, ``pg.materialize``, and ``pg.random_dna``.

Each figure is the median (and best) of ``--repeats`` timed runs of a fixed amount of work, with
Python's garbage collector on (as users run it). Run from the repository root::

    pip install -e ".[bench]"          # pyglove==0.4.5, a benchmark-only dependency
    python benchmarks/foundation.py --out benchmarks/results/foundation.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import budgetnas as bn

TARGETS = {"sample_batch": 100_000, "ask_tell": 20_000, "materialize": 10_000}


def space_budgetnas() -> bn.Space:
    return bn.Space({"blocks": [{"kernel": bn.oneof([3, 5, 7]),
                                 "expansion": bn.oneof([1, 3, 6]),
                                 "width": bn.oneof([16, 24, 32, 48])} for _ in range(4)]})


def rate(work: Callable[[], int], repeats: int) -> tuple[float, float, float]:
    """Items per second of ``work()`` (which returns how many items it did): the median and
    best over ``repeats`` runs of wall-clock time, and the median per CPU-second of this process
    (``time.process_time``: what the process got, less sensitive to a shared, loaded machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        n = work()
        wall.append(n / (time.perf_counter() - t))
        cpu.append(n / max(time.process_time() - c, 1e-9))
    return statistics.median(wall), max(wall), statistics.median(cpu)


# ---------------------------------------------------------------------- budgetnas
def bench_budgetnas(repeats: int, n_trials: int) -> dict[str, tuple[float, float, float]]:
    space = space_budgetnas()
    assert space.size == 1_679_616 and space.num_decisions == 12
    out: dict[str, tuple[float, float, float]] = {}
    rng = np.random.default_rng(0)

    def sample_batch() -> int:
        X = space.sample_batch(100_000, rng)
        return len(X)

    def sample_dna() -> int:
        return len(space.spec.from_vectors(space.sample_batch(100_000, rng)))

    out["sample_batch"] = rate(sample_batch, repeats)
    out["sample_dna"] = rate(sample_dna, repeats)

    def ask_tell() -> int:
        study = bn.Study(space, bn.Random(seed=0))
        for _ in range(n_trials):
            trial = study.ask()
            study.tell(trial, 1.0)
        assert len(study.trials) == n_trials
        return n_trials

    def optimize() -> int:
        study = bn.Study(space, bn.Random(seed=0))
        study.optimize(lambda trial: 1.0, n_trials=n_trials)
        return n_trials

    def sample_loop() -> int:
        n = 0
        for _child, trial in bn.sample(space, bn.Random(seed=0), num_trials=n_trials):
            trial.tell(1.0)
            n += 1
        return n

    out["ask_tell"] = rate(ask_tell, repeats)
    out["optimize"] = rate(optimize, repeats)
    out["sample_loop"] = rate(sample_loop, repeats)

    def long_study() -> int:  # one study of 5x the trials: the per-trial cost must not grow
        study = bn.Study(space, bn.Random(seed=0))
        for _ in range(5 * n_trials):
            study.tell(study.ask(), 1.0)
        return 5 * n_trials

    out["ask_tell_long"] = rate(long_study, max(1, repeats // 2))

    dnas = space.spec.from_vectors(space.sample_batch(20_000, np.random.default_rng(1)))
    as_lists = [list(d) for d in dnas]

    def materialize() -> int:
        for d in dnas:
            space.materialize(d)
        return len(dnas)

    def materialize_lists() -> int:
        for d in as_lists:
            space.materialize(d)
        return len(as_lists)

    def materialize_unchecked() -> int:
        for d in dnas:
            space.materialize(d, validate=False)
        return len(dnas)

    child = space.materialize(dnas[0])
    assert isinstance(child, dict) and child["blocks"][0]["kernel"] in (3, 5, 7)
    out["materialize"] = rate(materialize, repeats)
    out["materialize_lists"] = rate(materialize_lists, repeats)
    out["materialize_unchecked"] = rate(materialize_unchecked, repeats)
    return out


# ---------------------------------------------------------------------- PyGlove
def bench_pyglove(repeats: int, n_examples: int) -> dict[str, tuple[float, float, float]] | str:
    try:
        import pyglove as pg
    except ImportError:
        return "not installed (pip install pyglove==0.4.5, or the package's [bench] extra)"
    space = pg.Dict(blocks=[pg.Dict(kernel=pg.oneof([3, 5, 7]), expansion=pg.oneof([1, 3, 6]),
                                    width=pg.oneof([16, 24, 32, 48])) for _ in range(4)])
    spec = pg.dna_spec(space)
    assert spec.space_size == 1_679_616 and len(spec.decision_points) == 12
    out: dict[str, tuple[float, float, float]] = {}

    def sample() -> int:
        n = 0
        for _child, feedback in pg.sample(space, pg.geno.Random(seed=0), num_examples=n_examples):
            feedback(1.0)
            n += 1
        return n

    out["sample"] = rate(sample, repeats)
    import random

    r = random.Random(0)
    dnas = [pg.random_dna(spec, random_generator=r) for _ in range(n_examples)]

    def materialize() -> int:
        for d in dnas:
            pg.materialize(space, d)
        return len(dnas)

    def random_dna() -> int:
        for _ in range(n_examples):
            pg.random_dna(spec, random_generator=r)
        return n_examples

    out["materialize"] = rate(materialize, repeats)
    out["random_dna"] = rate(random_dna, repeats)
    out["version"] = pg.__version__  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------------- report
def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch_version, "budgetnas": bn.__version__,
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def report(ours: dict, theirs: dict | str, args: argparse.Namespace, info: dict,
           load_after: str) -> str:
    lines = [
        "# Foundation benchmark: search-space core and Study loop vs PyGlove",
        "",
        f"Command: `python benchmarks/foundation.py --repeats {args.repeats} --trials {args.trials}"
        f" --pyglove-examples {args.pyglove_examples}{' --out ' + args.out if args.out else ''}`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}); Python {info['python']}, "
        f"numpy {info['numpy']}, torch {info['torch']}, budgetnas {info['budgetnas']}"
        + (f", pyglove {theirs['version']}" if isinstance(theirs, dict) else "") + ". "
        f"Load average (1, 5, 15 min) at start: {info['load']}; at end: {load_after} "
        "(the machine is shared; a load above the CPU count slows every figure).",
        "",
        "Space: 4 blocks x kernel {3,5,7} x expansion {1,3,6} x width {16,24,32,48}: "
        "12 decision points, 1,679,616 children. Figures: items per second of wall-clock time, "
        f"median (best) of {args.repeats} timed runs (PyGlove: {max(1, args.repeats // 2)}), "
        "garbage collector on; and items per CPU-second of the process (median), which a busy "
        "machine distorts less. The ratio is of the per-CPU-second figures.",
        "",
        "| What | budgetnas, wall | budgetnas, per CPU-s | target | PyGlove 0.4.5, wall | "
        "PyGlove, per CPU-s | budgetnas / PyGlove |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    pg = theirs if isinstance(theirs, dict) else {}

    def row(label: str, key: str, target: str = "", pg_key: str | None = None) -> None:
        med, best, cpu = ours[key]
        pgs = pg.get(pg_key) if pg_key else None
        pg_cells = f"{pgs[0]:,.1f} ({pgs[1]:,.1f}) | {pgs[2]:,.1f}" if pgs else " | "
        ratio = f"{cpu / pgs[2]:,.0f}x" if pgs else ""
        lines.append(f"| {label} | {fmt(med)} ({fmt(best)}) | {fmt(cpu)} | {target} | "
                     f"{pg_cells} | {ratio} |")

    row("random DNA sampling, batched int64 array (DNA/s)", "sample_batch",
        f"≥ {TARGETS['sample_batch']:,}", "random_dna")
    row("random DNA sampling as `DNA` objects (DNA/s)", "sample_dna", "", "random_dna")
    row(f"Random search, Study ask + tell, trivial objective ({args.trials:,} trials/run) "
        "(trials/s)", "ask_tell", f"≥ {TARGETS['ask_tell']:,}", "sample")
    row("the same through `study.optimize` (trials/s)", "optimize", "", "sample")
    row("the same through `for child, trial in bn.sample(...)` (trials/s)", "sample_loop", "",
        "sample")
    row(f"ask + tell, one study of {5 * args.trials:,} trials (trials/s)", "ask_tell_long", "",
        "sample")
    row("materialize dict-valued children, DNA checked (default) (children/s)", "materialize",
        f"≥ {TARGETS['materialize']:,}", "materialize")
    row("materialize from plain lists, checked (children/s)", "materialize_lists", "",
        "materialize")
    row("materialize, `validate=False` (children/s)", "materialize_unchecked", "", "materialize")
    lines.append("")
    if isinstance(theirs, str):
        lines.append(f"PyGlove: {theirs}.")
    else:
        lines.append(
            f"PyGlove rows: `pg.sample(space, pg.geno.Random(seed=0), num_examples="
            f"{args.pyglove_examples})` with `feedback(1.0)` (the ask/tell rows), "
            "`pg.materialize(space, dna)` and `pg.random_dna(spec)` (the sampling rows), on "
            "`pg.Dict(blocks=[pg.Dict(kernel=pg.oneof(...), ...) for _ in range(4)])`.")
    for what, col in (("wall-clock", 0), ("per CPU-second", 2)):
        met = [k for k, t in TARGETS.items() if ours[k][col] >= t]
        lines += ["", f"Targets met ({what}, median): " + (", ".join(met) or "none")
                  + "; missed: " + (", ".join(k for k in TARGETS if k not in met) or "none")
                  + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--trials", type=int, default=20_000, help="trials per ask/tell run")
    p.add_argument("--pyglove-examples", type=int, default=200)
    p.add_argument("--out", default=None, help="write the markdown report here")
    args = p.parse_args(argv)
    info = machine()
    ours = bench_budgetnas(args.repeats, args.trials)
    theirs = bench_pyglove(max(1, args.repeats // 2), args.pyglove_examples)
    load_after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(ours, theirs, args, info, load_after)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
