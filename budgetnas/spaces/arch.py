"""The concrete child of a convolutional search space: blocks of layers, then a head.

Every convolutional space of :mod:`budgetnas.spaces` (ProxylessNAS, MobileNetV3-like, MobileDet,
multi-hardware) materialises to a :class:`ConvArch`: a tuple of :class:`BlockSpec` (output
filters, stride of the first layer, CondConv experts, and its layers) and a :class:`HeadSpec`.
A layer is a :class:`LayerSpec` or ``None`` when the search skipped it. This is TuNAS's
``ConvTowerSpec`` (Bender et al. 2020, §4; google-research/tunas ``basic_specs``): the stem is
block 0, whose first layer is a regular convolution (``op="conv"``).

Conventions (the papers' and their reference code's):

- The first layer of a block carries the block's stride and never has an identity skip; the
  other layers have stride 1 and a skip (TuNAS ``ResidualSpec``; MobileDets ``residual=False``
  on first layers). A ``None`` layer is the identity, so it is only allowed where the shape
  does not change.
- Expanded widths are ``make_divisible(in * expansion)`` (``in`` when the expansion is 1, and
  then the 1×1 expansion conv is absent: a depthwise-separable layer); squeeze-excite squeezes
  to ``make_divisible(mid / 4)`` (MobileNetV3, Howard et al. 2019, §5.3).
- ``width_mult`` scales every filter count with ``make_divisible(f * width_mult)`` (MobileNet
  width multiplier), which shrinks a child for small images.

>>> arch = ConvArch(blocks=(BlockSpec(16, 2, (LayerSpec("conv", 3, act="hswish"),)),
...                         BlockSpec(24, 2, (LayerSpec("ir", 3, 4.0), None))),
...                 head=HeadSpec(pre_filters=64))
>>> arch.num_layers
2
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from budgetnas.errors import ArchitectureError

__all__ = ["OPS", "ACTS", "LayerSpec", "BlockSpec", "HeadSpec", "ConvArch", "validate_arch",
           "scale_filters"]

#: Layer ops: regular conv (stem), inverted bottleneck, fused inverted bottleneck, Tucker conv.
OPS = ("conv", "ir", "fused", "tucker")
#: Activations a layer may name (see :func:`budgetnas.nn.get_activation`).
ACTS = ("relu", "relu6", "hswish", "swish")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a child.

    Attributes
    ----------
    op : {"conv", "ir", "fused", "tucker"}
        Regular k×k conv-BN-act; inverted bottleneck (MobileNetV2); fused inverted bottleneck
        (MobileDets); Tucker convolution (MobileDets).
    kernel : int
        Odd kernel size of the spatial convolution.
    expansion : float
        Hidden width over input width (``ir``, ``fused``); 1 for the other ops.
    se : bool
        Squeeze-excite (ratio 0.25) on the hidden width (``ir``, ``fused``).
    act : str
        Activation after every convolution but the projection.
    in_ratio, out_ratio : float
        Tucker compression ratios s and e (``tucker`` only; 0 otherwise).
    """

    op: str = "ir"
    kernel: int = 3
    expansion: float = 1.0
    se: bool = False
    act: str = "relu"
    in_ratio: float = 0.0
    out_ratio: float = 0.0


@dataclass(frozen=True)
class BlockSpec:
    """A block: layers sharing one output filter count; the first one carries ``stride``.

    Attributes
    ----------
    filters : int
        Output filters of every layer of the block (before ``width_mult``).
    stride : int
        1 or 2, applied by the first layer.
    layers : tuple of LayerSpec or None
        ``None`` marks a skipped layer (identity).
    experts : int
        CondConv experts of the block's inverted bottlenecks (1 = plain convolutions; CondConv,
        Yang et al. 2019, §3).
    """

    filters: int
    stride: int
    layers: tuple
    experts: int = 1


@dataclass(frozen=True)
class HeadSpec:
    """The layers between the last block and the classifier.

    ``pre_filters`` > 0: a 1×1 conv-BN-act before global pooling (MobileNetV2's 1280,
    MobileNetV3's 960). ``post_filters`` > 0: a 1×1 conv after pooling (MobileNetV3's 1280), with
    bias and no BN unless ``post_bn``. Zero means absent (a detection backbone has neither).
    """

    pre_filters: int = 0
    post_filters: int = 0
    post_bn: bool = False
    act: str = "relu"


@dataclass(frozen=True)
class ConvArch:
    """A child of a convolutional space: ``blocks`` (block 0 starts with the stem conv), ``head``."""

    blocks: tuple
    head: HeadSpec = HeadSpec()

    @property
    def num_layers(self) -> int:
        """Number of layers that are present (skipped ones not counted)."""
        return sum(layer is not None for b in self.blocks for layer in b.layers)

    def replace(self, **changes: object) -> ConvArch:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def scale_filters(filters: float, multiplier: float, base: int = 8) -> int:
    """``filters * multiplier`` rounded half up to a multiple of ``base`` (at least ``base``).

    The rounding of TuNAS's filter multipliers (google-research/tunas
    ``search_space_utils.scale_filters``) and of the MobileDet backbones (TF object detection
    API ``ssd_mobiledet_feature_extractor._scale_filters``). Unlike ``make_divisible`` it never
    bumps a value up by 10 %, so the searched filter lists match the papers'.

    >>> scale_filters(16, 0.625), scale_filters(160, 0.625), scale_filters(512, 1.25)
    (8, 104, 640)
    """
    return max(base, int(filters * multiplier / base + 0.5) * base)


def validate_arch(arch: ConvArch, in_channels: int = 3) -> None:
    """Check that ``arch`` is a well-formed child.

    Raises
    ------
    ArchitectureError
        Unknown op or activation, a stride other than 1 / 2, an even kernel, an expansion below
        1, CondConv experts below 1, block 0 not starting with the stem ``conv``, or a skipped
        layer where the shape would change (a first layer with stride 2 or new filters).
    """
    if not isinstance(arch, ConvArch):
        raise ArchitectureError(f"expected a ConvArch, got {type(arch).__name__}")
    if not arch.blocks:
        raise ArchitectureError("a ConvArch needs at least one block (the stem)")
    first = arch.blocks[0].layers[0] if arch.blocks[0].layers else None
    if first is None or first.op != "conv":
        raise ArchitectureError(
            "block 0 must start with the stem convolution (LayerSpec(op='conv', ...)), got "
            f"{first!r}")
    prev = in_channels
    for b, block in enumerate(arch.blocks):
        if block.stride not in (1, 2):
            raise ArchitectureError(f"block {b}: stride must be 1 or 2, got {block.stride}")
        if not isinstance(block.filters, int) or block.filters < 1:
            raise ArchitectureError(f"block {b}: filters must be a positive int, got {block.filters!r}")
        if not isinstance(block.experts, int) or block.experts < 1:
            raise ArchitectureError(f"block {b}: experts must be an int >= 1, got {block.experts!r}")
        for i, layer in enumerate(block.layers):
            where = f"block {b} layer {i}"
            if layer is None:
                if i == 0 and (block.stride != 1 or prev != block.filters):
                    raise ArchitectureError(
                        f"{where} is skipped but changes the shape (stride {block.stride}, "
                        f"{prev} -> {block.filters} filters); only shape-preserving layers can be "
                        "skipped")
                continue
            _check_layer(layer, where)
        prev = block.filters
    if arch.head.act not in ACTS:
        raise ArchitectureError(f"head: unknown activation {arch.head.act!r}; expected one of {ACTS}")


def _check_layer(layer: LayerSpec, where: str) -> None:
    if not isinstance(layer, LayerSpec):
        raise ArchitectureError(f"{where}: expected a LayerSpec or None, got {layer!r}")
    if layer.op not in OPS:
        raise ArchitectureError(f"{where}: unknown op {layer.op!r}; expected one of {OPS}")
    if layer.act not in ACTS:
        raise ArchitectureError(f"{where}: unknown activation {layer.act!r}; expected one of {ACTS}")
    if layer.kernel < 1 or layer.kernel % 2 == 0:
        raise ArchitectureError(f"{where}: the kernel must be odd and positive, got {layer.kernel}")
    if layer.op in ("ir", "fused") and layer.expansion < 1:
        raise ArchitectureError(f"{where}: expansion must be >= 1, got {layer.expansion}")
    if layer.op == "tucker" and not (layer.in_ratio > 0 and layer.out_ratio > 0):
        raise ArchitectureError(
            f"{where}: a Tucker layer needs in_ratio > 0 and out_ratio > 0, got "
            f"{layer.in_ratio}, {layer.out_ratio}")
