"""TuNAS linear latency model and lookup-table sums against latency measured on this machine.

Children: random children of the MobileNetV3-like space (TuNAS, Bender et al. 2020, §4) at 64×64
input, 200 classes (Tiny-ImageNet's resolution and classes), width multiplier 1.0 (the space's own
filter multipliers 0.5–2× already span small and large children), batch 1, 1 thread, PyTorch eager.

1. Build a lookup table: every layer signature the space can produce at 64×64, each measured alone.
2. Measure the whole network of each child (median of ``--repeats`` timed passes).
3. Split the children into training and held-out ones, and report Kendall τ, MAPE, R² on the
   held-out children for: the TuNAS linear model fitted to the measured training latencies; the
   table sum (raw, and with an affine correction a + b·sum fitted on the training children); the
   TuNAS linear model fitted to table sums of many random children; and MACs (affine) as a baseline.

Usage: python benchmarks/cost_mobilenetv3_linear.py [--children 300] [--out results.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model
from scipy.stats import kendalltau

from budgetnas.cost import LatencyCache, LatencySettings, load_table
from budgetnas.cost.space_costs import ConvSpaceCosts
from budgetnas.spaces import get_space

INPUT_SIZE, NUM_CLASSES, WIDTH = 64, 200, 1.0


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def quality(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    resid = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {"tau": float(kendalltau(pred, y).statistic),
            "mape": float(np.mean(np.abs(resid) / y)),
            "mdape": float(np.median(np.abs(resid) / y)),
            "r2": 1.0 - float((resid**2).sum()) / ss_tot}


def affine(x_train: np.ndarray, y_train: np.ndarray) -> tuple[float, float]:
    b, a = np.polyfit(x_train, y_train, 1)
    return float(a), float(b)


def _time_calls_thread_cpu(fn, warmup: int, repeats: int) -> list[float]:  # noqa: ANN001
    """``budgetnas.cost.latency._time_calls`` with the calling thread's CPU time (ms)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.thread_time_ns()
        fn()
        out.append((time.thread_time_ns() - t0) / 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=300)
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--table-repeats", type=int, default=20)
    ap.add_argument("--table-children", type=int, default=20000,
                    help="random children priced by the table to fit the linear model on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock", choices=("wall", "thread-cpu"), default="wall",
                    help="thread-cpu: time each pass by this thread's CPU time "
                         "(time.thread_time_ns), which a loaded machine's preemption does not "
                         "inflate (an experiment: measure_latency itself uses wall time)")
    ap.add_argument("--work", default="/tmp/budgetnas_cost_mnv3", help="caches (resumable)")
    ap.add_argument("--out", default="benchmarks/results/cost_mobilenetv3_linear.md")
    args = ap.parse_args()
    if args.clock == "thread-cpu":
        import budgetnas.cost.latency as latency_mod

        latency_mod._time_calls = _time_calls_thread_cpu
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    t_start = time.perf_counter()
    load_start = loadavg()
    uptime_start = os.popen("uptime").read().strip()
    space = get_space("mobilenetv3_like")
    costs = ConvSpaceCosts(space, input_size=INPUT_SIZE, num_classes=NUM_CLASSES, width_mult=WIDTH)
    rng = np.random.default_rng(args.seed)
    X = space.sample_batch(args.children, rng)

    # 1. lookup table of every signature of the space at 64x64
    table_path = work / "table.json"
    table_settings = LatencySettings(warmup=args.warmup, repeats=args.table_repeats, threads=1)
    t0 = time.perf_counter()
    if table_path.exists():
        table = load_table(table_path)
    else:
        def progress(i: int, n: int, sig: str) -> None:
            if i % 500 == 0 or i == n:
                print(f"table {i}/{n} ({time.perf_counter() - t0:.0f} s, load {loadavg()})",
                      flush=True)
        table = costs.build_table(table_settings, progress=progress)
        table.save(table_path)
    t_table = time.perf_counter() - t0
    load_after_table = loadavg()

    # 2. whole networks
    settings = LatencySettings(warmup=args.warmup, repeats=args.repeats, threads=1)
    measured = costs.measured_latency(settings, cache=LatencyCache(work / "networks.json",
                                                                   autosave=False))
    t0 = time.perf_counter()
    y = np.empty(len(X))
    iqr = np.empty(len(X))
    y_p10, y_min = np.empty(len(X)), np.empty(len(X))
    for i, row in enumerate(X):
        res = measured.result(space.from_vector(row))
        y[i], iqr[i], y_p10[i], y_min[i] = res.median_ms, res.iqr_ms, res.p10, min(res.samples)
        if (i + 1) % 50 == 0:
            measured.cache.save()
            print(f"networks {i + 1}/{len(X)} ({time.perf_counter() - t0:.0f} s, "
                  f"load {loadavg()})", flush=True)
    measured.cache.save()
    t_networks = time.perf_counter() - t0
    load_after_networks = loadavg()

    tr, te = np.arange(args.train), np.arange(args.train, len(X))
    rows = []

    # 3a. TuNAS linear model on measured latencies of the training children
    t0 = time.perf_counter()
    for alpha in (0.0, 1.0):
        lm = costs.linear_model(alpha=alpha).fit(X[tr], y[tr])
        pred = lm.predict_batch(X[te])
        unseen = lm.unseen(X[te]).mean()
        rows.append((f"TuNAS linear model, fitted to {len(tr)} measured children (alpha={alpha:g})",
                     quality(pred, y[te]),
                     f"{lm.n_features_:,} features, {int(lm.seen_features_.sum()):,} seen in "
                     f"training; {unseen:.0%} of held-out children have an unseen feature"))
    t_fit_measured = time.perf_counter() - t0

    # 3b. table sums
    tl = costs.table_latency(table)
    s_all = tl.batch(X)
    rows.append(("table sum (raw)", quality(s_all[te], y[te]),
                 f"median sum/measured {np.median(s_all / y):.3f}"))
    a, b = affine(s_all[tr], y[tr])
    rows.append((f"table sum, affine {a:.3f} + {b:.3f}·sum fitted on the training children",
                 quality(a + b * s_all[te], y[te]), ""))

    # 3c. TuNAS linear model fitted to table sums of many random children
    t0 = time.perf_counter()
    Xt = space.sample_batch(args.table_children, np.random.default_rng(args.seed + 1))
    lm_t = costs.linear_model().fit(Xt, tl.batch(Xt))
    t_fit_table = time.perf_counter() - t0
    p_t = lm_t.predict_batch(X)
    fit_err = float(np.max(np.abs(p_t - s_all) / s_all))
    rows.append((f"TuNAS linear model fitted to table sums of {len(Xt):,} random children",
                 quality(p_t[te], y[te]),
                 f"max |model - table sum| / table sum on the 300: {fit_err:.2%}; fit "
                 f"{t_fit_table:.1f} s"))
    a2, b2 = affine(p_t[tr], y[tr])
    rows.append(("  … same, affine correction fitted on the training children",
                 quality(a2 + b2 * p_t[te], y[te]), ""))

    # 3d. baselines
    macs = costs.macs_cost().batch(X)
    a3, b3 = affine(macs[tr], y[tr])
    rows.append(("MACs, affine fit on the training children", quality(a3 + b3 * macs[te], y[te]),
                 ""))
    params = costs.params_cost().batch(X)
    a4, b4 = affine(params[tr], y[tr])
    rows.append(("parameters, affine fit on the training children",
                 quality(a4 + b4 * params[te], y[te]), ""))

    # 3e. the same with load-robust statistics (no new measurement: every timing is cached)
    s_med = costs.table_latency(table, statistic="median_ms").batch(X)
    robust = []
    for y_name, yy in (("median", y), ("p10", y_p10), ("min", y_min)):
        for t_name, ss in (("mean", s_all), ("median", s_med)):
            a5, b5 = affine(ss[tr], yy[tr])
            lm5 = costs.linear_model().fit(X[tr], yy[tr])
            robust.append((y_name, t_name, quality(ss[te], yy[te]),
                           quality(a5 + b5 * ss[te], yy[te]),
                           quality(lm5.predict_batch(X[te]), yy[te]),
                           float(np.median(ss / yy))))

    total = time.perf_counter() - t_start
    load_end = loadavg()
    uptime_end = os.popen("uptime").read().strip()
    rel_iqr = iqr / y
    lines = [
        "# TuNAS linear latency model and lookup-table sums vs latency measured here",
        "",
        f"Command: `python benchmarks/cost_mobilenetv3_linear.py --children {args.children} "
        f"--train {args.train} --repeats {args.repeats} --table-repeats {args.table_repeats} "
        f"--clock {args.clock}`",
        "",
        f"Machine: {os.cpu_count()} cores (nproc), {cpu_model()}, torch {torch.__version__}, "
        f"Python {platform.python_version()}.",
        f"`uptime` at start: `{uptime_start}`; at end: `{uptime_end}`.",
        f"Load average (1, 5, 15 min): start {load_start}; after the table {load_after_table}; "
        f"after the networks {load_after_networks}; end {load_end}.",
        "",
        f"Space: `mobilenetv3_like` (86 decisions), input 3×{INPUT_SIZE}×{INPUT_SIZE}, "
        f"{NUM_CLASSES} classes (Tiny-ImageNet's size and classes), width multiplier {WIDTH} "
        "(the space's own filter multipliers 0.5–2× already give small and large children). "
        f"{args.children} random children (seed {args.seed}); the first {args.train} train, the "
        f"other {len(te)} are held out.",
        "",
        f"Measured ({'wall-clock' if args.clock == 'wall' else 'thread CPU time'}): "
        f"PyTorch eager, batch 1, 1 thread, {args.warmup} warm-up + {args.repeats} "
        f"timed passes per child, median. Children's latency {y.min():.2f}–{y.max():.2f} ms "
        f"(median {np.median(y):.2f} ms); IQR / median per child: median {np.median(rel_iqr):.1%}, "
        f"90th percentile {np.percentile(rel_iqr, 90):.1%}. Time: {t_networks:.0f} s.",
        "",
        f"Lookup table: every layer signature the space has at 64×64 ({len(table):,}), each "
        f"layer built alone (`ConvSpaceCosts.build_table`) and timed with {args.warmup} warm-up + "
        f"{table_settings.repeats} passes (mean); the global pool is timed with the head conv. "
        f"Time: {t_table:.0f} s.",
        "",
        f"## Held-out children ({len(te)})",
        "",
        "| latency model | Kendall τ | MAPE | MdAPE | R² | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, q, note in rows:
        lines.append(f"| {name} | {q['tau']:.3f} | {q['mape']:.1%} | {q['mdape']:.1%} | "
                     f"{q['r2']:.3f} | {note} |")
    lines += [
        "",
        "## Load-robust statistics (same timings, no new measurement)",
        "",
        "Network latency as the median, 10th percentile or minimum of its timed passes; table "
        "entries as mean or median. τ / MAPE on the held-out children.",
        "",
        "| network | table entry | table sum τ | table sum MAPE | affine(sum) MAPE | "
        "TuNAS linear (200 measured) τ / MAPE | median sum / measured |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for y_name, t_name, q_raw, q_aff, q_lin, ratio in robust:
        lines.append(f"| {y_name} | {t_name} | {q_raw['tau']:.3f} | {q_raw['mape']:.1%} | "
                     f"{q_aff['mape']:.1%} | {q_lin['tau']:.3f} / {q_lin['mape']:.1%} | "
                     f"{ratio:.3f} |")
    lines += [
        "",
        f"Goals (issue 4): Kendall τ ≥ 0.8 and MAPE ≤ 10 % on held-out children. Fit on measured "
        f"children took {t_fit_measured:.1f} s. Total benchmark time {total:.0f} s.",
        "",
    ]
    out = Path(args.out)
    body = "\n".join(lines)
    if out.exists():  # keep hand-written observations below the marker
        old = out.read_text(encoding="utf-8")
        marker = "## Observations"
        if marker in old:
            body += "\n" + old[old.index(marker):]
    out.write_text(body, encoding="utf-8")
    print(body)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
