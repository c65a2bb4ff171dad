"""``budgetnas latency``: build and inspect latency lookup tables measured on this machine.

A table provider is ``proxylessnas`` (built in) or a Python import path ``module:function`` whose
function returns ``(space, signatures, factory)``:

- ``space``: a Space (or an array of choices per decision);
- ``signatures``: a list of :class:`budgetnas.cost.LayerSignature` (every signature the space can
  produce is enumerated per layer), or a function DNA vector -> list of signatures (then
  ``--samples`` random children are drawn, or the whole space when it is that small);
- ``factory``: signature -> ``nn.Module`` or ``(nn.Module, input_size)``.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import typer

from budgetnas.cli import app
from budgetnas.cli._help import HelpGroup

latency_app = typer.Typer(cls=HelpGroup, help="Latency lookup tables measured on this machine.",
                          no_args_is_help=True)
app.add_typer(latency_app, name="latency")


def load_provider(spec: str) -> tuple[Any, Any, Any]:
    """Resolve ``proxylessnas`` or ``module:function`` to (space, signatures, factory).

    Raises
    ------
    typer.BadParameter
        When the import path is malformed or does not resolve.
    """
    if spec == "proxylessnas":
        from budgetnas.cost.proxylessnas import proxylessnas_table_spec

        return proxylessnas_table_spec()
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise typer.BadParameter(f"expected 'proxylessnas' or an import path 'module:function', "
                                 f"got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"cannot load {spec!r}: {exc}") from exc
    provided = fn()
    if not (isinstance(provided, tuple) and len(provided) == 3):
        raise typer.BadParameter(f"{spec} must return (space, signatures, factory), got "
                                 f"{type(provided).__name__}")
    return provided


def collect_signatures(space: Any, signatures: Any, samples: int, seed: int) -> list[str]:
    """Every distinct signature of the space (per-layer enumeration or sampled children)."""
    from budgetnas.cost.table import LayerSignature, distinct_signatures

    if isinstance(signatures, (list, tuple)) and all(isinstance(s, LayerSignature)
                                                     for s in signatures):
        num_choices = getattr(space, "num_choices", space)
        return distinct_signatures(signatures, num_choices)
    if not callable(signatures):
        raise typer.BadParameter("signatures must be a list of LayerSignature or a function "
                                 "vector -> list of signatures")
    if getattr(space, "size", np.inf) <= samples:
        X = np.stack([space.to_vector(d) for d in space.iter_dna()])
    else:
        X = space.sample_batch(samples, np.random.default_rng(seed))
    return sorted({s for row in X for s in signatures(row)})


@latency_app.command("build-table")
def build_table_cmd(
    provider: str = typer.Argument(..., help="'proxylessnas' or 'module:function'."),
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE",
                             help="JSON file to write (atomically)."),
    threads: int = typer.Option(1, metavar="N", help="Intra-op threads."),
    repeats: int = typer.Option(50, metavar="N", help="Timed forward passes per signature."),
    warmup: int = typer.Option(10, metavar="N", help="Untimed passes before timing."),
    batch_size: int = typer.Option(1, metavar="N", help="Examples per forward pass."),
    backend: str = typer.Option("torch", metavar="[torch|onnxruntime]",
                                help="The runtime to time."),
    samples: int = typer.Option(2000, metavar="N", help="Children sampled when signatures "
                                                        "come from a function."),
    seed: int = typer.Option(0, metavar="N", help="Seed of that sampling."),
    limit: int = typer.Option(0, metavar="N",
                              help="Measure at most N new signatures (0 = all)."),
    resume: bool = typer.Option(True, help="Keep entries already in --out measured with the "
                                           "same settings."),
) -> None:
    """Measure every distinct layer signature of a space once and write a latency table."""
    from budgetnas.cost.latency import LatencySettings
    from budgetnas.cost.table import LatencyTable, build_table, load_table
    from budgetnas.errors import CostError

    if out.exists() and not out.is_file():  # a directory, or a device that the atomic
        # write would replace with a regular file
        raise typer.BadParameter(f"{str(out)!r} is not a regular file; give the JSON file "
                                 "to write", param_hint="'--out'")
    if not out.parent.is_dir():
        raise typer.BadParameter(f"the directory {str(out.parent)!r} of {str(out)!r} does not "
                                 "exist", param_hint="'--out'")
    try:  # before minutes of measuring; os.access trusts permission bits, a real file tells
        fd, tmp = tempfile.mkstemp(prefix=".budgetnas-check-", dir=out.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise typer.BadParameter(f"cannot create a file in {str(out.parent)!r} "
                                 f"({exc.strerror or exc})", param_hint="'--out'") from None
    space, signatures, factory = load_provider(provider)
    try:
        settings = LatencySettings(batch_size=batch_size, threads=threads, warmup=warmup,
                                   repeats=repeats, backend=backend)
    except CostError as exc:
        raise typer.BadParameter(str(exc)) from exc
    wanted = collect_signatures(space, signatures, samples, seed)
    kept: dict[str, Any] = {}
    if resume and out.exists():
        old = load_table(out)
        if old.meta.get("settings") == settings.to_dict():
            kept = {s: e for s, e in old.entries.items() if s in wanted}
    todo = [s for s in wanted if s not in kept]
    if limit > 0:
        todo = todo[:limit]
    typer.echo(f"{len(wanted)} signatures, {len(kept)} already measured, measuring {len(todo)} "
               f"({settings.backend}, {settings.threads} thread(s), {settings.repeats} repeats)")

    def progress(i: int, total: int, sig: str) -> None:
        typer.echo(f"[{i}/{total}] {sig}")

    table = build_table({s: (lambda s=s: factory(s)) for s in todo}, settings,
                        progress=progress, meta={"provider": provider})
    merged = LatencyTable({**kept, **table.entries}, meta=table.meta)
    merged.save(out)
    typer.echo(f"wrote {len(merged)} entries to {out}")


@latency_app.command("info")
def info_cmd(table_path: Path = typer.Argument(..., help="JSON or ProxylessNAS YAML table.")
             ) -> None:
    """Summarise a latency table: entries, latency range, where it was measured."""
    from budgetnas.cost.table import load_table

    try:
        table = load_table(table_path)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    means = np.array([e.mean_ms for e in table.entries.values()])
    typer.echo(f"{len(table)} signatures; mean latency {means.min():.4g}..{means.max():.4g} ms "
               f"(sum {means.sum():.4g} ms)")
    for key, value in sorted(table.meta.items()):
        typer.echo(f"{key}: {value}")
