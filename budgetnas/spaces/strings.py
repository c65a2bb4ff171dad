"""A compact, readable text form of a child, in the style of timm's architecture strings.

Blocks are separated by ``" | "``; each block is ``s<stride>_c<filters>[_cc<experts>]:`` followed
by its layers separated by spaces, ``skip`` for a skipped layer; the last part is the head.
Layer tokens reuse timm's option letters (``k`` kernel, ``e`` expansion, ``se0.25``
squeeze-excite, ``n<act>`` activation with ``re`` ReLU, ``r6`` ReLU6, ``hs`` h-swish, ``sw``
swish) and op names (``cn`` conv, ``ir`` inverted residual, ``er`` edge residual = fused IBN),
plus ``tk_i<s>_o<e>`` for a Tucker layer. The head is ``head[_p<pre>][_f<post>][_bn]_n<act>``.

>>> text = "s2_c16: cn_k3_nhs ir_k3_e1_nre | s2_c24: ir_k5_e4_se0.25_nre skip | head_p960_f1280_nhs"
>>> to_string(from_string(text)) == text
True
"""

from __future__ import annotations

import re

from budgetnas.errors import ArchitectureError
from budgetnas.spaces.arch import BlockSpec, ConvArch, HeadSpec, LayerSpec
from budgetnas.spaces.describe import _fmt

__all__ = ["to_string", "from_string"]

_OP_TOKEN = {"conv": "cn", "ir": "ir", "fused": "er", "tucker": "tk"}
_TOKEN_OP = {v: k for k, v in _OP_TOKEN.items()}
_ACT_TOKEN = {"relu": "re", "relu6": "r6", "hswish": "hs", "swish": "sw"}
_TOKEN_ACT = {v: k for k, v in _ACT_TOKEN.items()}
_NUM = r"\d+(?:\.\d+)?"
_BLOCK = re.compile(r"^s(\d+)_c(\d+)(?:_cc(\d+))?$")


def to_string(arch: ConvArch) -> str:
    """The text form of ``arch`` (inverse of :func:`from_string`).

    Raises
    ------
    ArchitectureError
        For an op or activation that has no token.
    """
    parts = []
    for block in arch.blocks:
        header = f"s{block.stride}_c{block.filters}" + (
            f"_cc{block.experts}" if block.experts != 1 else "")
        layers = " ".join("skip" if layer is None else _layer_token(layer) for layer in block.layers)
        parts.append(f"{header}: {layers}" if layers else f"{header}:")
    head = arch.head
    h = "head" + (f"_p{head.pre_filters}" if head.pre_filters else "") + (
        f"_f{head.post_filters}" if head.post_filters else "") + ("_bn" if head.post_bn else "")
    parts.append(f"{h}_n{_act_token(head.act)}")
    return " | ".join(parts)


def _act_token(act: str) -> str:
    if act not in _ACT_TOKEN:
        raise ArchitectureError(f"activation {act!r} has no string token; known: {sorted(_ACT_TOKEN)}")
    return _ACT_TOKEN[act]


def _layer_token(layer: LayerSpec) -> str:
    if layer.op not in _OP_TOKEN:
        raise ArchitectureError(f"op {layer.op!r} has no string token; known: {sorted(_OP_TOKEN)}")
    out = [_OP_TOKEN[layer.op], f"k{layer.kernel}"]
    if layer.op in ("ir", "fused"):
        out.append(f"e{_fmt(layer.expansion)}")
        if layer.se:
            out.append("se0.25")
    elif layer.expansion != 1 or layer.se:
        raise ArchitectureError(f"a {layer.op} layer has no expansion or SE, got {layer!r}")
    if layer.op == "tucker":
        out += [f"i{_fmt(layer.in_ratio)}", f"o{_fmt(layer.out_ratio)}"]
    elif layer.in_ratio or layer.out_ratio:
        raise ArchitectureError(f"only a tucker layer has in/out ratios, got {layer!r}")
    out.append(f"n{_act_token(layer.act)}")
    return "_".join(out)


def from_string(text: str) -> ConvArch:
    """Parse the text form made by :func:`to_string` back into the identical :class:`ConvArch`.

    Raises
    ------
    ArchitectureError
        Naming the part that does not parse and what was expected there.
    """
    if not isinstance(text, str) or "|" not in text:
        raise ArchitectureError(
            f"an architecture string has blocks and a head separated by ' | ', got {text!r}")
    *block_parts, head_part = [p.strip() for p in text.split("|")]
    blocks = tuple(_parse_block(p) for p in block_parts)
    return ConvArch(blocks=blocks, head=_parse_head(head_part))


def _parse_block(part: str) -> BlockSpec:
    header, sep, body = part.partition(":")
    m = _BLOCK.match(header.strip())
    if not sep or m is None:
        raise ArchitectureError(
            f"a block must start with 's<stride>_c<filters>[_cc<experts>]:', got {part!r}")
    layers = tuple(None if tok == "skip" else _parse_layer(tok) for tok in body.split())
    return BlockSpec(filters=int(m[2]), stride=int(m[1]), layers=layers,
                     experts=int(m[3]) if m[3] else 1)


def _parse_layer(token: str) -> LayerSpec:
    fields = token.split("_")
    op = _TOKEN_OP.get(fields[0])
    if op is None:
        raise ArchitectureError(
            f"unknown layer op {fields[0]!r} in {token!r}; expected one of {sorted(_TOKEN_OP)} "
            "or 'skip'")
    kw: dict = {"op": op}
    for f in fields[1:]:
        if f == "se0.25":
            kw["se"] = True
        elif re.fullmatch(r"k\d+", f):
            kw["kernel"] = int(f[1:])
        elif re.fullmatch("e" + _NUM, f):
            kw["expansion"] = float(f[1:])
        elif re.fullmatch("i" + _NUM, f):
            kw["in_ratio"] = float(f[1:])
        elif re.fullmatch("o" + _NUM, f):
            kw["out_ratio"] = float(f[1:])
        elif f[:1] == "n" and f[1:] in _TOKEN_ACT:
            kw["act"] = _TOKEN_ACT[f[1:]]
        else:
            raise ArchitectureError(
                f"cannot parse option {f!r} of layer {token!r}; expected k<int>, e<num>, se0.25, "
                f"i<num>, o<num> or n<act> with act in {sorted(_TOKEN_ACT)}")
    if "kernel" not in kw or "act" not in kw:
        raise ArchitectureError(f"layer {token!r} needs a kernel (k<int>) and an activation (n<act>)")
    return LayerSpec(**kw)


def _parse_head(part: str) -> HeadSpec:
    m = re.fullmatch(r"head(?:_p(\d+))?(?:_f(\d+))?(_bn)?_n(\w+)", part)
    if m is None or m[4] not in _TOKEN_ACT:
        raise ArchitectureError(
            f"the head must read 'head[_p<pre>][_f<post>][_bn]_n<act>', got {part!r}")
    return HeadSpec(pre_filters=int(m[1] or 0), post_filters=int(m[2] or 0),
                    post_bn=bool(m[3]), act=_TOKEN_ACT[m[4]])
