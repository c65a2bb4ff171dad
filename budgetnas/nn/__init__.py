"""Convolutional building blocks of the image search spaces (timm-style ``layers``).

Blocks: :class:`InvertedBottleneck` (MobileNetV2/V3, optional SE and CondConv experts),
:class:`FusedInvertedBottleneck` and :class:`TuckerConv` (MobileDets), :class:`SqueezeExcite`,
:class:`CondConv2d` with :class:`CondConvRouting`. Every residual block has
``zero_init_last_bn()`` (BigNAS) and ``has_residual``.
"""

from budgetnas.nn.activations import ACTIVATIONS, get_activation
from budgetnas.nn.condconv import CondConv2d, CondConvRouting
from budgetnas.nn.conv_bn import ConvBNAct, zero_bn_
from budgetnas.nn.divisible import make_divisible
from budgetnas.nn.drop_path import DropPath
from budgetnas.nn.fused_inverted_bottleneck import FusedInvertedBottleneck
from budgetnas.nn.inverted_bottleneck import CondConvBNAct, InvertedBottleneck
from budgetnas.nn.residual import ResidualBlock
from budgetnas.nn.squeeze_excite import SqueezeExcite
from budgetnas.nn.tucker import TuckerConv

__all__ = [
    "ACTIVATIONS",
    "CondConv2d",
    "CondConvBNAct",
    "CondConvRouting",
    "ConvBNAct",
    "DropPath",
    "FusedInvertedBottleneck",
    "InvertedBottleneck",
    "ResidualBlock",
    "SqueezeExcite",
    "TuckerConv",
    "get_activation",
    "make_divisible",
    "zero_bn_",
]
