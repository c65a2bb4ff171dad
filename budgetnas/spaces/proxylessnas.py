"""The ProxylessNAS search space (Cai et al., ICLR 2019; as reused by TuNAS, Bender et al. 2020, §4).

A 3×3 stride-2 stem, a fixed depthwise-separable layer (inverted bottleneck, expansion 1, kernel
3), then six blocks with strides 2, 2, 2, 1, 2, 1 and 4, 4, 4, 4, 4, 1 layers. Every layer
picks one op among kernel {3, 5, 7} × expansion {3, 6}; the non-first layers of a block may be
skipped. Head: 1×1 conv to 1280, pooling, classifier. ReLU6 throughout, as in MobileNetV2 and
ProxylessNAS (TuNAS's reproduction uses ReLU; the cost is the same).

One decision per searchable layer (21), choice ``c`` = :data:`OPS` ``[c]`` = (kernel,
expansion), and choice 6 = skip for the non-first layers. This is the DNA-vector layout of
:mod:`budgetnas.cost.proxylessnas`, so its lookup-table latency model prices this space's DNA
directly.

Default filters (32, 16, 24, 40, 80, 96, 192, 320, 1280) are those of the ProxylessNAS
Pixel 1 lookup table (``shared/data/nas/proxylessnas_pixel1_trim.yaml``); ``filters`` swaps
them, e.g. MobileNetV2's or ProxylessNAS-Mobile's (tunas ``mobile_model_archive``).

>>> from budgetnas.spaces import get_space
>>> space = get_space("proxylessnas")
>>> space.num_decisions, int(space.num_choices.sum())
(21, 141)
"""

from __future__ import annotations

from collections.abc import Sequence

from budgetnas.errors import SpaceError
from budgetnas.space import oneof
from budgetnas.spaces.arch import BlockSpec, ConvArch, HeadSpec, LayerSpec
from budgetnas.spaces.conv_space import ConvSpace
from budgetnas.spaces.registry import register_space

__all__ = ["OPS", "STRIDES", "DEPTHS", "SEARCH_FILTERS", "MOBILENET_V2_FILTERS",
           "PROXYLESSNAS_MOBILE_FILTERS", "proxylessnas", "proxylessnas_template"]

#: Searchable ops as (kernel, expansion), in choice order (= budgetnas.cost.proxylessnas.OPS).
OPS: tuple[tuple[int, int], ...] = ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))
STRIDES = (2, 2, 2, 1, 2, 1)
DEPTHS = (4, 4, 4, 4, 4, 1)
#: (stem, first layer, six blocks, head) filters of the ProxylessNAS Pixel 1 table.
SEARCH_FILTERS = (32, 16, 24, 40, 80, 96, 192, 320, 1280)
#: MobileNetV2 1.0 (Sandler et al. 2018, Table 2; tunas ``MOBILENET_V2_FILTERS``).
MOBILENET_V2_FILTERS = (32, 16, 24, 32, 64, 96, 160, 320, 1280)
#: ProxylessNAS-Mobile (tunas ``PROXYLESSNAS_MOBILE_FILTERS``).
PROXYLESSNAS_MOBILE_FILTERS = (32, 16, 32, 40, 80, 96, 192, 320, 1280)


def _op(kernel: int, expansion: int, act: str) -> LayerSpec:
    return LayerSpec("ir", kernel, float(expansion), act=act)


def proxylessnas_template(filters: Sequence[int] = SEARCH_FILTERS, act: str = "relu6") -> ConvArch:
    """The ConvArch template of the ProxylessNAS space (see the module docstring).

    Raises
    ------
    SpaceError
        If ``filters`` does not have 9 positive entries.
    """
    filters = tuple(int(f) for f in filters)
    if len(filters) != 9 or min(filters) < 1:
        raise SpaceError(f"proxylessnas: filters needs 9 positive counts (stem, first layer, six "
                         f"blocks, head), got {filters}")
    ops = [_op(k, e, act) for k, e in OPS]
    blocks = [BlockSpec(filters[0], 2, (LayerSpec("conv", 3, act=act),)),
              BlockSpec(filters[1], 1, (_op(3, 1, act),))]
    for b, (stride, depth) in enumerate(zip(STRIDES, DEPTHS)):
        layers = tuple(oneof(ops) if i == 0 else oneof(ops + [None]) for i in range(depth))
        blocks.append(BlockSpec(filters[2 + b], stride, layers))
    return ConvArch(tuple(blocks), HeadSpec(pre_filters=filters[8], act=act))


@register_space("proxylessnas")
def proxylessnas(filters: Sequence[int] = SEARCH_FILTERS, act: str = "relu6") -> ConvSpace:
    """The ProxylessNAS space: 21 layers × (kernel {3,5,7} × expansion {3,6}, or skip).

    Parameters
    ----------
    filters : 9 ints, default :data:`SEARCH_FILTERS`
        Stem, first layer, the six blocks, head.
    act : str, default "relu6"

    Raises
    ------
    SpaceError
        If ``filters`` is malformed.
    """
    return ConvSpace(proxylessnas_template(filters, act), name="proxylessnas")
