"""Per-layer description of a child: shapes, analytic parameters and MACs, lookup-table signatures.

Cost models price a child from this list without building it: the TuNAS linear latency model
needs each layer's (op, input filters, output filters) (Bender et al. 2020, §3.3), a latency
lookup table needs ProxylessNAS signatures (Cai et al. 2019, §3.3; the Pixel 1 table in
``shared/data/nas/proxylessnas_pixel1_trim.yaml``), and parameter / MAC budgets need the counts.

The counts follow :mod:`budgetnas.cost.counting`'s convention: parameters are every weight, bias
and BN γ/β; MACs are the multiply-accumulates of convolutions and linear layers (biases, BN,
activations, pooling, SE rescaling and skips cost 0); CondConv adds its routing layer and the
mixing of expert kernels (``n · K`` per example). They equal ``count_parameters`` and
``count_macs`` of the module :func:`budgetnas.spaces.build_model` builds (tested).

>>> from budgetnas.spaces.reference import get_reference
>>> sigs = layer_signatures(get_reference("mobilenetv2_100"), 224)
>>> sigs[0], sigs[1]
('Conv-input:224x224x3-output:112x112x32', 'expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0')
"""

from __future__ import annotations

from dataclasses import dataclass

from budgetnas.errors import ArchitectureError
from budgetnas.nn.divisible import make_divisible
from budgetnas.spaces.arch import ConvArch, LayerSpec, validate_arch

__all__ = ["LayerInfo", "describe_layers", "layer_signatures", "count_arch_params",
           "count_arch_macs", "resolve_filters"]


@dataclass(frozen=True)
class LayerInfo:
    """One present layer of a child at a given input size.

    Attributes
    ----------
    kind : str
        ``"conv"``, ``"ir"``, ``"fused"``, ``"tucker"`` (body layers), ``"head_pre"`` (1×1 conv
        before pooling), ``"head_post"`` (1×1 conv after pooling), ``"classifier"``.
    block, index : int
        Position in the child (-1 for head and classifier).
    kernel, stride : int
    expansion : float
        As in the spec (1 for conv / tucker / head).
    in_filters, out_filters : int
        Channels in and out (after ``width_mult``); for the classifier, features and classes.
    mid_filters : int
        Hidden width: expanded width (ir, fused), compressed width c1 (tucker), else out_filters.
    core_filters : int
        Tucker's width after the k×k conv (c2); 0 for the other kinds.
    se_filters : int
        Squeeze width of the SE module, 0 without SE.
    experts : int
        CondConv experts (1 = plain convolutions).
    act : str
    residual : bool
        Identity skip around the layer.
    in_size, out_size : tuple of int
        (H, W) before and after the layer.
    params : int
        Parameters of the layer (weights, biases, BN γ/β).
    macs : int
        Multiply-accumulates for one image.
    """

    kind: str
    block: int
    index: int
    kernel: int
    stride: int
    expansion: float
    in_filters: int
    out_filters: int
    mid_filters: int
    core_filters: int
    se_filters: int
    experts: int
    act: str
    residual: bool
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    params: int
    macs: int

    @property
    def op_key(self) -> str:
        """The layer's op without its filters, e.g. ``"ir_k5_e6_se"``: the one-hot op feature of
        the TuNAS linear latency model, whose other factors are in / out filters."""
        if self.kind in ("ir", "fused"):
            key = f"{self.kind}_k{self.kernel}_e{_fmt(self.expansion)}"
            key += "_se" if self.se_filters else ""
            return key + (f"_cc{self.experts}" if self.experts > 1 else "")
        if self.kind == "tucker":
            return (f"tucker_k{self.kernel}_i{_fmt(self.mid_filters / self.in_filters)}"
                    f"_o{_fmt(self.core_filters / self.out_filters)}")
        if self.kind == "conv":
            return f"conv_k{self.kernel}"
        return self.kind

    def signature(self) -> str:
        """The ProxylessNAS lookup-table signature of the layer.

        Inverted bottlenecks: ``expanded_conv-input:HxWxC-output:HxWxC-expand:E-kernel:K-stride:S
        -idskip:I`` (exactly the Pixel 1 table's format), followed by ``-se:1`` and
        ``-experts:N`` only when present. Stem ``Conv-…``, head ``Conv_1-…`` / ``Conv_2-…``,
        classifier ``Logits-input:HxWxC-output:N``; fused and Tucker layers use
        ``fused_conv`` / ``tucker_conv`` with their own fields.
        """
        i = f"{self.in_size[0]}x{self.in_size[1]}x{self.in_filters}"
        o = f"{self.out_size[0]}x{self.out_size[1]}x{self.out_filters}"
        tail = f"-kernel:{self.kernel}-stride:{self.stride}-idskip:{int(self.residual)}"
        extra = ("-se:1" if self.se_filters else "") + (
            f"-experts:{self.experts}" if self.experts > 1 else "")
        if self.kind == "conv":
            return f"Conv-input:{i}-output:{o}" + ("" if self.block == 0 and self.index == 0
                                                    else f"-kernel:{self.kernel}-stride:{self.stride}")
        if self.kind == "ir":
            return f"expanded_conv-input:{i}-output:{o}-expand:{_fmt(self.expansion)}{tail}{extra}"
        if self.kind == "fused":
            return f"fused_conv-input:{i}-output:{o}-expand:{_fmt(self.expansion)}{tail}{extra}"
        if self.kind == "tucker":
            return (f"tucker_conv-input:{i}-output:{o}-compress:{self.mid_filters}"
                    f"-core:{self.core_filters}{tail}")
        if self.kind == "head_pre":
            return f"Conv_1-input:{i}-output:{o}"
        if self.kind == "head_post":
            return f"Conv_2-input:{i}-output:{o}"
        return f"Logits-input:{i}-output:{self.out_filters}"


def _fmt(x: float) -> str:
    """Shortest exact text of a number: 6.0 -> '6', 2.3 -> '2.3'."""
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def resolve_filters(filters: int, width_mult: float) -> int:
    """Filters after the width multiplier: ``make_divisible(filters * width_mult)`` (8)."""
    return filters if width_mult == 1.0 else make_divisible(filters * width_mult)


def _mid(cin: int, layer: LayerSpec) -> int:
    return cin if layer.expansion == 1 else make_divisible(cin * layer.expansion)


def _out(size: tuple[int, int], stride: int) -> tuple[int, int]:
    return (-(-size[0] // stride), -(-size[1] // stride))  # ceil: "same" padding, odd kernels


def _conv(cin: int, cout: int, k: int, hw: tuple[int, int], groups: int = 1,
          experts: int = 1) -> tuple[int, int]:
    """(params, MACs) of conv + BN; CondConv adds the experts and the kernel mixing."""
    weights = cout * (cin // groups) * k * k
    macs = weights * hw[0] * hw[1] + (experts * weights if experts > 1 else 0)
    return experts * weights + 2 * cout, macs


def _se(mid: int) -> tuple[int, int, int]:
    """(squeeze width, params, MACs) of MobileNetV3 squeeze-excite on ``mid`` channels."""
    sq = make_divisible(mid * 0.25)
    return sq, 2 * mid * sq + sq + mid, 2 * mid * sq


def describe_layers(arch: ConvArch, input_size: int | tuple[int, int] = 224,
                    num_classes: int = 1000, in_channels: int = 3,
                    width_mult: float = 1.0) -> list[LayerInfo]:
    """Every present layer of ``arch`` at ``input_size``, with shapes, parameters and MACs.

    Parameters
    ----------
    arch : ConvArch
    input_size : int or (H, W), default 224
    num_classes : int, default 1000
        0 omits the classifier (a backbone / feature extractor).
    in_channels : int, default 3
    width_mult : float, default 1.0

    Returns
    -------
    list of LayerInfo
        Stem and body layers in order (skipped layers omitted), then the head convs and the
        classifier. ``sum(l.params)`` and ``sum(l.macs)`` are the child's totals.

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed (see :func:`validate_arch`).
    """
    validate_arch(arch, in_channels)
    hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    out: list[LayerInfo] = []
    cin = in_channels
    for b, block in enumerate(arch.blocks):
        cout = resolve_filters(block.filters, width_mult)
        for i, layer in enumerate(block.layers):
            if layer is None:
                continue
            stride = block.stride if i == 0 else 1
            info = _describe_layer(layer, b, i, cin, cout, stride, hw, block.experts)
            out.append(info)
            cin, hw = cout, info.out_size
    head = arch.head
    if head.pre_filters:
        c = resolve_filters(head.pre_filters, width_mult)
        p, m = _conv(cin, c, 1, hw)
        out.append(_info("head_pre", cin, c, hw, hw, p, m, act=head.act))
        cin = c
    if head.post_filters:
        c = resolve_filters(head.post_filters, width_mult)
        p = cin * c + (2 * c if head.post_bn else c)
        out.append(_info("head_post", cin, c, (1, 1), (1, 1), p, cin * c, act=head.act))
        cin = c
    if num_classes:
        out.append(_info("classifier", cin, num_classes, hw if not head.post_filters else (1, 1),
                         (1, 1), cin * num_classes + num_classes, cin * num_classes))
    return out


def _info(kind: str, cin: int, cout: int, hw_in: tuple[int, int], hw_out: tuple[int, int],
          params: int, macs: int, act: str = "identity") -> LayerInfo:
    return LayerInfo(kind=kind, block=-1, index=-1, kernel=1, stride=1, expansion=1.0,
                     in_filters=cin, out_filters=cout, mid_filters=cout, core_filters=0,
                     se_filters=0, experts=1, act=act, residual=False, in_size=hw_in,
                     out_size=hw_out, params=params, macs=macs)


def _describe_layer(layer: LayerSpec, b: int, i: int, cin: int, cout: int, stride: int,
                    hw: tuple[int, int], experts: int) -> LayerInfo:
    k, hw_out = layer.kernel, _out(hw, stride)
    residual = i > 0 and stride == 1 and cin == cout
    mid, core, sq, params, macs = cout, 0, 0, 0, 0
    n = experts if layer.op == "ir" else 1
    if layer.op == "conv":
        params, macs = _conv(cin, cout, k, hw_out)
        residual = False
    elif layer.op == "ir":
        mid = _mid(cin, layer)
        parts = [_conv(mid, mid, k, hw_out, groups=mid, experts=n),
                 _conv(mid, cout, 1, hw_out, experts=n)]
        if mid != cin or layer.expansion != 1:
            parts.append(_conv(cin, mid, 1, hw, experts=n))
        if n > 1:  # routing: GAP -> Linear(cin, n)
            parts.append((cin * n + n, cin * n))
        params, macs = sum(p for p, _ in parts), sum(m for _, m in parts)
    elif layer.op == "fused":
        mid = _mid(cin, layer)
        (p1, m1), (p2, m2) = _conv(cin, mid, k, hw_out), _conv(mid, cout, 1, hw_out)
        params, macs = p1 + p2, m1 + m2
    elif layer.op == "tucker":
        mid = make_divisible(layer.in_ratio * cin)
        core = make_divisible(layer.out_ratio * cout)
        parts = [_conv(cin, mid, 1, hw), _conv(mid, core, k, hw_out), _conv(core, cout, 1, hw_out)]
        params, macs = sum(p for p, _ in parts), sum(m for _, m in parts)
    else:  # validate_arch rejects unknown ops first
        raise ArchitectureError(f"unknown op {layer.op!r}")
    if layer.se and layer.op in ("ir", "fused"):
        sq, p, m = _se(mid)
        params, macs = params + p, macs + m
    return LayerInfo(kind=layer.op, block=b, index=i, kernel=k, stride=stride,
                     expansion=float(layer.expansion), in_filters=cin, out_filters=cout,
                     mid_filters=mid, core_filters=core, se_filters=sq, experts=n, act=layer.act,
                     residual=residual, in_size=hw, out_size=hw_out, params=params, macs=macs)


def count_arch_params(arch: ConvArch, num_classes: int = 1000, in_channels: int = 3,
                      width_mult: float = 1.0) -> int:
    """Analytic parameter count of the child (equals the built module's; independent of size).

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed.
    """
    return sum(info.params for info in describe_layers(arch, 32, num_classes, in_channels,
                                                       width_mult))


def count_arch_macs(arch: ConvArch, input_size: int | tuple[int, int] = 224,
                    num_classes: int = 1000, in_channels: int = 3,
                    width_mult: float = 1.0) -> int:
    """Analytic multiply-accumulates for one image at ``input_size`` (``count_macs``' convention).

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed.
    """
    return sum(info.macs for info in describe_layers(arch, input_size, num_classes, in_channels,
                                                     width_mult))


def layer_signatures(arch: ConvArch, input_size: int | tuple[int, int] = 224,
                     num_classes: int = 1000, in_channels: int = 3,
                     width_mult: float = 1.0) -> list[str]:
    """ProxylessNAS-style lookup-table signatures of every present layer, in order.

    E.g. ``expanded_conv-input:56x56x24-output:28x28x40-expand:6-kernel:5-stride:2-idskip:0``
    (see :meth:`LayerInfo.signature`). A network's table latency is the sum of its layers'
    entries (ProxylessNAS, Cai et al. 2019, §3.3).

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed.
    """
    return [info.signature() for info in describe_layers(arch, input_size, num_classes,
                                                         in_channels, width_mult)]
