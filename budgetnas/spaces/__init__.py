"""Ready-made search spaces and published reference architectures.

Image spaces (registered, see :func:`list_spaces`): ``proxylessnas``, ``mobilenetv3_like``,
``mobilenetv3_like_condconv``, ``mobiledet_ibn``, ``mobiledet``, ``multihw``. Each is a
:class:`ConvSpace` whose children are :class:`ConvArch` values that :func:`build_model` turns
into networks, :func:`describe_layers` describes for cost models, and :func:`to_string` /
:func:`from_string` write as text.

>>> from budgetnas.spaces import get_space, to_string
>>> space = get_space("mobilenetv3_like")
>>> arch = space.materialize(space.smallest())
>>> to_string(arch).split(" | ")[0]
's2_c8: cn_k3_nhs skip'
"""

from budgetnas.spaces import mobiledet, mobilenetv3, multihw, proxylessnas  # noqa: F401 (register)
from budgetnas.spaces.arch import BlockSpec, ConvArch, HeadSpec, LayerSpec, validate_arch
from budgetnas.spaces.build import ConvNet, build_model
from budgetnas.spaces.conv_space import ConvSpace, LayerFeature
from budgetnas.spaces.describe import (
    LayerInfo,
    count_arch_macs,
    count_arch_params,
    describe_layers,
    layer_signatures,
)
from budgetnas.spaces.reference import get_reference, list_references, reference_space
from budgetnas.spaces.registry import get_space, list_spaces, register_space, space_kind
from budgetnas.spaces.strings import from_string, to_string

__all__ = [
    "BlockSpec", "ConvArch", "ConvNet", "ConvSpace", "HeadSpec", "LayerFeature", "LayerInfo",
    "LayerSpec", "build_model", "count_arch_macs", "count_arch_params", "describe_layers",
    "from_string", "get_reference", "get_space", "layer_signatures", "list_references",
    "list_spaces", "reference_space", "register_space", "space_kind", "to_string",
    "validate_arch",
]
