"""The MobileDet search spaces (Xiong et al., CVPR 2021, §3; papers.md §7).

Structure, read off the three published backbones (TF object detection API,
``ssd_mobiledet_feature_extractor.py``): a 3×3 stride-2 stem conv; one first layer at stride 1;
six blocks with strides 2, 2, 2, 1, 2, 1 and 4, 4, 4, 4, 4, 1 layers whose first layer has no
skip and whose other layers may be skipped; no classification head of their own (a child gets
global pooling and a classifier).

- ``mobiledet_ibn`` (IBN-only, for CPUs): every layer an inverted bottleneck with SE and
  h-swish; kernel {3, 5}, expansion {4, 8}; the first layer has expansion 1.
- ``mobiledet`` (IBN + Fused + Tucker, for DSPs and EdgeTPUs): ReLU6, no SE; each layer is an
  IBN or a fused IBN (kernel {3, 5}, expansion {4, 8}) or a Tucker conv (kernel {3, 5},
  s, e ∈ {0.25, 0.75}); the first layer is an expansion-1 IBN or a Tucker conv.

Filters: every position picks base × {0.5, 0.625, 0.75, 1, 1.25, 1.5, 2} (rounded half up to
multiples of 8). The paper gives the multipliers but not the base filters; the default bases
(32, 16, 32, 32, 96, 96, 160, 192) are ours, chosen as the smallest round bases for which the
published MobileDet-CPU, -DSP and -EdgeTPU backbones are children of these spaces.

>>> from budgetnas.spaces import get_space
>>> get_space("mobiledet").num_decisions > get_space("mobiledet_ibn").num_decisions
True
"""

from __future__ import annotations

from collections.abc import Sequence

from budgetnas.errors import SpaceError
from budgetnas.space import oneof
from budgetnas.spaces.arch import BlockSpec, ConvArch, HeadSpec, LayerSpec
from budgetnas.spaces.conv_space import ConvSpace
from budgetnas.spaces.mobilenetv3 import MULTIPLIERS, filter_choices
from budgetnas.spaces.registry import register_space

__all__ = ["MOBILEDET_BASE_FILTERS", "STRIDES", "DEPTHS", "mobiledet", "mobiledet_ibn",
           "mobiledet_template"]

#: Stem, first layer, six blocks.
MOBILEDET_BASE_FILTERS = (32, 16, 32, 32, 96, 96, 160, 192)
STRIDES = (2, 2, 2, 1, 2, 1)
DEPTHS = (4, 4, 4, 4, 4, 1)
KERNELS = (3, 5)
EXPANSIONS = (4.0, 8.0)
TUCKER_RATIOS = (0.25, 0.75)


def _ibn_layer(act: str, se: bool) -> LayerSpec:
    return LayerSpec("ir", oneof(list(KERNELS)), oneof(list(EXPANSIONS)), se, act)


def _accelerator_ops(act: str) -> list:
    return [LayerSpec("ir", oneof(list(KERNELS)), oneof(list(EXPANSIONS)), False, act),
            LayerSpec("fused", oneof(list(KERNELS)), oneof(list(EXPANSIONS)), False, act),
            LayerSpec("tucker", oneof(list(KERNELS)), act=act,
                      in_ratio=oneof(list(TUCKER_RATIOS)), out_ratio=oneof(list(TUCKER_RATIOS)))]


def mobiledet_template(kind: str = "ibn_fused_tucker",
                       base_filters: Sequence[int] = MOBILEDET_BASE_FILTERS,
                       multipliers: Sequence[float] = MULTIPLIERS) -> ConvArch:
    """The ConvArch template of a MobileDet space.

    Parameters
    ----------
    kind : {"ibn", "ibn_fused_tucker"}
        IBN-only (SE, h-swish) or IBN + Fused + Tucker (ReLU6, no SE).
    base_filters : 8 ints
        Stem, first layer, six blocks.
    multipliers : floats

    Raises
    ------
    SpaceError
        For an unknown ``kind`` or ``base_filters`` without 8 entries.
    """
    if kind not in ("ibn", "ibn_fused_tucker"):
        raise SpaceError(f"mobiledet: kind must be 'ibn' or 'ibn_fused_tucker', got {kind!r}")
    if len(base_filters) != 8:
        raise SpaceError(f"mobiledet: base_filters needs 8 entries (stem, first layer, six "
                         f"blocks), got {len(base_filters)}")
    act = "hswish" if kind == "ibn" else "relu6"

    def filters(b: int) -> object:
        return oneof(filter_choices(base_filters[b], multipliers))

    if kind == "ibn":
        first = LayerSpec("ir", oneof(list(KERNELS)), 1.0, True, act)
    else:
        first = oneof([LayerSpec("ir", oneof(list(KERNELS)), 1.0, False, act),
                       _accelerator_ops(act)[2]])
    blocks = [BlockSpec(filters(0), 2, (LayerSpec("conv", 3, act=act),)),
              BlockSpec(filters(1), 1, (first,))]
    for b, (stride, depth) in enumerate(zip(STRIDES, DEPTHS)):
        layers = []
        for i in range(depth):
            op = _ibn_layer(act, True) if kind == "ibn" else oneof(_accelerator_ops(act))
            layers.append(op if i == 0 else oneof([op, None]))
        blocks.append(BlockSpec(filters(2 + b), stride, tuple(layers)))
    return ConvArch(tuple(blocks), HeadSpec(act=act))


@register_space("mobiledet_ibn")
def mobiledet_ibn(**kwargs: object) -> ConvSpace:
    """MobileDet's IBN-only space (SE + h-swish; for mobile CPUs); kwargs as the template."""
    return ConvSpace(mobiledet_template("ibn", **kwargs), name="mobiledet_ibn")


@register_space("mobiledet")
def mobiledet(**kwargs: object) -> ConvSpace:
    """MobileDet's IBN + Fused + Tucker space (ReLU6, no SE; for DSPs / EdgeTPUs)."""
    return ConvSpace(mobiledet_template("ibn_fused_tucker", **kwargs), name="mobiledet")
