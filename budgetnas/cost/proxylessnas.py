"""Layer signatures of the ProxylessNAS mobile backbone, to price children with its Pixel 1 table.

The backbone (Cai et al., ICLR 2019, §4; the search space TuNAS reuses, Bender et al. 2020, §4.1):
a 3x3 stride-2 stem to 112x112x32, a fixed inverted bottleneck (expansion 1, kernel 3) to 16
filters, then six stages of searchable inverted bottlenecks (filters, layers, first stride)
= (24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1), a 1x1 conv to 1280
filters and the 1000-way classifier, at 224x224.

DNA vector layout used here (:func:`proxylessnas_num_choices`): one decision per searchable layer
(21), choice ``c`` = :data:`OPS` ``[c]`` (kernel, expansion); the non-first layers of a stage have a
7th choice, 6 = skip (the layer is the identity and costs nothing). Signatures follow the table's
own format, e.g. ``expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0``.

"MobileNetV2-like" here means this backbone with every layer (kernel 3, expansion 6): the table
has no entries for MobileNetV2's own filter counts (32, 64, 160 filters), so it cannot price it.

Example
-------
>>> sigs = proxylessnas_signatures([(3, 6)] * 21)
>>> sigs[0], len(sigs)
('Conv-input:224x224x3-output:112x112x32', 25)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from budgetnas.cost.table import LatencyTable, LayerSignature, TableLatency
from budgetnas.errors import CostError

OPS: tuple[tuple[int, int], ...] = ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))
"""Searchable ops as (kernel, expansion), in choice order."""
SKIP = len(OPS)
STAGES: tuple[tuple[int, int, int], ...] = (
    (24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
"""(filters, layers, stride of the first layer) of the six searchable stages."""
STEM_FILTERS, FIRST_BLOCK_FILTERS, HEAD_FILTERS, NUM_CLASSES = 32, 16, 1280, 1000


def _layer_shapes(resolution: int = 224) -> list[tuple[int, int, int, int, int]]:
    """(in_res, in_filters, out_res, out_filters, stride) for each of the 21 searchable layers."""
    res, cin = resolution // 2, FIRST_BLOCK_FILTERS
    out = []
    for filters, n, stride in STAGES:
        for i in range(n):
            s = stride if i == 0 else 1
            out.append((res, cin, res // s, filters, s))
            res, cin = res // s, filters
    return out


LAYER_SHAPES = tuple(_layer_shapes())
NUM_LAYERS = len(LAYER_SHAPES)  # 21
FIRST_OF_STAGE = tuple(np.cumsum([0] + [n for _, n, _ in STAGES[:-1]]).tolist())


def proxylessnas_num_choices() -> np.ndarray:
    """Choices per decision (21,): 6 for a stage's first layer, 7 (with skip) for the others."""
    return np.array([len(OPS) if j in FIRST_OF_STAGE else len(OPS) + 1
                     for j in range(NUM_LAYERS)], dtype=np.int64)


def _mbconv_signature(in_res: int, cin: int, out_res: int, cout: int, expand: int, kernel: int,
                      stride: int) -> str:
    idskip = int(stride == 1 and cin == cout)
    return (f"expanded_conv-input:{in_res}x{in_res}x{cin}-output:{out_res}x{out_res}x{cout}"
            f"-expand:{expand}-kernel:{kernel}-stride:{stride}-idskip:{idskip}")


def stem_signatures(resolution: int = 224) -> list[str]:
    """The fixed layers before the searchable ones: stem conv and first bottleneck."""
    r = resolution // 2
    return [f"Conv-input:{resolution}x{resolution}x3-output:{r}x{r}x{STEM_FILTERS}",
            _mbconv_signature(r, STEM_FILTERS, r, FIRST_BLOCK_FILTERS, 1, 3, 1)]


def head_signatures(resolution: int = 224) -> list[str]:
    """The fixed layers after the searchable ones: 1x1 conv to 1280 filters and the classifier."""
    r = resolution // 32
    cin = STAGES[-1][0]
    return [f"Conv_1-input:{r}x{r}x{cin}-output:{r}x{r}x{HEAD_FILTERS}",
            f"Logits-input:{r}x{r}x{HEAD_FILTERS}-output:{NUM_CLASSES}"]


def layer_signature(j: int, op: tuple[int, int] | None) -> str | None:
    """Signature of searchable layer j (0..20) with op (kernel, expansion), or None when skipped.

    Raises
    ------
    CostError
        When a stage's first layer is skipped (it changes the shape, so it cannot be).
    """
    if op is None:
        if j in FIRST_OF_STAGE:
            raise CostError(f"layer {j} is the first of its stage and cannot be skipped")
        return None
    kernel, expand = op
    in_res, cin, out_res, cout, stride = LAYER_SHAPES[j]
    return _mbconv_signature(in_res, cin, out_res, cout, expand, kernel, stride)


def proxylessnas_signatures(ops: Sequence[tuple[int, int] | None]) -> list[str]:
    """All signatures of a child given its 21 ops ((kernel, expansion) or None = skip).

    Raises
    ------
    CostError
        When ``ops`` does not have 21 entries.
    """
    if len(ops) != NUM_LAYERS:
        raise CostError(f"the ProxylessNAS backbone has {NUM_LAYERS} searchable layers, "
                        f"got {len(ops)} ops")
    body = [layer_signature(j, op) for j, op in enumerate(ops)]
    return stem_signatures() + [s for s in body if s is not None] + head_signatures()


def proxylessnas_layers() -> list[LayerSignature]:
    """LayerSignatures for the vector layout of this module (fixed stem/head + 21 decisions)."""

    def searchable(j: int) -> LayerSignature:
        def sig(values: tuple[int, ...]) -> str | None:
            (c,) = values
            if c < 0 or c == SKIP:
                return None
            return layer_signature(j, OPS[c])
        return LayerSignature((j,), sig)

    fixed = [LayerSignature((), lambda _v, s=s: s) for s in stem_signatures() + head_signatures()]
    return fixed + [searchable(j) for j in range(NUM_LAYERS)]


def proxylessnas_table_latency(table: LatencyTable, space: Any = None) -> TableLatency:
    """A :class:`TableLatency` over the vector layout of this module (ms on the table's device)."""
    return TableLatency(table, proxylessnas_layers(), space=space,
                        num_choices=proxylessnas_num_choices(), name="latency")


def mobilenet_v2_like_vector() -> np.ndarray:
    """The DNA vector (21,) with every layer (kernel 3, expansion 6): the MobileNetV2-like child."""
    return np.full(NUM_LAYERS, OPS.index((3, 6)), dtype=np.int64)


_SIG = re.compile(r"^(?P<kind>[A-Za-z_0-9]+)-input:(?P<in>[0-9x]+)-output:(?P<out>[0-9x]+)"
                  r"(?:-expand:(?P<e>\d+)-kernel:(?P<k>\d+)-stride:(?P<s>\d+)-idskip:(?P<id>\d))?$")


def parse_signature(signature: str) -> dict[str, Any]:
    """Split a ProxylessNAS signature into kind, input and output shapes (H, W, C), and op fields.

    Raises
    ------
    CostError
        When the string is not a ProxylessNAS signature.
    """
    m = _SIG.match(signature)
    if m is None:
        raise CostError(f"not a ProxylessNAS layer signature: {signature!r}; expected e.g. "
                        "'expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2"
                        "-idskip:0'")
    out: dict[str, Any] = {"kind": m["kind"],
                           "input": tuple(int(v) for v in m["in"].split("x")),
                           "output": tuple(int(v) for v in m["out"].split("x"))}
    if m["e"] is not None:
        out.update(expand=int(m["e"]), kernel=int(m["k"]), stride=int(m["s"]),
                   idskip=bool(int(m["id"])))
    return out


def _conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> Any:
    from torch import nn

    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]


class _InvertedBottleneck:
    """Factory of the MobileNetV2 inverted bottleneck measured for a table entry."""

    @staticmethod
    def build(cin: int, cout: int, expand: int, kernel: int, stride: int, residual: bool) -> Any:
        from torch import nn

        hidden = cin * expand
        layers = [] if expand == 1 else _conv_bn_relu6(cin, hidden, 1)
        layers += _conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        body = nn.Sequential(*layers)

        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = body

            def forward(self, x):  # noqa: ANN001, ANN202
                y = self.body(x)
                return x + y if residual else y

        return Block()


def proxylessnas_module(signature: str) -> tuple[Any, tuple[int, int, int]]:
    """Build the PyTorch module of a ProxylessNAS signature and its input size (C, H, W).

    Used by ``budgetnas latency build-table proxylessnas`` to measure the same operators on this
    machine (stem: conv-BN-ReLU6; expanded_conv: inverted bottleneck; Conv_1: 1x1 conv-BN-ReLU6;
    Logits: global average pool + linear).
    """
    from torch import nn

    p = parse_signature(signature)
    h, w, cin = p["input"]
    kind = p["kind"]
    if kind == "Conv":
        module = nn.Sequential(*_conv_bn_relu6(cin, p["output"][2], 3, 2))
    elif kind == "Conv_1":
        module = nn.Sequential(*_conv_bn_relu6(cin, p["output"][2], 1))
    elif kind == "Logits":
        module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                               nn.Linear(cin, p["output"][0]))
    elif kind == "expanded_conv":
        module = _InvertedBottleneck.build(cin, p["output"][2], p["expand"], p["kernel"],
                                           p["stride"], p["idskip"])
    else:
        raise CostError(f"unknown ProxylessNAS layer kind {kind!r} in {signature!r}")
    return module, (cin, h, w)


def proxylessnas_table_spec() -> tuple[Any, list[LayerSignature], Any]:
    """(num_choices, layers, module factory): the provider ``budgetnas latency build-table`` uses
    for the built-in name ``proxylessnas``."""
    return proxylessnas_num_choices(), proxylessnas_layers(), proxylessnas_module


def proxylessnas_feature_layers() -> list[Any]:
    """LayerFeatureSpecs of the 21 searchable layers for :class:`LinearLatencyModel` (TuNAS §3.3):
    op ``k{kernel}e{expansion}``, fixed input/output filters per layer, None when skipped. The
    fixed stem and head fall into the model's intercept."""
    from budgetnas.cost.linear import LayerFeatureSpec

    def spec(j: int) -> Any:
        _, cin, _, cout, _ = LAYER_SHAPES[j]

        def describe(values: tuple[int, ...]) -> tuple[str, int, int] | None:
            (c,) = values
            if c < 0 or c == SKIP:
                return None
            kernel, expand = OPS[c]
            return f"k{kernel}e{expand}", cin, cout
        return LayerFeatureSpec((j,), describe)

    return [spec(j) for j in range(NUM_LAYERS)]
