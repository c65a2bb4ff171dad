"""``budgetnas cost``: parameters, MACs, FLOPs and measured latency of one network.

The network is a published reference architecture (snake-case names as timm spells them, e.g.
``mobilenetv3_large_100``), or a child of a registered space given by its DNA (a JSON list) or its
architecture string (``budgetnas.spaces.to_string``)::

    budgetnas cost mobilenetv3_large_100 --input-size 224
    budgetnas cost '[0, 1, 0, ...]' --space mobilenetv3_like --input-size 64 --num-classes 200
    budgetnas cost 's2_c16: cn_k3_nhs ir_k3_e1_nre | ... | head_p960_f1280_nhs'

One figure a line as ``name: value unit`` (``parameters``, ``MACs`` and ``FLOPs`` are their own
unit: ``parameters: 5,483,032``, with thousands separators). Counts follow :mod:`budgetnas.cost.counting` (MACs =
multiply-accumulates of convolutions and linear layers from PyTorch's FlopCounterMode; FLOPs =
2 × MACs); latency is the median and interquartile range of repeated timed passes on this machine.
Unknown names and invalid DNA exit with code 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import typer

from budgetnas.cli import app

__all__ = ["ALIASES", "ResolvedNetwork", "resolve_network", "cost_lines", "cost_cmd"]

#: Other spellings of the reference names (torchvision's, and timm's without the width suffix).
ALIASES = {"mobilenet_v2": "mobilenetv2_100", "mobilenetv2": "mobilenetv2_100",
           "mobilenet_v3_large": "mobilenetv3_large_100",
           "mobilenetv3_large": "mobilenetv3_large_100"}


@dataclass(frozen=True)
class ResolvedNetwork:
    """What ``NAME_OR_DNA`` names: the architecture, the space it belongs to, its class count."""

    label: str
    arch: Any
    space_name: str | None
    num_classes: int
    dna: Any = None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def resolve_network(name_or_dna: str, space_name: str | None,
                    num_classes: int | None) -> ResolvedNetwork:
    """Resolve a reference name, a JSON DNA (needs ``space_name``) or an architecture string.

    Raises
    ------
    typer.Exit
        Code 2, after printing why: unknown reference or space name (listing the known ones),
        a DNA without ``--space``, a DNA that is not a child (naming the decision point), an
        architecture string that does not parse or is not a child of ``--space``.
    """
    from budgetnas.errors import ArchitectureError, InvalidDNAError, SpaceError
    from budgetnas.spaces import (
        from_string,
        get_space,
        list_references,
        list_spaces,
        validate_arch,
    )
    from budgetnas.spaces.reference import (
        get_reference,
        reference_num_classes,
        reference_space,
    )

    text = name_or_dna.strip()
    space = None
    if space_name is not None:
        try:
            space = get_space(space_name)
        except SpaceError:
            raise _fail(f"unknown space {space_name!r}; known spaces: "
                        f"{', '.join(list_spaces(kind='conv'))}") from None
    if text.startswith("["):
        if space is None:
            raise _fail("a DNA needs the space it is a child of: add --space NAME (one of "
                        f"{', '.join(list_spaces(kind='conv'))})")
        try:
            dna = space.validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise _fail(f"the DNA is not a JSON list: {exc}") from None
        except InvalidDNAError as exc:
            raise _fail(f"invalid DNA for space {space_name!r}: {exc}") from None
        return ResolvedNetwork(f"DNA in {space_name}", space.materialize(dna), space_name,
                               1000 if num_classes is None else num_classes, dna)
    if "|" in text:
        try:
            arch = from_string(text)
            validate_arch(arch)
            dna = space.encode(arch) if space is not None else None
        except (ArchitectureError, InvalidDNAError) as exc:
            raise _fail(str(exc)) from None
        return ResolvedNetwork("architecture string", arch, space_name,
                               1000 if num_classes is None else num_classes, dna)
    text = ALIASES.get(text, text)
    if text not in list_references():
        raise _fail(f"unknown architecture {text!r}; known reference architectures: "
                    f"{', '.join(list_references())} (or give a DNA as a JSON list with --space, "
                    "or an architecture string)")
    arch = get_reference(text)
    if space is not None:
        try:
            dna = space.encode(arch)
        except InvalidDNAError as exc:
            raise _fail(f"{text} is not a child of space {space_name!r}: {exc}") from None
    else:
        space_name = reference_space(text).name
    return ResolvedNetwork(text, arch, space_name,
                           reference_num_classes(text) if num_classes is None else num_classes)


def cost_lines(net: ResolvedNetwork, input_size: int, *, width_mult: float = 1.0,
               latency: bool = True, batch_size: int = 1, threads: int = 1, warmup: int = 10,
               repeats: int = 50, backend: str = "torch") -> list[str]:
    """The ``name: value unit`` lines of the command (parameters, MACs, FLOPs, latency).

    Counts carry thousands separators and no repeated unit (``MACs: 216,589,672``); latency
    is one summary line (``latency: 3.21 ms (median of 50 passes, IQR ...)``) and one line per
    statistic (``latency_median: 3.2100 ms``).

    Parameters and MACs are counted on the built module (``budgetnas.cost.counting``) for one
    image of 3 × ``input_size`` × ``input_size``; latency is per forward pass of ``batch_size``
    images.

    Raises
    ------
    CostError
        On invalid latency settings.
    ImportError
        For ``backend="onnxruntime"`` without ONNX Runtime.
    """
    import torch

    from budgetnas.cost.counting import cost_report
    from budgetnas.cost.latency import LatencySettings, measure_latency
    from budgetnas.spaces import build_model, to_string

    torch.manual_seed(0)
    model = build_model(net.arch, num_classes=net.num_classes, width_mult=width_mult)
    rep = cost_report(model, (1, 3, input_size, input_size))
    lines = [f"architecture: {net.label}",
             f"space: {net.space_name or '-'}",
             f"arch_string: {to_string(net.arch)}"]
    if net.dna is not None:
        lines.append(f"dna: {json.dumps(list(net.dna))}")
    lines += [f"input_size: 3x{input_size}x{input_size}",
              f"num_classes: {net.num_classes}",
              f"width_mult: {width_mult:g}",
              # the name is the unit: "parameters: 5,483,032", not "... parameters"
              f"parameters: {rep.params:,}",
              f"MACs: {rep.macs:,}",
              f"FLOPs: {rep.flops:,}"]
    if latency:
        settings = LatencySettings(batch_size=batch_size, input_size=(3, input_size, input_size),
                                   threads=threads, warmup=warmup, repeats=repeats,
                                   backend=backend)
        res = measure_latency(model, settings)
        lines += [f"latency: {res.median_ms:.3g} ms (median of {repeats} passes, IQR "
                  f"{res.iqr_ms:.2g} ms, batch {batch_size}, {threads} thread"
                  f"{'' if threads == 1 else 's'}, {backend})",
                  f"latency_median: {res.median_ms:.4f} ms",
                  f"latency_iqr: {res.iqr_ms:.4f} ms",
                  f"latency_p10: {res.p10:.4f} ms",
                  f"latency_p90: {res.p90:.4f} ms",
                  f"backend: {backend}",
                  f"batch_size: {batch_size}",
                  f"threads: {threads}",
                  f"warmup: {warmup}",
                  f"repeats: {repeats}"]
    return lines


@app.command("cost")
def cost_cmd(
    name_or_dna: str = typer.Argument(..., metavar="NAME_OR_DNA",
                                      help="Reference name (e.g. mobilenetv3_large_100), a DNA "
                                           "as a JSON list (with --space), or an architecture "
                                           "string."),
    input_size: int = typer.Option(224, "--input-size", help="Image side in pixels (H = W)."),
    space: str = typer.Option(None, "--space", metavar="NAME",
                              help="Registered space of the DNA or string."),
    num_classes: int = typer.Option(None, "--num-classes",
                                    help="Classifier outputs (default: the reference's own, "
                                         "1000 for children; 0 = no classifier)."),
    width_mult: float = typer.Option(1.0, "--width-mult", help="Filter multiplier."),
    batch_size: int = typer.Option(1, "--batch-size", help="Images per timed pass."),
    threads: int = typer.Option(1, "--threads", help="Intra-op threads while timing."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed passes before timing."),
    repeats: int = typer.Option(50, "--repeats", help="Timed passes (median and IQR)."),
    backend: str = typer.Option("torch", "--backend", metavar="[torch|onnxruntime]",
                                help="The runtime to time."),
    latency: bool = typer.Option(True, "--latency/--no-latency", help="Measure latency."),
) -> None:
    """Print parameters, MACs, FLOPs and measured latency of a network.

    One figure a line, as `name: value unit`.
    """
    from budgetnas.errors import CostError

    if input_size < 1 or width_mult <= 0 or (num_classes is not None and num_classes < 0):
        raise _fail(f"--input-size must be >= 1, --width-mult > 0 and --num-classes >= 0; got "
                    f"{input_size}, {width_mult}, {num_classes}")
    net = resolve_network(name_or_dna, space, num_classes)
    try:
        lines = cost_lines(net, input_size, width_mult=width_mult, latency=latency,
                           batch_size=batch_size, threads=threads, warmup=warmup,
                           repeats=repeats, backend=backend)
    except (CostError, ImportError) as exc:
        raise _fail(str(exc)) from None
    for line in lines:
        typer.echo(line)
