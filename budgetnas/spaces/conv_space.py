"""``ConvSpace``: a :class:`~budgetnas.space.Space` whose children are :class:`ConvArch`.

It adds what image search needs on top of the generic space: building a child's network,
describing its layers for cost models, its parameter count without building it, the smallest
and largest children, and the text form of a child.

>>> from budgetnas.spaces import get_space
>>> space = get_space("proxylessnas")
>>> model = space.build(space.largest(), num_classes=10, width_mult=0.25)
>>> space.params(space.smallest()) < space.params(space.largest())
True
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from budgetnas.errors import ArchitectureError
from budgetnas.space import DNA, Space
from budgetnas.spaces.arch import ConvArch, LayerSpec
from budgetnas.spaces.build import ConvNet, build_model
from budgetnas.spaces.describe import (
    LayerInfo,
    count_arch_macs,
    count_arch_params,
    describe_layers,
    layer_signatures,
)
from budgetnas.spaces.strings import from_string, to_string

__all__ = ["ConvSpace", "LayerFeature"]


@dataclass(frozen=True)
class LayerFeature:
    """How one layer's (op, in filters, out filters) follow from a few decisions.

    The same attributes as :class:`budgetnas.cost.linear.LayerFeatureSpec`, so a list of these
    can be handed to ``LinearLatencyModel(layers, space=space)`` (TuNAS's linear latency model,
    Bender et al. 2020, §3.3). ``describe(values)`` takes the values of ``deps`` (choice indices,
    -1 inactive) and returns ``(op_key, in_filters, out_filters)`` or ``None`` when the layer is
    skipped; filters are at ``width_mult`` 1.
    """

    deps: tuple[int, ...]
    describe: Callable[[tuple[int, ...]], tuple[Hashable, int, int] | None]
    group: Hashable | None = None


class ConvSpace(Space):
    """A search space of convolutional networks; ``materialize(dna)`` gives a :class:`ConvArch`.

    Parameters
    ----------
    template : ConvArch
        A ConvArch whose fields hold hyper primitives (``oneof``) where the space may vary.
    name : str
        The registry name (shown in ``repr``).

    Raises
    ------
    SpaceError
        As :class:`~budgetnas.space.Space` (no decision point, duplicate names).
    """

    def __init__(self, template: ConvArch, name: str = "conv") -> None:
        super().__init__(template)
        self.name = name
        self._extremes: dict[str, DNA] = {}

    def __repr__(self) -> str:
        return f"ConvSpace({self.name!r}, decisions={self.num_decisions}, size={self.size:.3g})"

    # ------------------------------------------------------------------ children
    def arch(self, child: Sequence[Any] | ConvArch | str) -> ConvArch:
        """The :class:`ConvArch` of a DNA, an arch, or its text form (checked to be a child).

        Raises
        ------
        InvalidDNAError
            If the DNA or architecture is not a child of this space.
        ArchitectureError
            If a string does not parse.
        """
        if isinstance(child, str):
            child = from_string(child)
        if isinstance(child, ConvArch):
            self.encode(child)  # raises InvalidDNAError if it is not a child
            return child
        return self.materialize(child)

    def build(self, child: Sequence[Any] | ConvArch | str, num_classes: int = 1000,
              in_channels: int = 3, width_mult: float = 1.0, **kwargs: Any) -> ConvNet:
        """Build a child's network (see :func:`~budgetnas.spaces.build_model` for arguments)."""
        return build_model(self.arch(child), num_classes, in_channels, width_mult, **kwargs)

    def describe(self, child: Sequence[Any] | ConvArch | str, input_size: int = 224,
                 num_classes: int = 1000, in_channels: int = 3,
                 width_mult: float = 1.0) -> list[LayerInfo]:
        """Per-layer description of a child (see :func:`~budgetnas.spaces.describe_layers`)."""
        return describe_layers(self.arch(child), input_size, num_classes, in_channels, width_mult)

    def signatures(self, child: Sequence[Any] | ConvArch | str, input_size: int = 224,
                   num_classes: int = 1000) -> list[str]:
        """ProxylessNAS lookup-table signatures of a child's layers."""
        return layer_signatures(self.arch(child), input_size, num_classes)

    def params(self, child: Sequence[Any] | ConvArch | str, num_classes: int = 1000,
               in_channels: int = 3, width_mult: float = 1.0) -> int:
        """Analytic parameter count of a child (equals the built module's)."""
        return count_arch_params(self.arch(child), num_classes, in_channels, width_mult)

    def macs(self, child: Sequence[Any] | ConvArch | str, input_size: int = 224,
             num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0) -> int:
        """Analytic MACs of a child for one image (``count_macs``' convention)."""
        return count_arch_macs(self.arch(child), input_size, num_classes, in_channels, width_mult)

    def to_string(self, child: Sequence[Any] | ConvArch) -> str:
        """The text form of a child (see :mod:`budgetnas.spaces.strings`)."""
        return to_string(self.arch(child))

    def from_string(self, text: str) -> DNA:
        """The DNA of a child given in text form.

        Raises
        ------
        ArchitectureError
            If the text does not parse.
        InvalidDNAError
            If it parses to an architecture outside this space.
        """
        return self.encode(from_string(text))

    # ------------------------------------------------------------------ extremes
    def smallest(self) -> DNA:
        """The child with the fewest parameters (then MACs), chosen decision by decision.

        Greedy: each decision, in depth-first order, takes the candidate that minimises the
        child's (parameters, MACs at 32×32) with the later decisions at their first candidate.
        In the built-in spaces a decision's effect on the cost does not depend on the later
        decisions' values in a way that reverses this order, so the result is the minimum there;
        for other templates it is a small child, not necessarily the smallest.
        """
        return self._extreme("min")

    def largest(self) -> DNA:
        """The child with the most parameters (then MACs), chosen decision by decision."""
        return self._extreme("max")

    def _extreme(self, which: str) -> DNA:
        if which in self._extremes:
            return self._extremes[which]
        spec = self.spec
        sign = 1 if which == "min" else -1
        vec = np.zeros(spec.num_decisions, dtype=np.int64)

        def score(v: np.ndarray) -> tuple[int, int]:
            arch = self.materialize(spec.from_vector(v), validate=False)
            infos = describe_layers(arch, 32)
            return (sign * sum(i.params for i in infos), sign * sum(i.macs for i in infos))

        for d in range(spec.num_decisions):
            if not spec.active_mask(vec[None])[0, d]:
                continue
            best = min(range(int(spec.num_choices[d])),
                       key=lambda c: score(np.where(np.arange(len(vec)) == d, c, vec)))
            vec[d] = best
        self._extremes[which] = dna = spec.from_vector(vec)
        return dna

    # ------------------------------------------------------------------ cost-model features
    def layer_features(self) -> list[LayerFeature]:
        """One :class:`LayerFeature` per layer position that some child has.

        Layer (b, i) depends on the decisions inside its own template, its block's filters and
        experts, and (first layers) the previous block's filters. Describing a combination
        materialises only the layer's own sub-template (cached), so tabulating every
        combination, as :class:`budgetnas.cost.linear.LinearLatencyModel` does, stays cheap.
        """
        template: ConvArch = self.value
        names = {d.path: d.index for d in self.decision_points}
        feats = []
        for b, block in enumerate(template.blocks):
            for i, layer in enumerate(block.layers):
                if layer is None:
                    continue
                feats.append(self._layer_feature(b, i, layer, names))
        last = self._field_source(len(template.blocks) - 1, "filters", names)
        pre = self._source("head.pre_filters", template.head.pre_filters, names)
        post = self._source("head.post_filters", template.head.post_filters, names)
        if pre != 0:
            feats.append(_head_feature("head_pre", last, pre))
        if post != 0:
            feats.append(_head_feature("head_post", pre if pre != 0 else last, post))
        return feats

    def _source(self, path: str, constant: Any, names: dict[str, int]) -> Any:
        if path in names:
            d = names[path]
            return (d, self.decision_points[d].candidates)
        return constant

    def _layer_feature(self, b: int, i: int, layer_template: Any,
                       names: dict[str, int]) -> LayerFeature:
        prefix = f"blocks[{b}].layers[{i}]"
        own = [d.index for d in self.decision_points
               if d.path == prefix or d.path.startswith((prefix + "#", prefix + "."))]
        cout_src = self._field_source(b, "filters", names)
        cin_src = self._field_source(b - 1, "filters", names) if i == 0 else cout_src
        exp_src = self._field_source(b, "experts", names)
        extra = [s for s in (cout_src, cin_src, exp_src) if isinstance(s, tuple)]
        deps = tuple(dict.fromkeys(own + [s[0] for s in extra]))
        sub = Space(layer_template) if own else None
        cache: dict[tuple[int, ...], Any] = {}
        in_channels = 3

        def describe(values: tuple[int, ...]) -> tuple[Hashable, int, int] | None:
            vals = dict(zip(deps, values))
            key = tuple(vals[d] for d in own)
            if key not in cache:
                if sub is None:
                    cache[key] = layer_template
                else:
                    vec = np.array([max(v, 0) for v in key], dtype=np.int64)
                    cache[key] = sub.materialize(sub.spec.from_vector(vec), validate=False)
            layer = cache[key]
            if layer is None:
                return None
            cin = in_channels if cin_src is None else _value(cin_src, vals)
            return _op_key(layer, _value(exp_src, vals)), cin, _value(cout_src, vals)

        return LayerFeature(deps=deps, describe=describe)

    def _field_source(self, b: int, field: str, names: dict[str, int]) -> Any:
        """A block field's value (a constant) or (decision index, candidates); None before block 0."""
        if b < 0:
            return None
        return self._source(f"blocks[{b}].{field}", getattr(self.value.blocks[b], field), names)


def _value(src: Any, vals: dict[int, int]) -> int:
    """A constant, or the candidate a (decision, candidates) source takes (index 0 if inactive)."""
    if isinstance(src, tuple):
        d, cands = src
        return int(cands[max(vals[d], 0)])
    return int(src)


def _head_feature(kind: str, cin_src: Any, cout_src: Any) -> LayerFeature:
    """A 1×1 head conv: its filters in and out come from block / head decisions or constants."""
    deps = tuple(dict.fromkeys(s[0] for s in (cin_src, cout_src) if isinstance(s, tuple)))

    def describe(values: tuple[int, ...]) -> tuple[Hashable, int, int]:
        vals = dict(zip(deps, values))
        return kind, _value(cin_src, vals), _value(cout_src, vals)

    return LayerFeature(deps=deps, describe=describe)


def _op_key(layer: LayerSpec, experts: int) -> str:
    """The op feature of a layer for the linear latency model, e.g. ``"ir_k5_e6_se"``."""
    if not isinstance(layer, LayerSpec):
        raise ArchitectureError(f"expected a LayerSpec, got {layer!r}")
    e = float(layer.expansion)
    key = f"{layer.op}_k{layer.kernel}"
    if layer.op in ("ir", "fused"):
        key += f"_e{int(e) if e.is_integer() else e}" + ("_se" if layer.se else "")
        key += f"_cc{experts}" if layer.op == "ir" and experts > 1 else ""
    elif layer.op == "tucker":
        key += f"_i{layer.in_ratio:g}_o{layer.out_ratio:g}"
    return key
