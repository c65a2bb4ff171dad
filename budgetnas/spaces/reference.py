"""Published architectures, each a child of one of the registered spaces.

=========================  ===========================================  ==========================
name                       space (keyword arguments)                    source of the block list
=========================  ===========================================  ==========================
``mobilenetv2_100``        proxylessnas (MobileNetV2 filters)           Sandler et al. 2018, Tab. 2
``proxylessnas_mobile``    proxylessnas (ProxylessNAS-Mobile filters)   tunas mobile_model_archive
``mobilenetv3_large_100``  mobilenetv3_like (MNV3-Large filters, 2.3,   Howard et al. 2019, Tab. 1
                           2.5 expansions)
``mobilenet_multi_avg``    multihw                                      TF model garden
``mobilenet_multi_max``    multihw                                      TF model garden
``mobiledet_cpu``          mobiledet_ibn (no classifier: a backbone)    TF object detection API
``mobiledet_dsp``          mobiledet                                    TF object detection API
``mobiledet_edgetpu``      mobiledet                                    TF object detection API
=========================  ===========================================  ==========================

The first three are written as TuNAS writes them (google-research/tunas
``mobile_search_space_v3``); the multi-hardware models follow ``MNMultiAVG_BLOCK_SPECS`` /
``MNMultiMAX_BLOCK_SPECS`` (tensorflow/models ``official/vision/modeling/backbones/
mobilenet.py``), the MobileDets ``mobiledet_*_backbone`` (tensorflow/models
``research/object_detection/models/ssd_mobiledet_feature_extractor.py``).

>>> arch = get_reference("mobilenetv2_100")
>>> list(reference_space("mobilenetv2_100").encode(arch)[:4])
[1, 1, 6, 6]
"""

from __future__ import annotations

from collections.abc import Callable

from budgetnas.errors import ArchitectureError
from budgetnas.spaces.arch import BlockSpec, ConvArch, HeadSpec, LayerSpec
from budgetnas.spaces.conv_space import ConvSpace
from budgetnas.spaces.mobilenetv3 import MOBILENET_V3_LARGE_EXPANSIONS, MOBILENET_V3_LARGE_FILTERS
from budgetnas.spaces.proxylessnas import MOBILENET_V2_FILTERS, PROXYLESSNAS_MOBILE_FILTERS
from budgetnas.spaces.registry import get_space

__all__ = ["get_reference", "list_references", "reference_space", "reference_num_classes"]


def _ir(k: int, e: float, act: str, se: bool = False) -> LayerSpec:
    return LayerSpec("ir", k, float(e), se, act)


def _fused(k: int, e: float, act: str) -> LayerSpec:
    return LayerSpec("fused", k, float(e), False, act)


def _tucker(k: int, s: float, e: float, act: str) -> LayerSpec:
    return LayerSpec("tucker", k, act=act, in_ratio=s, out_ratio=e)


def _pad(layers: list, depth: int) -> tuple:
    """The layers of a block, then skipped positions up to ``depth``."""
    return tuple(layers) + (None,) * (depth - len(layers))


def _proxyless(filters: tuple, stages: list[list[tuple[int, int]]]) -> ConvArch:
    act = "relu6"
    blocks = [BlockSpec(filters[0], 2, (LayerSpec("conv", 3, act=act),)),
              BlockSpec(filters[1], 1, (_ir(3, 1, act),))]
    for b, (stride, depth) in enumerate(zip((2, 2, 2, 1, 2, 1), (4, 4, 4, 4, 4, 1))):
        blocks.append(BlockSpec(filters[2 + b], stride,
                                _pad([_ir(k, e, act) for k, e in stages[b]], depth)))
    return ConvArch(tuple(blocks), HeadSpec(pre_filters=filters[8], act=act))


def mobilenetv2_100() -> ConvArch:
    """MobileNetV2 1.0: every layer kernel 3, expansion 6; 2, 3, 4, 3, 3, 1 layers."""
    k3e6 = (3, 6)
    return _proxyless(MOBILENET_V2_FILTERS, [[k3e6] * n for n in (2, 3, 4, 3, 3, 1)])


def proxylessnas_mobile() -> ConvArch:
    """ProxylessNAS-Mobile (tunas ``PROXYLESSNAS_MOBILE_OPERATIONS``)."""
    return _proxyless(PROXYLESSNAS_MOBILE_FILTERS, [
        [(5, 3), (3, 3)],
        [(7, 3), (3, 3), (5, 3), (5, 3)],
        [(7, 6), (5, 3), (5, 3), (5, 3)],
        [(5, 6), (5, 3), (5, 3), (5, 3)],
        [(7, 6), (7, 6), (7, 3), (7, 3)],
        [(7, 6)],
    ])


def _mnv3_like(stem: tuple[int, int, bool], body: list[tuple[int, int, list[LayerSpec]]],
               head: HeadSpec, stem_act: str) -> ConvArch:
    """stem = (filters, kernel, with separable layer); body = (filters, stride, layers)."""
    f, k, sep = stem
    blocks = [BlockSpec(f, 2, (LayerSpec("conv", k, act=stem_act),
                               _ir(3, 1, "relu") if sep else None))]
    blocks += [BlockSpec(f, s, _pad(layers, 4)) for f, s, layers in body]
    return ConvArch(tuple(blocks), head)


def mobilenetv3_large_100() -> ConvArch:
    """MobileNetV3-Large 1.0 (Howard et al. 2019, Table 1)."""
    re, hs = "relu", "hswish"
    return _mnv3_like((16, 3, True), [
        (24, 2, [_ir(3, 4, re), _ir(3, 3, re)]),
        (40, 2, [_ir(5, 3, re, True)] * 3),
        (80, 2, [_ir(3, 6, hs), _ir(3, 2.5, hs), _ir(3, 2.3, hs), _ir(3, 2.3, hs)]),
        (112, 1, [_ir(3, 6, hs, True)] * 2),
        (160, 2, [_ir(5, 6, hs, True)] * 3),
    ], HeadSpec(960, 1280, False, hs), hs)


def mobilenet_multi_avg() -> ConvArch:
    """MobileNet-MultiHW-AVG (Chu et al. 2020)."""
    re = "relu"
    return _mnv3_like((32, 3, False), [
        (32, 2, [_ir(3, 3, re), _ir(3, 2, re)]),
        (64, 2, [_ir(5, 5, re), _ir(3, 3, re), _ir(3, 2, re), _ir(3, 3, re)]),
        (128, 2, [_ir(5, 6, re), _ir(3, 3, re), _ir(3, 3, re), _ir(3, 3, re)]),
        (160, 1, [_ir(3, 6, re), _ir(3, 4, re)]),
        (192, 2, [_ir(3, 6, re), _ir(5, 4, re), _ir(5, 4, re), _ir(5, 4, re)]),
    ], HeadSpec(960, 1280, True, re), re)


def mobilenet_multi_max() -> ConvArch:
    """MobileNet-MultiHW-MAX (Chu et al. 2020)."""
    re = "relu"
    return _mnv3_like((32, 3, False), [
        (32, 2, [_ir(3, 3, re)]),
        (64, 2, [_ir(5, 6, re), _ir(3, 2, re), _ir(3, 2, re)]),
        (128, 2, [_ir(5, 6, re), _ir(3, 4, re), _ir(3, 3, re), _ir(3, 3, re)]),
        (128, 1, [_ir(3, 6, re), _ir(3, 3, re)]),
        (160, 2, [_ir(3, 6, re), _ir(5, 4, re), _ir(3, 5, re), _ir(5, 4, re)]),
    ], HeadSpec(960, 1280, True, re), re)


def _mobiledet(stem: int, first: tuple[int, LayerSpec], body: list[tuple[int, list]],
               act: str) -> ConvArch:
    blocks = [BlockSpec(stem, 2, (LayerSpec("conv", 3, act=act),)),
              BlockSpec(first[0], 1, (first[1],))]
    for (f, layers), stride, depth in zip(body, (2, 2, 2, 1, 2, 1), (4, 4, 4, 4, 4, 1)):
        blocks.append(BlockSpec(f, stride, _pad(layers, depth)))
    return ConvArch(tuple(blocks), HeadSpec(act=act))


def mobiledet_cpu() -> ConvArch:
    """MobileDet-CPU backbone (IBN-only: SE and h-swish everywhere)."""
    hs = "hswish"

    def ibn(k: int, e: int) -> LayerSpec:
        return _ir(k, e, hs, True)

    return _mobiledet(16, (8, ibn(3, 1)), [
        (16, [ibn(3, 4)]),
        (32, [ibn(3, 8), ibn(3, 4), ibn(3, 4), ibn(3, 4)]),
        (72, [ibn(5, 8), ibn(3, 8), ibn(5, 4), ibn(3, 4)]),
        (72, [ibn(3, 8)] * 4),
        (104, [ibn(5, 8), ibn(5, 4), ibn(5, 4), ibn(3, 4)]),
        (144, [ibn(3, 8)]),
    ], hs)


def mobiledet_dsp() -> ConvArch:
    """MobileDet-DSP backbone (IBN + Fused + Tucker, ReLU6)."""
    r6 = "relu6"
    ibn, fu = (lambda e, k=3: _ir(k, e, r6)), (lambda e, k=3: _fused(k, e, r6))
    return _mobiledet(32, (24, ibn(1)), [
        (32, [fu(4), fu(4), ibn(4), _tucker(3, 0.25, 0.75, r6)]),
        (64, [fu(8), ibn(4), fu(4), fu(4)]),
        (120, [fu(8), ibn(4), ibn(8), ibn(8)]),
        (144, [fu(8), ibn(8), ibn(8), ibn(8)]),
        (160, [ibn(4), ibn(4), fu(4), _tucker(3, 0.75, 0.75, r6)]),
        (240, [ibn(8)]),
    ], r6)


def mobiledet_edgetpu() -> ConvArch:
    """MobileDet-EdgeTPU backbone (IBN + Fused + Tucker, ReLU6)."""
    r6 = "relu6"
    ibn, fu = (lambda e, k=3: _ir(k, e, r6)), (lambda e, k=3: _fused(k, e, r6))
    return _mobiledet(32, (16, _tucker(3, 0.25, 0.75, r6)), [
        (16, [fu(8), fu(4), fu(8), fu(4)]),
        (40, [fu(8, 5), fu(4), fu(4), fu(4)]),
        (72, [ibn(8), ibn(8), fu(4), fu(4)]),
        (96, [ibn(8, 5), ibn(8, 5), ibn(8), ibn(8)]),
        (120, [ibn(8, 5), ibn(8), ibn(4, 5), ibn(8)]),
        (384, [ibn(8, 5)]),
    ], r6)


# name -> (factory, space name, space kwargs, classes of the published network; 0 = backbone)
_REFERENCES: dict[str, tuple[Callable[[], ConvArch], str, dict, int]] = {
    "mobilenetv2_100": (mobilenetv2_100, "proxylessnas", {"filters": MOBILENET_V2_FILTERS}, 1000),
    "proxylessnas_mobile": (proxylessnas_mobile, "proxylessnas",
                            {"filters": PROXYLESSNAS_MOBILE_FILTERS}, 1000),
    "mobilenetv3_large_100": (mobilenetv3_large_100, "mobilenetv3_like",
                              {"base_filters": MOBILENET_V3_LARGE_FILTERS,
                               "expansions": MOBILENET_V3_LARGE_EXPANSIONS}, 1000),
    "mobilenet_multi_avg": (mobilenet_multi_avg, "multihw", {}, 1000),
    "mobilenet_multi_max": (mobilenet_multi_max, "multihw", {}, 1000),
    "mobiledet_cpu": (mobiledet_cpu, "mobiledet_ibn", {}, 0),
    "mobiledet_dsp": (mobiledet_dsp, "mobiledet", {}, 0),
    "mobiledet_edgetpu": (mobiledet_edgetpu, "mobiledet", {}, 0),
}


def list_references() -> list[str]:
    """Names of the reference architectures (timm-style snake case)."""
    return sorted(_REFERENCES)


def _entry(name: str) -> tuple:
    if name not in _REFERENCES:
        raise ArchitectureError(f"no reference architecture named {name!r}; known: "
                                f"{list_references()}")
    return _REFERENCES[name]


def get_reference(name: str) -> ConvArch:
    """The :class:`ConvArch` of a published network.

    Raises
    ------
    ArchitectureError
        If ``name`` is unknown.
    """
    return _entry(name)[0]()


def reference_space(name: str) -> ConvSpace:
    """The registered space (with the keyword arguments of the table above) that contains it."""
    _, space, kwargs, _ = _entry(name)
    return get_space(space, **kwargs)


def reference_num_classes(name: str) -> int:
    """1000 for the ImageNet classifiers, 0 for the MobileDet backbones (no classifier)."""
    return _entry(name)[3]
