"""The multi-hardware search space (Chu et al., arXiv 2008.08178, §3; papers.md §8).

The MobileNetV3-like space of TuNAS without the ops some accelerators run badly: ReLU only, no
squeeze-excite, kernels {3, 5} (stem kernel {3, 5}), expansions {1, …, 6}, filter multipliers
{0.5, …, 2} of base filters (16, 16, 32, 64, 128, 256) for the stem and five blocks (strides
2, 2, 2, 1, 2; up to 4 layers, non-first ones optional). The head is fixed to the released
models' 1×1 conv to 960, pooling, 1×1 conv to 1280 with batch norm (TF model garden
``MNMultiAVG_BLOCK_SPECS`` / ``MNMultiMAX_BLOCK_SPECS``): 960 and 1280 are not multiples of the
TuNAS head bases that the multipliers reach, so the head is not searched.

MobileNet-MultiHW-AVG and -MAX (:mod:`budgetnas.spaces.reference`) are children of this space.

>>> from budgetnas.spaces import get_space
>>> space = get_space("multihw")
>>> sorted({d.candidates for d in space.decision_points if d.path.endswith("kernel")})
[(3, 5)]
"""

from __future__ import annotations

from budgetnas.spaces.conv_space import ConvSpace
from budgetnas.spaces.mobilenetv3 import MULTIPLIERS, mobilenetv3_like_template
from budgetnas.spaces.registry import register_space

__all__ = ["MULTIHW_BASE_FILTERS", "multihw", "multihw_template"]

#: Stem, five blocks (TuNAS bases), then the fixed 960 / 1280 head.
MULTIHW_BASE_FILTERS = (16, 16, 32, 64, 128, 256, 960, 1280)


def multihw_template(**kwargs: object):  # noqa: ANN201 - returns ConvArch
    """The ConvArch template of the multi-hardware space; ``kwargs`` override the defaults of
    :func:`~budgetnas.spaces.mobilenetv3.mobilenetv3_like_template`."""
    opts: dict = dict(base_filters=MULTIHW_BASE_FILTERS, multipliers=MULTIPLIERS,
                      kernels=(3, 5), stem_kernels=(3, 5), se=(False,),
                      activations=("relu",) * 7, head_multipliers=(1.0,), head_post_bn=True)
    opts.update(kwargs)
    return mobilenetv3_like_template(**opts)


@register_space("multihw")
def multihw(**kwargs: object) -> ConvSpace:
    """The multi-hardware space (ReLU, no SE, kernels {3, 5}); see the module docstring."""
    return ConvSpace(multihw_template(**kwargs), name="multihw")
