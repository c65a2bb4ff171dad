"""``budgetnas search-image``: a convolutional network under a latency, MAC or parameter budget.

``budgetnas search-image --data digits --space proxylessnas --max-macs 200000`` searches a
registered conv space on an image data set with TabNAS rejection sampling (the default: a hard
budget; Yang et al. 2022), TuNAS (one-shot weight sharing, absolute reward: the budget is a
soft target, and the pick may exceed it; Bender et al. 2020) or random search at the budget,
trains the pick standalone, and writes a run directory. A latency budget
(``--max-latency-ms``) prices children with TuNAS's linear latency model fitted to children
measured on this machine, per run (batch 1, one thread): two runs measure two fits whose
numbers differ a little. The fit is kept in the run directory, so a resumed search does not
measure again, and ``--latency-fit`` reuses the fit of an earlier run.

While it runs the search lives in ``OUT.partial/`` (``run.json``, ``status.json``,
``checkpoints/``: the one-shot state every ``--checkpoint-every`` steps, atomically, and the
latency fit). After a crash or ``kill -9`` the same command again (or ``--resume``, or
``budgetnas resume OUT``) continues from the last checkpoint and ends with the pick an
uninterrupted run would have made. When it is done everything moves into ``OUT/`` with the
model (safetensors, ONNX), ``metrics.json``, ``history.csv`` and ``report.md``.

Bad input (unknown space, two budgets, a non-positive budget, a missing data folder, a budget
below the smallest child) exits with code 2, a message on stderr, and no run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import typer

from budgetnas.cli import app
from budgetnas.cli.search import (
    PARTIAL_SUFFIX,
    _check_out_dir,
    _console,
    _fail,
    _interrupted,
    _Progress,
    sigterm_as_interrupt,
)

__all__ = ["ImageRun", "image_search_cmd", "load_run_model", "report_run", "resume_run",
           "run_image_search"]

ALGORITHMS = ("tunas", "tabnas", "random")
_ENTRY = "budgetnas.cli.image:resume_run"
_REPORT = "budgetnas.cli.image:report_run"
_LATENCY_FILE = "latency_fit.json"
_PICK_FILE = "pick.json"
_ELAPSED_FILE = "elapsed.json"
_REFERENCE = "Logistic regression"
_REFERENCE_ITERATIONS = 50
RANDOM_BAND = (0.9, 1.0)
"""The random baseline draws children whose cost is within this fraction of the budget (TuNAS
compares with random children at the same target, Bender et al. 2020, §5)."""


@app.command("search-image")
def image_search_cmd(
    data: str = typer.Option(
        ..., "--data", metavar="SOURCE", help="digits (scikit-learn's, no download), fashion-mnist (from "
                                "$BUDGETNAS_FASHION_MNIST or /usr/share/datasets), or a folder "
                                "with the four Fashion-MNIST *-ubyte.gz IDX files."),
    space: str = typer.Option("mobilenetv3_like", "--space", metavar="NAME",
                              help="A registered conv space, e.g. mobilenetv3_like, proxylessnas, "
                                   "mobiledet (an unknown name lists them all)."),
    width_mult: float = typer.Option(0.25, "--width-mult", metavar="X", help="Scales every filter count."),
    max_latency_ms: float | None = typer.Option(
        None, "--max-latency-ms", metavar="MS",
        help="Budget: ms per image (batch 1, one thread) by a linear latency model fitted to "
             "children measured on this machine at the start of each run (two runs measure "
             "two slightly different fits; --latency-fit reuses one)."),
    max_macs: float | None = typer.Option(None, "--max-macs", metavar="N", help="Budget: multiply-accumulates."),
    max_params: float | None = typer.Option(None, "--max-params", metavar="N", help="Budget: parameters."),
    algorithm: str = typer.Option(
        "tabnas", "--algorithm", "-a", metavar="NAME",
        help="tabnas (one-shot, rejection sampling: the pick always fits the budget), tunas "
             "(one-shot, absolute reward: the budget is a soft target, the pick may exceed it "
             "with a warning and exit code 0), random (a random child at the budget)."),
    steps: int = typer.Option(400, "--steps", metavar="N", help="One-shot steps (25% warm-up)."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of the split, the search and training."),
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="DIR",
        help="Run directory to create (default: runs/<data>-<space>-<time>)."),
    train_epochs: int = typer.Option(2, "--train-epochs", metavar="N", help="Epochs of the final training."),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", help="Supernet training batch."),
    image_size: int | None = typer.Option(
        None, "--image-size", metavar="PIXELS",
        help="digits only: resize the 8×8 images (default 8; the conv spaces' stride-2 stages "
             "shrink 8×8 to 1×1 after three of five, so 32 suits them better)."),
    n_train: int = typer.Option(10_000, "--n-train", metavar="N", help="Fashion-MNIST training images."),
    n_val: int = typer.Option(2_000, "--n-val", metavar="N", help="Fashion-MNIST validation images."),
    latency_samples: int = typer.Option(
        60, "--latency-samples", metavar="N", help="Children measured to fit the latency model (+1/3 held "
                                      "out to check it)."),
    latency_fit: Path | None = typer.Option(
        None, "--latency-fit", metavar="PATH",
        help="Reuse the latency model of an earlier run instead of measuring one: its run "
             "directory or its checkpoints/latency_fit.json (same --space, --width-mult and "
             "image size; with --max-latency-ms)."),
    reference: bool = typer.Option(
        True, "--reference/--no-reference",
        help="Fit a logistic regression on the pixels as a reference accuracy for the report."),
    checkpoint_every: int = typer.Option(
        50, "--checkpoint-every", metavar="N",
        help="Save the one-shot state every N steps (0: never)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted search in "
                                                        "OUT.partial (fail if there is none)."),
    force: bool = typer.Option(False, "--force", help="Resume even if the settings changed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT and "
                                                              "discard an interrupted search."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Search a conv network that fits a latency / MAC / parameter budget on images.

    The default, TabNAS, enforces the budget. TuNAS (--algorithm tunas) treats it as a target:
    its pick may exceed it; the command then warns and still exits with code 0.
    """
    args = {k: v for k, v in locals().items()}
    run_image_search(**args)


@dataclasses.dataclass
class ImageRun:
    """What :func:`run_image_search` produced (also written to the run directory)."""

    out: Path
    metrics: dict[str, Any]


def run_image_search(*, data: str, space: str, width_mult: float, max_latency_ms: float | None,
                     max_macs: float | None, max_params: float | None, algorithm: str,
                     steps: int, seed: int, out: Path | None, train_epochs: int,
                     batch_size: int = 64, image_size: int | None = None, n_train: int = 10_000,
                     n_val: int = 2_000, latency_samples: int = 60,
                     latency_fit: Path | None = None, reference: bool = True,
                     checkpoint_every: int = 50, resume: bool = False, force: bool = False,
                     overwrite: bool = False, quiet: bool = False) -> ImageRun:
    """The body of ``budgetnas search-image`` (also what ``budgetnas resume`` calls).

    Exits with code 2 (``typer.Exit``) on bad input, before anything is written.
    """
    budgets = {"latency": max_latency_ms, "macs": max_macs, "params": max_params}
    given = {k: v for k, v in budgets.items() if v is not None}
    if len(given) != 1:
        _fail("give exactly one budget: --max-latency-ms, --max-macs or --max-params"
              + (f" (got {', '.join('--max-' + k for k in given)})" if given else ""))
    kind, budget = next(iter(given.items()))
    flag = {"latency": "--max-latency-ms", "macs": "--max-macs", "params": "--max-params"}[kind]
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
        _fail(f"{flag} must be a positive number, got {budget}")
    if algorithm not in ALGORITHMS:
        _fail(f"unknown --algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    for name, value in (("--steps", steps), ("--train-epochs", train_epochs),
                        ("--batch-size", batch_size), ("--n-train", n_train),
                        ("--n-val", n_val)):
        if value < 1:
            _fail(f"{name} must be at least 1, got {value}")
    if checkpoint_every < 0:
        _fail(f"--checkpoint-every must be 0 (never) or more, got {checkpoint_every}")
    if kind == "latency" and latency_samples < 4:
        _fail(f"--latency-samples must be at least 4 to fit a latency model, got {latency_samples}")
    if not (math.isfinite(width_mult) and width_mult > 0):
        _fail(f"--width-mult must be a positive number, got {width_mult}")
    fit_file = None
    if latency_fit is not None:
        if kind != "latency":
            _fail(f"--latency-fit applies to a latency budget (--max-latency-ms), not {flag}")
        fit_file = _fit_file(Path(latency_fit))
    from budgetnas.spaces import list_spaces

    conv_spaces = list_spaces(kind="conv")
    if space not in conv_spaces:
        _fail(f"unknown --space {space!r}; the registered conv spaces are {', '.join(conv_spaces)}")
    if image_size is not None and (data != "digits" or image_size < 1):
        _fail("--image-size applies to --data digits only and must be at least 1, got "
              f"{image_size} with --data {data}")
    data_path = None
    if data not in ("digits", "fashion-mnist"):
        data_path = Path(data)
        if not data_path.is_dir():
            _fail(f"--data {data!r} is neither 'digits', 'fashion-mnist' nor an existing folder "
                  "with the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)")
    out = out or Path("runs") / f"{data_path.name if data_path else data}-{space}-" \
                                f"{time.strftime('%Y%m%d-%H%M%S')}"
    _check_out_dir(out)
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        done = (out / "metrics.json").is_file()
        _fail(f"{str(out)!r} already exists and is not empty"
              + (": it holds a finished search (see its report.md)" if done else "")
              + "; choose another --out or pass --overwrite to search again")
    resuming = partial.is_dir() and (partial / "run.json").is_file() and not overwrite
    if resume and not resuming:
        _fail(f"--resume: there is no interrupted search in {str(partial)!r} to continue; run "
              "without --resume to start one")
    settings_args = {
        "data": data if data_path is None else str(data_path.resolve()), "space": space,
        "width_mult": width_mult, "max_latency_ms": max_latency_ms, "max_macs": max_macs,
        "max_params": max_params, "algorithm": algorithm, "steps": steps, "seed": seed,
        "out": str(out.resolve()), "train_epochs": train_epochs, "batch_size": batch_size,
        "image_size": image_size, "n_train": n_train, "n_val": n_val,
        "latency_samples": latency_samples, "checkpoint_every": checkpoint_every,
        "latency_fit": None if fit_file is None else str(fit_file.resolve()),
        "reference": reference}

    # Heavy imports after the cheap checks, so that usage errors answer at once.
    from budgetnas.errors import BudgetNASError, InfeasibleBudgetError, SettingsMismatchError
    from budgetnas.store.rundir import RunDir

    console = _console()
    notices: list[str] = []
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    with sigterm_as_interrupt(), _Progress(console, quiet) as progress:
        try:
            t0 = time.perf_counter()
            progress.update("data", 0, 1)
            images = _load_data(data, data_path, image_size, n_train, n_val, seed)
            progress.update("data", 1, 1)
            timings["data"] = time.perf_counter() - t0
            costs = _costs(space, width_mult, images)
            cached = partial / "checkpoints" / _LATENCY_FILE
            fit = None
            if kind == "latency":
                t0 = time.perf_counter()
                fit = _latency_fit(costs, cached if resuming else None, fit_file,
                                   latency_samples, seed,
                                   lambda d, n: progress.update("latency", d, n))
                timings["latency_fit"] = time.perf_counter() - t0
            cost = {"latency": lambda: fit.model, "macs": costs.macs_cost,
                    "params": costs.params_cost}[kind]()
            smallest, largest = _extremes(costs.space, cost)
            if budget < smallest:
                progress.stop()
                unit = _UNITS[kind]
                _fail(f"{flag} {budget:,.6g} is below the smallest child of {space} at width "
                      f"{width_mult} on {images.train_x.shape[-1]}×{images.train_x.shape[-2]} "
                      f"images: the minimum achievable is {smallest:,.6g} {unit}; raise {flag} "
                      f"to at least that")
            if budget >= largest:
                notices.append(f"{flag} {budget:,.6g} is at least the largest child's "
                               f"{largest:,.6g} {_UNITS[kind]}: the search is unconstrained")
            if resuming and not quiet:
                typer.echo(f"resuming the interrupted search in {partial}", err=True)
            if overwrite and partial.exists():
                shutil.rmtree(partial)
            partial.mkdir(parents=True, exist_ok=True)
            run = RunDir.create(partial, {"command": "search-image", "kind": "oneshot",
                                          "study_name": "search", "args": settings_args,
                                          "entry": _ENTRY, "report": _REPORT}, force=force)
        except SettingsMismatchError as exc:
            progress.stop()
            _fail(str(exc))
        except BudgetNASError as exc:
            progress.stop()
            _fail(str(exc))
        except KeyboardInterrupt as exc:
            progress.stop()
            _interrupted(partial, out, exc)
        if fit is not None and not (run.checkpoints_dir / _LATENCY_FILE).is_file():
            from budgetnas.vision.search import save_latency_fit

            save_latency_fit(fit, run.checkpoints_dir / _LATENCY_FILE, costs)
        # seconds spent by the earlier parts of a resumed run (through their last checkpoint or
        # interruption), so that the run's total counts every part
        earlier = _read_elapsed(run.checkpoints_dir) if resuming else 0.0
        elapsed = _ElapsedClock(run.checkpoints_dir, earlier, t_start)
        run.mark("running")
        try:
            with _threads(1):
                result = _search_and_train(
                    run, images, costs, cost, kind, float(budget), algorithm=algorithm,
                    steps=steps, seed=seed, width_mult=width_mult, batch_size=batch_size,
                    train_epochs=train_epochs, checkpoint_every=checkpoint_every,
                    progress=progress, notices=notices, timings=timings, elapsed=elapsed)
                ref = _reference(images, seed, progress, timings) if reference else None
        except KeyboardInterrupt as exc:
            elapsed.save()
            run.mark("interrupted")
            progress.stop()
            _interrupted(partial, out, exc)
        except InfeasibleBudgetError as exc:
            # TabNAS (and its warm-up) sample by rejection: a budget that only a sliver of the
            # space meets is a usage error; nothing was searched, so nothing is kept
            progress.stop()
            from budgetnas.oneshot import checkpoint_progress

            if checkpoint_progress(run.checkpoints_dir) is None:
                shutil.rmtree(partial, ignore_errors=True)
            else:
                run.mark("failed")
            _fail(f"{flag} {budget:,.6g} {_UNITS[kind]} is too tight to sample children under "
                  f"it ({exc}). The children of {space} cost {smallest:,.6g} to "
                  f"{largest:,.6g} {_UNITS[kind]}: raise {flag}, or use --algorithm tunas, "
                  "which treats the budget as a soft target")
        except BaseException:
            run.mark("failed")
            raise
    timings["total"] = earlier + time.perf_counter() - t_start
    if earlier:
        timings["earlier_parts"] = earlier
    metrics = _metrics(settings_args, images, costs, cost, kind, float(budget), fit, result,
                       smallest, largest, notices, timings, data_path)
    metrics["reference"] = ref
    over = _over_budget(metrics, flag)
    metrics["warnings"] = [over] if over else []
    try:
        with sigterm_as_interrupt():
            _save(out, run, metrics, result, costs, images, overwrite=overwrite)
    except OSError as exc:
        _fail(f"could not write the run directory {str(out)!r}: {exc}")
    except KeyboardInterrupt as exc:
        _interrupted(partial, out, exc)
    _print_summary(metrics, out)
    return ImageRun(out, metrics)


_UNITS = {"latency": "ms", "macs": "MACs", "params": "parameters"}
_COST_NAMES = {"latency": "latency, linear model", "macs": "MACs", "params": "parameters"}


# ------------------------------------------------------------------------------------------------
# Pieces


def _load_data(data: str, path: Path | None, image_size: int | None, n_train: int, n_val: int,
               seed: int) -> Any:
    from budgetnas.vision.search import load_digits_data, load_image_data

    if data == "digits":
        return load_digits_data(image_size, seed=seed)
    return load_image_data(path, n_train=n_train, n_val=n_val, seed=seed)


def _costs(space: str, width_mult: float, images: Any) -> Any:
    from budgetnas.vision.search import image_costs

    return image_costs(space, width_mult=width_mult, input_size=int(images.train_x.shape[-1]),
                       num_classes=images.num_classes, in_channels=images.in_channels)


def _fit_file(path: Path) -> Path:
    """The latency fit file that ``--latency-fit PATH`` names: the file itself, or the
    ``checkpoints/latency_fit.json`` of a run directory (finished or ``.partial``)."""
    if path.is_dir():
        path = path / "checkpoints" / _LATENCY_FILE if (path / "checkpoints").is_dir() \
            else path / _LATENCY_FILE
    if not path.is_file():
        _fail(f"--latency-fit: no latency fit at {str(path)!r}; give the run directory of an "
              f"earlier latency search or its checkpoints/{_LATENCY_FILE}")
    return path


def _latency_fit(costs: Any, cached: Path | None, given: Path | None, samples: int, seed: int,
                 report: Any) -> Any:
    """The linear latency model: from the run directory's cache (a resume), else from the file
    ``--latency-fit`` names (checked against this space, width and input size), else measured
    on this machine now.

    Raises
    ------
    StoreError
        If a fit file cannot be read or was measured on another network.
    """
    from budgetnas.vision.search import fit_latency_model, load_latency_fit

    if cached is not None and cached.is_file():
        return load_latency_fit(costs, cached)
    if given is not None:
        return load_latency_fit(costs, given, require_identity=True)
    return fit_latency_model(costs, n_children=samples, n_test=max(2, samples // 3), seed=seed,
                             progress=report)


def _extremes(space: Any, cost: Any) -> tuple[float, float]:
    """The smallest achievable cost (exact where the model knows it, else the smallest of the
    space's smallest child and 4,096 random children) and the largest child's cost."""
    import numpy as np

    X = space.sample_batch(4096, np.random.default_rng(0))
    X[0], X[1] = space.to_vector(space.smallest()), space.to_vector(space.largest())
    values = np.asarray(cost.batch(X), dtype=np.float64)
    exact = cost.min_cost() if callable(getattr(cost, "min_cost", None)) else None
    smallest = float(values.min()) if exact is None else float(exact)
    return smallest, float(max(values[1], values.max()))


class _threads:
    """torch intra-op threads for the block (1: small conv nets gain nothing from more on a
    shared CPU, and results then do not depend on the machine's core count)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_num_threads(self.before)


@dataclasses.dataclass
class _Outcome:
    pick: tuple
    model: Any
    accuracy: dict[str, float]
    history: list[dict[str, Any]]
    policy: list[tuple[int, list[Any]]]
    steps_done: int
    resumed_from: int
    measured_ms: float


class _ElapsedClock:
    """Keeps ``checkpoints/elapsed.json``: the seconds of a run's parts so far (earlier parts
    plus this one since ``t_start``), written with each checkpoint and on an interruption."""

    def __init__(self, checkpoints: Path, earlier: float, t_start: float) -> None:
        self.path, self.earlier, self.t_start = checkpoints / _ELAPSED_FILE, earlier, t_start

    def save(self) -> None:
        from budgetnas.store.atomic import atomic_write_json

        try:
            atomic_write_json(self.path, {
                "seconds": self.earlier + time.perf_counter() - self.t_start})
        except OSError:  # bookkeeping only: never fail a search over it
            pass


def _read_elapsed(checkpoints: Path) -> float:
    try:
        return float(json.loads((checkpoints / _ELAPSED_FILE).read_text("utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _search_and_train(run: Any, images: Any, costs: Any, cost: Any, kind: str, budget: float, *,
                      algorithm: str, steps: int, seed: int, width_mult: float, batch_size: int,
                      train_epochs: int, checkpoint_every: int, progress: Any,
                      notices: list[str], timings: dict[str, float],
                      elapsed: _ElapsedClock | None = None) -> _Outcome:
    from budgetnas.cost.latency import LatencySettings
    from budgetnas.oneshot import Callback, RunCheckpoint, resume_if_checkpointed
    from budgetnas.store.atomic import atomic_write_json
    from budgetnas.vision.search import (
        build_tunas_search,
        train_child_model,
        tunas_pick,
    )

    space = costs.space
    history: list[dict[str, Any]] = []
    policy: list[tuple[int, list[Any]]] = []
    steps_done = resumed_from = 0
    t0 = time.perf_counter()
    if algorithm == "random":
        pick = _random_pick(run, space, cost, budget, seed, notices)
    else:
        class _Report(Callback):
            def on_step(self, search: Any, record: Any) -> None:
                if search.step % 5 == 0 or search.step == search.steps:
                    progress.update("search", search.step, search.steps)

            def on_checkpoint(self, search: Any) -> None:
                if elapsed is not None:
                    elapsed.save()

        search = build_tunas_search(
            space, images, cost, budget, steps=steps,
            algorithm="abs" if algorithm == "tunas" else "tabnas", batch_size=batch_size,
            val_batch_size=4 * batch_size, width_mult=width_mult, seed=seed,
            callbacks=[RunCheckpoint(run.checkpoints_dir), _Report()],
            checkpoint_every=checkpoint_every)
        resumed_from = resume_if_checkpointed(search, run.checkpoints_dir)
        if resumed_from:
            notices.append(f"resumed from the checkpoint of step {resumed_from:,} of {steps:,}")
        progress.update("search", resumed_from, steps)
        result = search.run()
        pick = tunas_pick(search, "abs" if algorithm == "tunas" else "tabnas")
        history = [{k: v for k, v in r.to_dict().items() if k != "trained"}
                   for r in result.history]
        policy = [(s, [p.tolist() for p in ps]) for s, ps in result.policy]
        steps_done = result.steps_done
    atomic_write_json(run.checkpoints_dir / _PICK_FILE, {"pick": list(pick)})
    timings["search"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    progress.update("final", 0, train_epochs)
    model, accuracy = train_child_model(space, pick, images, epochs=train_epochs,
                                        width_mult=width_mult, seed=seed,
                                        progress=lambda d, n: progress.update("final", d, n))
    timings["final"] = time.perf_counter() - t0
    settings = LatencySettings(batch_size=1, threads=1, warmup=5, repeats=20)
    import numpy as np

    measured = costs.measured_latency(settings)
    ms = float(measured.batch(np.asarray(pick, dtype=np.int64)[None])[0])
    return _Outcome(tuple(pick), model, accuracy, history, policy, steps_done, resumed_from, ms)


def _reference(images: Any, seed: int, progress: Any, timings: dict[str, float]
               ) -> dict[str, Any]:
    """A reference accuracy for the report: multinomial logistic regression (scikit-learn,
    L2, C = 1, 50 lbfgs iterations) on the normalised pixels of the same training split, scored
    on the same validation and test images: what a searched conv net should beat. Cheap: 0.3 s
    on 32×32 digits, ~2 s on 10,000 Fashion-MNIST images (one thread); more iterations do not
    gain there."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    progress.update(_REFERENCE, 0, 1)
    flat = {k: np.asarray(getattr(images, f"{k}_x").flatten(1).numpy(), dtype=np.float64)
            for k in ("train", "val", "test")}
    model = LogisticRegression(C=1.0, max_iter=_REFERENCE_ITERATIONS, random_state=seed)
    # one BLAS / OpenMP thread: on a busy machine more threads made this 50× slower (17 s
    # against 0.36 s on 32×32 digits, 2 cores)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # a reference, not a tuned model
        model.fit(flat["train"], images.train_y.numpy())
    out = {"name": "logistic regression on the pixels",
           "val_accuracy": float(model.score(flat["val"], images.val_y.numpy())),
           "test_accuracy": float(model.score(flat["test"], images.test_y.numpy())),
           "params": int(model.coef_.size + model.intercept_.size)}
    timings["reference"] = time.perf_counter() - t0
    progress.update(_REFERENCE, 1, 1)
    return out


def _over_budget(metrics: dict[str, Any], flag: str) -> str | None:
    """The warning for a pick over the budget (TuNAS's soft target), or None when it fits."""
    f, b = metrics["final"], metrics["budget"]
    if f["within_budget"]:
        return None
    unit = b["unit"]
    return (f"the {metrics['algorithm']} pick costs {_num(f['cost'])} {unit}, "
            f"{f['cost'] / b['max'] - 1:.0%} over the budget {flag} {_num(b['max'])} {unit}: "
            "TuNAS's absolute reward treats the budget as a target, not a limit. For a pick "
            "within it, run more --steps, or use --algorithm tabnas (the default), which "
            "enforces it")


def _num(v: float) -> str:
    """A cost for people: thousands separated, at most 4 significant digits below 100."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"


def _random_pick(run: Any, space: Any, cost: Any, budget: float, seed: int,
                 notices: list[str]) -> tuple:
    """A random child priced within :data:`RANDOM_BAND` of the budget, else any feasible one."""
    from budgetnas.cost.base import Constraint
    from budgetnas.errors import InfeasibleBudgetError
    from budgetnas.search.random import Random
    from budgetnas.vision.search import random_pick

    lo, hi = RANDOM_BAND
    centre, tol = budget * (lo + hi) / 2, (hi - lo) / (hi + lo)
    try:
        return random_pick(space, cost, centre, tolerance=tol, seed=seed, max_draws=50_000)
    except InfeasibleBudgetError:
        notices.append(f"no random child within {lo:.0%}-{hi:.0%} of the budget in 50,000 "
                       "draws: the random pick is a uniformly random child under the budget")
    sampler = Random(seed=seed)
    sampler.setup(space.spec, [Constraint(cost, max=budget)])
    return tuple(int(v) for v in space.to_vector(sampler.propose()))


def _metrics(args: dict[str, Any], images: Any, costs: Any, cost: Any, kind: str, budget: float,
             fit: Any, res: _Outcome, smallest: float, largest: float, notices: list[str],
             timings: dict[str, float], data_path: Path | None) -> dict[str, Any]:
    import numpy as np


    space = costs.space
    vec = np.asarray(res.pick, dtype=np.int64)[None]
    pick_cost = float(cost.batch(vec)[0])
    return {
        "command": "search-image", "algorithm": args["algorithm"], "space": args["space"],
        "width_mult": args["width_mult"], "seed": args["seed"],
        "budget": {"kind": kind, "max": budget, "unit": _UNITS[kind], "smallest": smallest,
                   "largest": largest},
        "final": {"dna": list(res.pick), "arch": space.to_string(space.from_vector(vec[0])),
                  "cost": pick_cost, "within_budget": bool(pick_cost <= budget),
                  "params": float(costs.params_cost().batch(vec)[0]),
                  "macs": float(costs.macs_cost().batch(vec)[0]),
                  "predicted_ms": None if fit is None else float(fit.model.batch(vec)[0]),
                  "measured_ms": res.measured_ms,
                  "val_accuracy": res.accuracy["val_accuracy"],
                  "test_accuracy": res.accuracy["test_accuracy"],
                  "train_epochs": args["train_epochs"], "train_loss": res.accuracy["train_loss"]},
        "search": {"steps": args["steps"] if args["algorithm"] != "random" else 0,
                   "steps_done": res.steps_done, "resumed_from": res.resumed_from,
                   "policy": res.policy},
        "latency_model": None if fit is None else {
            "children_measured": int(len(fit.train_ms) + len(fit.test_ms)),
            "held_out": fit.metrics, "settings": dataclasses.asdict(fit.settings),
            "source": args.get("latency_fit")},
        "data": {"name": args["data"] if data_path is None else "fashion-mnist",
                 "path": None if data_path is None else str(data_path),
                 "n_train": len(images.train_y), "n_val": len(images.val_y),
                 "n_test": len(images.test_y), "image": list(images.train_x.shape[1:]),
                 "classes": images.num_classes},
        "settings": args, "timings": timings, "notices": notices,
    }


def _save(out: Path, run: Any, metrics: dict[str, Any], res: _Outcome, costs: Any,
          images: Any, *, overwrite: bool) -> None:
    """Build the run directory in a temporary sibling, then rename it into place."""
    from budgetnas.report.image import write_image_report
    from budgetnas.store.rundir import install_run

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        _write_model(tmp, metrics, res, costs, images)
        _write_history(tmp / "history.csv", res.history)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_py) + "\n")
        write_image_report(tmp, metrics, res.history, names=list(costs.space.spec.names),
                           candidates=[[str(c) for c in dp.candidates]
                                       for dp in costs.space.decision_points])
        install_run(run, tmp, out, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # the run keeps its report at the top (report.md, plots/); `budgetnas report` regenerates
    # those, so an empty report/ folder would only puzzle
    with contextlib.suppress(OSError):
        (out / "report").rmdir()


def _write_model(d: Path, metrics: dict[str, Any], res: _Outcome, costs: Any,
                 images: Any) -> None:
    import torch
    from safetensors.torch import save

    arch = {"space": metrics["space"], "dna": metrics["final"]["dna"],
            "arch": metrics["final"]["arch"], "width_mult": metrics["width_mult"],
            "input": list(images.train_x.shape[1:]), "num_classes": images.num_classes,
            "build": "budgetnas.spaces.get_space(space).build(space.from_vector(dna), "
                     "num_classes=..., in_channels=..., width_mult=...)"}
    (d / "architecture.json").write_text(json.dumps(arch, indent=2) + "\n")
    # safetensors refuses tensors that share memory (a block keeps an alias of its last batch
    # norm): each is stored once, the aliases go into the metadata (see load_run_model)
    state, aliases = _dedupe(res.model.state_dict())
    (d / "model.safetensors").write_bytes(
        save(state, metadata={"arch": arch["arch"], "aliases": json.dumps(aliases)}))
    if importlib.util.find_spec("onnx") is None:
        metrics["notices"].append("ONNX export skipped: the onnx package is not installed "
                                  "(pip install budgetnas[onnx])")
        return
    import copy

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(copy.deepcopy(res.model).eval(),
                              (torch.zeros(1, *images.train_x.shape[1:]),), str(d / "model.onnx"),
                              input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                              dynamo=False)
    except Exception as exc:  # an optional artefact: the run stays usable without it
        (d / "model.onnx").unlink(missing_ok=True)
        metrics["notices"].append(f"ONNX export skipped ({type(exc).__name__}: {exc})")


def _dedupe(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Tensors stored once each, and ``{alias: stored key}`` for the others."""
    kept: dict[tuple, str] = {}
    out: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape),
               tuple(v.stride()))
        if key in kept:
            aliases[k] = kept[key]
        else:
            kept[key] = k
            out[k] = v.detach().cpu().contiguous()
    return out, aliases


def load_run_model(run_dir: str | os.PathLike) -> Any:
    """The trained pick of a finished ``budgetnas search-image`` run, in eval mode.

    Rebuilds the architecture from ``architecture.json`` and loads ``model.safetensors``
    (strict: every tensor, aliases included).

    Raises
    ------
    DataError
        If the run directory lacks those files or they do not match.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    from budgetnas.errors import DataError
    from budgetnas.spaces import get_space

    run_dir = Path(run_dir)
    try:
        arch = json.loads((run_dir / "architecture.json").read_text(encoding="utf-8"))
        path = str(run_dir / "model.safetensors")
        with safe_open(path, "pt") as f:
            aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
        state = load_file(path)
        state.update({alias: state[k] for alias, k in aliases.items()})
        space = get_space(arch["space"])
        import numpy as np

        model = space.build(space.from_vector(np.asarray(arch["dna"], dtype=np.int64)),
                            num_classes=arch["num_classes"], in_channels=arch["input"][0],
                            width_mult=arch["width_mult"])
        model.load_state_dict(state)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DataError(f"cannot load the model of the run in {str(run_dir)!r}: "
                        f"{type(exc).__name__}: {exc}") from exc
    return model.eval()


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    import csv

    cols = ["step", "phase", "dna", "loss", "reward", "cost", "feasible", "seconds"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in history:
            w.writerow(["-".join(map(str, r["dna"])) if c == "dna" else r.get(c) for c in cols])


def _print_summary(metrics: dict[str, Any], out: Path) -> None:
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    f, b = metrics["final"], metrics["budget"]
    unit = b["unit"]
    # one row per figure, so that no header wraps or is cut at 80 columns
    table = Table(title=f"{metrics['algorithm']} pick in {metrics['space']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right", no_wrap=True)
    share = f["cost"] / b["max"] if b["max"] else math.nan
    rows = [(f"cost ({_COST_NAMES[b['kind']]})",
             f"{_num(f['cost'])} {unit} ({share:.1%} of the budget {_num(b['max'])} {unit})"),
            ("within the budget", "yes" if f["within_budget"] else "[bold red]NO[/bold red]")]
    if b["kind"] != "params":  # the cost row already says it otherwise
        rows.append(("parameters", f"{f['params']:,.0f}"))
    if b["kind"] != "macs":
        rows.append(("MACs", f"{f['macs']:,.0f}"))
    rows += [("latency, measured", f"{f['measured_ms']:.3f} ms (batch 1, 1 thread)"),
             ("validation accuracy", f"{f['val_accuracy']:.4f}"),
             ("test accuracy", f"{f['test_accuracy']:.4f}")]
    ref = metrics.get("reference")
    if ref:
        rows.append(("reference test accuracy", f"{ref['test_accuracy']:.4f} (logistic "
                                                 "regression)"))
    for row in rows:
        table.add_row(*row)
    stdout = Console(file=sys.stdout)
    stdout.print(table)
    for note in metrics["notices"]:
        stdout.print(f"[yellow]notice:[/yellow] {escape(note)}", soft_wrap=True)
    for warning in metrics.get("warnings") or []:  # on stderr, and last, where it is seen
        Console(stderr=True).print(f"[bold red]warning:[/bold red] {escape(warning)}",
                                   soft_wrap=True)
    # plain text: a path that wraps at the terminal's width cannot be copied
    typer.echo(f"run directory: {out}  ({metrics['timings'].get('total', 0):.0f} s; report: "
               f"{out / 'report.md'})")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _py(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


# ------------------------------------------------------------------------------------------------
# Entry points named in run.json (see budgetnas.store.rundir)


def resume_run(run_dir: Path, *, force: bool = False) -> None:
    """``budgetnas resume RUN_DIR`` for an image search: the original command again, resuming
    from the last checkpoint; a message and exit code 0 when the run is already complete."""
    from budgetnas.store.rundir import RunDir

    run = RunDir.open(run_dir)
    args = dict(run.settings().get("args") or {})
    needed = {"data", "space", "algorithm", "out", "seed", "steps"}
    if not needed <= set(args):
        _fail(f"{run.settings_path} does not hold the `budgetnas search-image` arguments "
              f"({sorted(needed - set(args))} missing); run the original command again")
    out = Path(args.pop("out"))
    if (out / "metrics.json").is_file() and (out / "run.json").is_file():
        typer.echo(f"{out} is already complete: nothing to resume (see {out / 'report.md'})")
        return
    run_image_search(**args, out=out, resume=False, force=force, overwrite=False, quiet=False)


def report_run(run_dir: Path) -> Path:
    """``budgetnas report RUN_DIR`` for an image search: ``report.md`` and ``plots/`` of a
    finished run written again from its ``metrics.json`` and ``history.csv`` (what the search
    wrote), or ``report/progress.md`` with the last checkpoint's step of an unfinished one."""
    from budgetnas.oneshot import checkpoint_progress
    from budgetnas.report.image import read_history, write_image_report
    from budgetnas.store.atomic import atomic_write_text
    from budgetnas.store.rundir import RunDir

    run = RunDir.open(run_dir)
    metrics_path = run.path / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        return write_image_report(run.path, metrics, read_history(run.path / "history.csv"))
    prog = checkpoint_progress(run.checkpoints_dir)
    args = run.settings().get("args", {})
    text = (f"# Image search in progress: {run.path.name}\n\n- state: {run.state()}\n"
            f"- algorithm: {args.get('algorithm')}, space: {args.get('space')}\n"
            f"- last checkpoint: step {prog['step'] if prog else 0} of {args.get('steps')}\n"
            "\n`budgetnas resume` continues it from that step.\n")
    run.report_dir.mkdir(exist_ok=True)
    atomic_write_text(run.report_dir / "progress.md", text)
    return run.report_dir / "progress.md"
