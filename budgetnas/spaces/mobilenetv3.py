"""The MobileNetV3-like search space of TuNAS (Bender et al., CVPR 2020, §4), optionally with
CondConv's number of experts as a decision (Yang et al., NeurIPS 2019).

Structure (google-research/tunas ``mobile_search_space_v3.mobilenet_v3_like_search``):

- block 0 (stem): k×k stride-2 conv, k ∈ {3, 5}, h-swish; then an optional residual
  depthwise-separable layer (kernel {3, 5, 7}, ReLU);
- five blocks with strides 2, 2, 2, 1, 2 and up to 4 layers (the first is always present, the
  others optional); each layer picks kernel {3, 5, 7}, expansion {1, …, 6} (relative to its
  input filters) and squeeze-excite on / off; ReLU in the first two blocks, h-swish after;
- head: 1×1 conv + BN + h-swish, global pooling, 1×1 conv with bias + h-swish, classifier;
- every block and both head convs pick filters = base × {0.5, 0.625, 0.75, 1, 1.25, 1.5, 2},
  rounded half up to multiples of 8 (duplicates merged), base (16, 16, 32, 64, 128, 256, 512,
  1024).

All value lists are arguments, so the same factory gives MobileNetV3-Large's own space
(:data:`MOBILENET_V3_LARGE_FILTERS`, expansions with 2.3 and 2.5) and the multi-hardware space
(:mod:`budgetnas.spaces.multihw`). ``experts`` adds one decision per block of the last
``condconv_blocks`` blocks: the number of CondConv experts of all its inverted bottlenecks.

>>> from budgetnas.spaces import get_space
>>> space = get_space("mobilenetv3_like")
>>> space.spec["blocks[1].filters"].candidates
(8, 16, 24, 32)
"""

from __future__ import annotations

from collections.abc import Sequence

from budgetnas.errors import SpaceError
from budgetnas.space import oneof
from budgetnas.spaces.arch import ACTS, BlockSpec, ConvArch, HeadSpec, LayerSpec, scale_filters
from budgetnas.spaces.conv_space import ConvSpace
from budgetnas.spaces.registry import register_space

__all__ = ["BASE_FILTERS", "MULTIPLIERS", "EXPANSIONS", "KERNELS", "STRIDES", "ACTIVATIONS",
           "MOBILENET_V3_LARGE_FILTERS", "MOBILENET_V3_LARGE_EXPANSIONS", "mobilenetv3_like",
           "mobilenetv3_like_condconv", "mobilenetv3_like_template", "filter_choices"]

#: Base filters: stem block, five blocks, head pre-pool conv, head post-pool conv (TuNAS).
BASE_FILTERS = (16, 16, 32, 64, 128, 256, 512, 1024)
MULTIPLIERS = (0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0)
EXPANSIONS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
KERNELS = (3, 5, 7)
STEM_KERNELS = (3, 5)
STRIDES = (2, 2, 2, 1, 2)
#: Activation of the stem, the five blocks and the head ("ReLU early, h-swish later").
ACTIVATIONS = ("hswish", "relu", "relu", "hswish", "hswish", "hswish", "hswish")
#: MobileNetV3-Large 1.0's filters in the same positions (Howard et al. 2019, Table 1).
MOBILENET_V3_LARGE_FILTERS = (16, 24, 40, 80, 112, 160, 960, 1280)
#: Expansions that contain MobileNetV3-Large's hidden widths (200 / 80 = 2.5, 184 / 80 = 2.3).
MOBILENET_V3_LARGE_EXPANSIONS = (1.0, 2.0, 2.3, 2.5, 3.0, 4.0, 5.0, 6.0)


def filter_choices(base: int, multipliers: Sequence[float]) -> list[int]:
    """Sorted distinct ``scale_filters(base, m)`` over ``multipliers`` (TuNAS's filter lists)."""
    return sorted({scale_filters(base, m) for m in multipliers})


def _choice(values: Sequence) -> object:
    values = list(values)
    return values[0] if len(values) == 1 else oneof(values)


def mobilenetv3_like_template(
    base_filters: Sequence[int] = BASE_FILTERS,
    multipliers: Sequence[float] = MULTIPLIERS,
    expansions: Sequence[float] = EXPANSIONS,
    kernels: Sequence[int] = KERNELS,
    stem_kernels: Sequence[int] = STEM_KERNELS,
    se: Sequence[bool] = (False, True),
    activations: Sequence[str] = ACTIVATIONS,
    depth: int = 4,
    strides: Sequence[int] = STRIDES,
    head_multipliers: Sequence[float] | None = None,
    head_post_bn: bool = False,
    experts: Sequence[int] | None = None,
    condconv_blocks: int = 2,
) -> ConvArch:
    """The ConvArch template of a MobileNetV3-like space (module docstring for the defaults).

    Parameters
    ----------
    base_filters : 8 ints
        Stem block, the body blocks, head pre-pool and post-pool convs.
    multipliers : floats
        Filter multipliers of every block and head conv.
    expansions, kernels, stem_kernels : sequences
        Per-layer value lists (a single value makes it fixed).
    se : sequence of bool
        Squeeze-excite choices per layer; ``(False,)`` removes SE.
    activations : 7 names
        Stem, each body block, head.
    depth : int
        Maximum layers per body block (the first is always present).
    strides : ints
        First-layer stride of each body block; their number sets the number of body blocks.
    head_multipliers : floats, optional
        Multipliers of the two head convs (default ``multipliers``; ``(1.0,)`` fixes them).
    head_post_bn : bool
        Batch norm (instead of a bias) after the post-pool head conv.
    experts : ints, optional
        CondConv experts to choose from (e.g. ``(1, 2, 4, 8)``) in the last ``condconv_blocks``
        body blocks.

    Raises
    ------
    SpaceError
        For inconsistent lengths, an unknown activation, or empty value lists.
    """
    nb = len(strides)
    if len(base_filters) != nb + 3:
        raise SpaceError(f"base_filters needs {nb + 3} entries (stem, {nb} blocks, two head "
                         f"convs), got {len(base_filters)}")
    if len(activations) != nb + 2:
        raise SpaceError(f"activations needs {nb + 2} names (stem, {nb} blocks, head), got "
                         f"{len(activations)}")
    bad = [a for a in activations if a not in ACTS]
    if bad:
        raise SpaceError(f"unknown activations {bad}; expected names from {ACTS}")
    if not all(len(v) for v in (multipliers, expansions, kernels, stem_kernels, se)) or depth < 1:
        raise SpaceError("value lists must be non-empty and depth >= 1")
    head_mult = multipliers if head_multipliers is None else head_multipliers
    expansions = [float(e) for e in expansions]

    def layer(act: str) -> LayerSpec:
        return LayerSpec("ir", _choice(kernels), _choice(expansions), _choice(list(se)), act)

    stem = BlockSpec(
        _choice(filter_choices(base_filters[0], multipliers)), 2,
        (LayerSpec("conv", _choice(stem_kernels), act=activations[0]),
         oneof([LayerSpec("ir", _choice(kernels), 1.0, False, "relu"), None])))
    blocks = [stem]
    for b in range(nb):
        act = activations[1 + b]
        layers = (layer(act),) + tuple(oneof([layer(act), None]) for _ in range(depth - 1))
        n_exp = 1
        if experts is not None and b >= nb - condconv_blocks:
            n_exp = _choice([int(e) for e in experts])
        blocks.append(BlockSpec(_choice(filter_choices(base_filters[1 + b], multipliers)),
                                strides[b], layers, n_exp))
    head = HeadSpec(_choice(filter_choices(base_filters[nb + 1], head_mult)),
                    _choice(filter_choices(base_filters[nb + 2], head_mult)),
                    head_post_bn, activations[-1])
    return ConvArch(tuple(blocks), head)


@register_space("mobilenetv3_like")
def mobilenetv3_like(**kwargs: object) -> ConvSpace:
    """TuNAS's MobileNetV3-like space; keyword arguments as :func:`mobilenetv3_like_template`."""
    return ConvSpace(mobilenetv3_like_template(**kwargs), name="mobilenetv3_like")


@register_space("mobilenetv3_like_condconv")
def mobilenetv3_like_condconv(experts: Sequence[int] = (1, 2, 4, 8), condconv_blocks: int = 2,
                              **kwargs: object) -> ConvSpace:
    """The MobileNetV3-like space with CondConv experts {1, 2, 4, 8} in its last two blocks.

    CondConv (Yang et al. 2019, §4) replaces the convolutions of the last stages with
    conditionally parameterised ones; here the number of experts of each of those blocks is a
    decision (1 = plain convolutions).
    """
    return ConvSpace(mobilenetv3_like_template(experts=experts, condconv_blocks=condconv_blocks,
                                               **kwargs), name="mobilenetv3_like_condconv")
