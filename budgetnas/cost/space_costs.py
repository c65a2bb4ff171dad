"""Price children of the registered convolutional spaces: analytic parameters and MACs, measured
latency, TuNAS linear-model features and lookup-table sums, all from the spaces' per-layer
descriptions (:func:`budgetnas.spaces.describe_layers`).

A :class:`ConvSpaceCosts` splits a space into layer *positions* (every body layer of the template,
then the head convs and the classifier). Each position depends on a few decisions (its own op
choices, its block's filters and experts, the previous block's filters); for every joint value of
those decisions it knows the layer (a :class:`LayerRecord`: the space's
:class:`~budgetnas.spaces.LayerInfo` plus what is needed to build the layer alone). Every additive
cost is then one gather over a batch of DNA vectors (:class:`LayerSumCost`, ``TableLatency``,
``LinearLatencyModel``).

Example
-------
>>> import numpy as np
>>> from budgetnas.spaces import get_space
>>> space = get_space("mobilenetv3_like")
>>> costs = ConvSpaceCosts(space, input_size=64, num_classes=200)
>>> X = space.sample_batch(3, np.random.default_rng(0))
>>> bool(np.all(costs.params_cost().batch(X)
...             == [space.params(space.from_vector(x), num_classes=200) for x in X]))
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from budgetnas.cost._lookup import LayerLookup
from budgetnas.cost.base import CostModel, as_batch, check_unit
from budgetnas.cost.latency import LatencyCache, LatencySettings, MeasuredLatency
from budgetnas.cost.linear import LayerFeatureSpec, LinearLatencyModel
from budgetnas.cost.table import LatencyTable, LayerSignature, TableLatency, build_table
from budgetnas.errors import CostError
from budgetnas.space import Space
from budgetnas.spaces.arch import ConvArch, HeadSpec, LayerSpec
from budgetnas.spaces.describe import LayerInfo, _describe_layer, describe_layers, resolve_filters

__all__ = ["LayerRecord", "ConvSpaceCosts", "LayerSumCost", "SIGNATURE_STYLES", "table_signature",
           "arch_records", "layer_module", "mobilenetv3_like_64_table"]

SIGNATURE_STYLES = ("full", "proxylessnas")
"""``full``: the ProxylessNAS signature plus the stem kernel and ``-act:<name>`` (unambiguous
within a space); ``proxylessnas``: exactly :meth:`LayerInfo.signature` (to read foreign tables
such as the Pixel 1 one)."""


@dataclasses.dataclass(frozen=True)
class LayerRecord:
    """One present layer of a child, with what is needed to build and time it alone.

    Attributes
    ----------
    info : LayerInfo
        The space's description (shapes, parameters, MACs, op key, ProxylessNAS signature).
    layer : LayerSpec or None
        The body layer's spec; None for head convs and the classifier.
    head : HeadSpec or None
        The child's head, for head layers.
    pool : bool
        The global average pool runs inside this layer's module: after a ``head_pre`` conv, or
        before the first layer after pooling when there is no ``head_pre``.
    pooled_from : tuple of int
        (H, W) the pool reduces (the last feature map).
    """

    info: LayerInfo
    layer: LayerSpec | None = None
    head: HeadSpec | None = None
    pool: bool = False
    pooled_from: tuple[int, int] = (1, 1)


def table_signature(record: LayerRecord, style: str = "full") -> str:
    """The lookup-table signature of a layer.

    ``proxylessnas``: :meth:`LayerInfo.signature` (e.g. ``expanded_conv-input:16x16x16-output:
    8x8x24-expand:6-kernel:5-stride:2-idskip:0``); ``full`` adds the stem's kernel and stride
    (the ProxylessNAS stem signature omits them) and ``-act:<activation>``.

    Raises
    ------
    CostError
        For an unknown style.
    """
    if style not in SIGNATURE_STYLES:
        raise CostError(f"unknown signature style {style!r}; expected one of {SIGNATURE_STYLES}")
    info = record.info
    sig = info.signature()
    if style == "proxylessnas":
        return sig
    if info.kind == "conv" and "-kernel:" not in sig:
        sig += f"-kernel:{info.kernel}-stride:{info.stride}"
    return f"{sig}-act:{info.act}"


def _config(record: LayerRecord) -> tuple:
    """What the module of a record is made of (two records with one signature must agree).

    Tucker ratios enter only through the widths they give (0.25 and 0.75 of 8 filters are both 8).
    """
    info = record.info
    return (info.kind, info.in_filters, info.out_filters, info.mid_filters, info.core_filters,
            info.kernel, info.stride, info.experts, info.act, info.residual, info.in_size,
            info.se_filters, info.expansion,
            None if record.layer is None else (record.layer.op, record.layer.se),
            record.pool, record.pooled_from,
            None if record.head is None else record.head.post_bn)


def arch_records(arch: ConvArch, input_size: int = 224, num_classes: int = 1000,
                 in_channels: int = 3, width_mult: float = 1.0) -> list[LayerRecord]:
    """The :class:`LayerRecord` of every present layer of one child, in order.

    Same layers as :func:`budgetnas.spaces.describe_layers` (whose ``params`` / ``macs`` sum to
    the child's); the global pool is attached as :attr:`LayerRecord.pool` says.

    Raises
    ------
    ArchitectureError
        If ``arch`` is malformed.
    """
    infos = describe_layers(arch, input_size, num_classes, in_channels, width_mult)
    body = [layer for block in arch.blocks for layer in block.layers if layer is not None]
    last_hw = infos[len(body) - 1].out_size if body else (input_size, input_size)
    out = []
    for k, info in enumerate(infos):
        if k < len(body):
            out.append(LayerRecord(info, layer=body[k]))
        else:  # the pool goes with the first head layer (after head_pre, or before the others)
            out.append(LayerRecord(info, head=arch.head, pool=k == len(body),
                                   pooled_from=tuple(last_hw)))
    return out


def layer_module(record: LayerRecord, condconv_path: str = "grouped") -> tuple[Any, tuple]:
    """Build one layer alone as the whole network runs it; returns ``(module, (C, H, W))``.

    Body layers come from :func:`budgetnas.spaces.build`'s own layer factory; ``head_pre`` is
    conv-BN-act then global pooling; ``head_post`` is a 1×1 conv (bias or BN) and activation;
    the classifier is flatten + linear (with the pool first when there is no head conv before).
    """
    from torch import nn

    from budgetnas.nn import ConvBNAct, get_activation
    from budgetnas.spaces.build import _make_layer

    info = record.info
    h, w = info.in_size
    if record.layer is not None:
        module = _make_layer(record.layer, info.in_filters, info.out_filters, info.stride,
                             info.index > 0, info.experts, condconv_path)
        return module, (info.in_filters, h, w)
    pool = [nn.AdaptiveAvgPool2d(1)] if record.pool else []
    if info.kind == "head_pre":
        return (nn.Sequential(ConvBNAct(info.in_filters, info.out_filters, 1, act=info.act),
                              *pool), (info.in_filters, h, w))
    if record.pool:  # the pool runs first: the input is the last feature map
        h, w = record.pooled_from
    if info.kind == "head_post":
        assert record.head is not None
        if record.head.post_bn:
            conv: Any = ConvBNAct(info.in_filters, info.out_filters, 1, act=info.act)
        else:
            conv = nn.Sequential(nn.Conv2d(info.in_filters, info.out_filters, 1, bias=True),
                                 get_activation(info.act))
        return nn.Sequential(*pool, conv), (info.in_filters, h, w)
    if info.kind == "classifier":
        return (nn.Sequential(*pool, nn.Flatten(), nn.Linear(info.in_filters, info.out_filters)),
                (info.in_filters, h, w))
    raise CostError(f"cannot build a layer of kind {info.kind!r}")


@dataclasses.dataclass(frozen=True)
class _Position:
    """A layer position: its decisions and (values -> LayerRecord | None)."""

    name: str
    deps: tuple[int, ...]
    record: Callable[[tuple[int, ...]], LayerRecord | None]


class _MembershipTable(LatencyTable):
    """A LatencyTable whose ``in`` is a dict lookup.

    ``Mapping.__contains__`` goes through ``__getitem__``, which builds a LookupMissError with
    difflib suggestions for every miss; TableLatency tests membership once per joint choice of
    each layer's decisions (tens of thousands for a conv space), so that took minutes.
    """

    def __contains__(self, signature: object) -> bool:
        return signature in self.entries


class LayerSumCost(CostModel):
    """A cost that is a sum over a child's layers of a per-layer value (params, MACs, ...).

    Pricing a batch is one gather of shape (n, L) and a row sum (TuNAS-style per-layer
    additivity, Bender et al. 2020, §3.3).

    Parameters
    ----------
    lookup : LayerLookup
    values : np.ndarray of float64
        One value per (position, joint choice) in ``lookup``'s flat order.
    unit, name : str
    space : Space
    """

    is_additive = True

    def __init__(self, lookup: LayerLookup, values: np.ndarray, unit: str, name: str,
                 space: Any) -> None:
        self._lookup = lookup
        self._values = np.asarray(values, dtype=np.float64)
        self.unit = check_unit(unit)
        self.name = name
        self.space = space
        self.num_decisions = int(space.num_decisions)

    def batch(self, X: np.ndarray) -> np.ndarray:
        X = as_batch(X, self.num_decisions)
        return self._values[self._lookup.index(X)].sum(axis=1)


class ConvSpaceCosts:
    """Per-layer cost structure of a :class:`~budgetnas.spaces.ConvSpace` at one input size.

    Parameters
    ----------
    space : ConvSpace
        A registered conv space (``budgetnas.spaces.get_space(name)``) or any ConvSpace.
    input_size : int
        Image side (H = W) in pixels.
    num_classes : int
        Classifier outputs; 0 = no classifier (a backbone).
    in_channels : int
    width_mult : float
        Scales every filter count as :func:`budgetnas.spaces.build_model` does.

    Raises
    ------
    CostError
        When a block's stride is a decision (layer resolutions must be fixed by the template).

    Notes
    -----
    The per-layer decomposition is TuNAS's (Bender et al., CVPR 2020, §3.3): latency and cost
    are sums of per-layer terms, each a function of the layer's op and its input / output filters.
    """

    def __init__(self, space: Any, input_size: int = 224, num_classes: int = 1000,
                 in_channels: int = 3, width_mult: float = 1.0) -> None:
        self.space = space
        self.input_size = int(input_size)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.width_mult = float(width_mult)
        self._names = {d.path: d.index for d in space.decision_points}
        self.positions = self._positions()
        self.lookup = LayerLookup([p.deps for p in self.positions], space.num_choices)
        self._records: list[LayerRecord | None] | None = None

    # ------------------------------------------------------------------ structure
    def _source(self, b: int, field: str) -> Any:
        """A block field: a constant, or (decision index, candidates) when it is a decision."""
        path = f"blocks[{b}].{field}"
        if path in self._names:
            d = self._names[path]
            return (d, self.space.decision_points[d].candidates)
        return getattr(self.space.value.blocks[b], field)

    def _head_source(self, field: str) -> Any:
        path = f"head.{field}"
        if path in self._names:
            d = self._names[path]
            return (d, self.space.decision_points[d].candidates)
        return getattr(self.space.value.head, field)

    @staticmethod
    def _value(src: Any, vals: dict[int, int]) -> Any:
        if isinstance(src, tuple):
            d, cands = src
            v = vals[d]
            return cands[v if v >= 0 else 0]  # -1: an impossible combo, never gathered
        return src

    def _positions(self) -> list[_Position]:
        template: ConvArch = self.space.value
        hw = (self.input_size, self.input_size)
        positions = []
        for b, block in enumerate(template.blocks):
            if not isinstance(block.stride, int):
                raise CostError(f"block {b}'s stride is a decision; ConvSpaceCosts needs fixed "
                                "strides so that every layer position has one resolution")
            for i, layer_t in enumerate(block.layers):
                if layer_t is None:
                    continue
                stride = block.stride if i == 0 else 1
                positions.append(self._body_position(b, i, layer_t, stride, hw))
                hw = (-(-hw[0] // stride), -(-hw[1] // stride))
        positions += self._head_positions(len(template.blocks) - 1, hw)
        return positions

    def _body_position(self, b: int, i: int, layer_t: Any, stride: int,
                       hw: tuple[int, int]) -> _Position:
        prefix = f"blocks[{b}].layers[{i}]"
        own = [d.index for d in self.space.decision_points
               if d.path == prefix or d.path.startswith((prefix + "#", prefix + "."))]
        cout_src = self._source(b, "filters")
        cin_src = self._source(b - 1, "filters") if i == 0 and b > 0 else (
            self.in_channels if i == 0 else cout_src)
        exp_src = self._source(b, "experts")
        extra = [s[0] for s in (cout_src, cin_src, exp_src) if isinstance(s, tuple)]
        deps = tuple(dict.fromkeys(own + extra))
        sub = Space(layer_t) if own else None
        specs: dict[tuple[int, ...], Any] = {}
        wm = self.width_mult

        def record(values: tuple[int, ...]) -> LayerRecord | None:
            vals = dict(zip(deps, values))
            key = tuple(vals[d] for d in own)
            if key not in specs:
                if sub is None:
                    specs[key] = layer_t
                else:
                    vec = np.array([max(v, 0) for v in key], dtype=np.int64)
                    specs[key] = sub.materialize(sub.spec.from_vector(vec), validate=False)
            layer = specs[key]
            if layer is None:
                return None
            cin = int(self._value(cin_src, vals))
            cin = cin if (i == 0 and b == 0) else resolve_filters(cin, wm)
            cout = resolve_filters(int(self._value(cout_src, vals)), wm)
            experts = int(self._value(exp_src, vals))
            info = _describe_layer(layer, b, i, cin, cout, stride, hw, experts)
            return LayerRecord(info, layer=layer)

        return _Position(prefix, deps, record)

    def _head_positions(self, last: int, hw: tuple[int, int]) -> list[_Position]:
        """head_pre, head_post and classifier positions (whichever the head has)."""
        prev_src = self._source(last, "filters")
        pre_src, post_src = self._head_source("pre_filters"), self._head_source("post_filters")
        head_srcs = [pre_src, post_src, self._head_source("post_bn"), self._head_source("act")]
        deps = tuple(dict.fromkeys(s[0] for s in [prev_src, *head_srcs]
                                   if isinstance(s, tuple)))
        wm = self.width_mult

        def chain(values: tuple[int, ...]) -> list[LayerRecord]:
            vals = dict(zip(deps, values))
            head = HeadSpec(*(self._value(s, vals) for s in head_srcs))
            cin = resolve_filters(int(self._value(prev_src, vals)), wm)
            return _head_records(head, cin, hw, self.num_classes, wm)

        kinds = [k for k, present in (("head_pre", True), ("head_post", True),
                                      ("classifier", self.num_classes > 0)) if present]
        out = []
        for kind in kinds:
            def record(values: tuple[int, ...], kind: str = kind) -> LayerRecord | None:
                return next((r for r in chain(values) if r.info.kind == kind), None)

            out.append(_Position(kind, deps, record))
        return out

    # ------------------------------------------------------------------ per-combo records
    def records_table(self) -> list[LayerRecord | None]:
        """The record of every (position, joint choice), in the lookup's flat order (cached).

        Only joint choices that occur in some child (:meth:`consistent_mask`) are described;
        the others (e.g. a kernel chosen for a skipped layer) hold None and are never gathered.
        """
        if self._records is None:
            recs: list[LayerRecord | None] = [None] * self.lookup.total
            for j, pos in enumerate(self.positions):
                values, ok = self._combos(j)
                start = int(self.lookup.offsets[j])
                for k in np.flatnonzero(ok):
                    recs[start + int(k)] = pos.record(tuple(int(v) for v in values[k]))
            self._records = recs
        return self._records

    def _combos(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """All joint choices (m, k) of position j's decisions (-1 = inactive) in flat order, and
        which of them occur in some child: a decision is set (>= 0) exactly when its parent
        decision, if among them, is set and picks its branch."""
        deps = self.positions[j].deps
        nc = [int(self.space.num_choices[d]) for d in deps]
        if not deps:
            return np.zeros((1, 0), dtype=np.int64), np.ones(1, dtype=bool)
        grids = np.indices([n + 1 for n in nc]).reshape(len(deps), -1).T - 1  # row-major
        parent, parent_choice = self.space.parent, self.space.parent_choice
        col = {d: c for c, d in enumerate(deps)}
        ok = np.ones(len(grids), dtype=bool)
        for c, d in enumerate(deps):
            p = int(parent[d])
            if p < 0:
                active = np.ones(len(grids), dtype=bool)
            elif p in col:
                active = grids[:, col[p]] == int(parent_choice[d])
            else:
                continue  # its parent lies outside this position: either can happen
            ok &= active == (grids[:, c] >= 0)
        return grids, ok

    def records(self, X: Any) -> list[LayerRecord]:
        """The present layers of one child (a DNA vector (D,), a DNA, or an arch) in order."""
        vec = self._vector(X)
        recs = self.records_table()
        idx = self.lookup.index(vec[None, :])[0]
        return [r for r in (recs[k] for k in idx) if r is not None]

    def _vector(self, child: Any) -> np.ndarray:
        if isinstance(child, np.ndarray) and child.ndim == 1 and child.dtype.kind in "iu":
            return as_batch(child, self.space.num_decisions)[0]
        if isinstance(child, (ConvArch, str)):
            child = self.space.encode(self.space.arch(child))
        return np.asarray(self.space.to_vector(child), dtype=np.int64)

    def _values(self, fn: Callable[[LayerRecord], float]) -> np.ndarray:
        return np.array([0.0 if r is None else float(fn(r)) for r in self.records_table()])

    # ------------------------------------------------------------------ cost models
    def params_cost(self) -> LayerSumCost:
        """Analytic parameters of each child (equal to the built module's), batched."""
        return LayerSumCost(self.lookup, self._values(lambda r: r.info.params), "parameters",
                            "params", self.space)

    def macs_cost(self) -> LayerSumCost:
        """Analytic multiply-accumulates for one image at ``input_size``, batched."""
        return LayerSumCost(self.lookup, self._values(lambda r: r.info.macs), "MACs", "macs",
                            self.space)

    def flops_cost(self) -> LayerSumCost:
        """``2 × MACs`` (the convention of :mod:`budgetnas.cost.counting`), batched."""
        return LayerSumCost(self.lookup, self._values(lambda r: 2 * r.info.macs), "FLOPs",
                            "flops", self.space)

    def feature_layers(self) -> list[LayerFeatureSpec]:
        """One :class:`LayerFeatureSpec` per position: (op key, in filters, out filters).

        Op keys are :attr:`LayerInfo.op_key` (e.g. ``ir_k5_e6_se``; ``conv_k3`` for the stem;
        ``head_pre`` / ``head_post`` / ``classifier``); each position is its own group, so an op
        may cost differently at each depth (TuNAS, Bender et al. 2020, §3.3).
        """
        recs = self.records_table()
        out = []
        for j, pos in enumerate(self.positions):
            start = int(self.lookup.offsets[j])
            radix = [int(self.space.num_choices[d]) + 1 for d in pos.deps]

            def describe(values: tuple[int, ...], start: int = start,
                         radix: list[int] = radix) -> tuple[Hashable, int, int] | None:
                k = 0
                for v, r in zip(values, radix):
                    k = k * r + (v + 1)
                rec = recs[start + k]
                return None if rec is None else (rec.info.op_key, rec.info.in_filters,
                                                 rec.info.out_filters)

            out.append(LayerFeatureSpec(pos.deps, describe, group=pos.name))
        return out

    def linear_model(self, alpha: float = 0.0, fit_intercept: bool = True) -> LinearLatencyModel:
        """An unfitted TuNAS linear latency model over this space's per-layer features (ms)."""
        return LinearLatencyModel(self.feature_layers(), space=self.space, alpha=alpha,
                                  fit_intercept=fit_intercept)

    def signature_layers(self, style: str = "full") -> list[LayerSignature]:
        """One :class:`LayerSignature` per position (see :func:`table_signature`)."""
        recs = self.records_table()
        sigs = [None if r is None else table_signature(r, style) for r in recs]
        out = []
        for j, pos in enumerate(self.positions):
            start = int(self.lookup.offsets[j])
            radix = [int(self.space.num_choices[d]) + 1 for d in pos.deps]

            def signature(values: tuple[int, ...], start: int = start,
                          radix: list[int] = radix) -> str | None:
                k = 0
                for v, r in zip(values, radix):
                    k = k * r + (v + 1)
                return sigs[start + k]

            out.append(LayerSignature(pos.deps, signature))
        return out

    def table_latency(self, table: LatencyTable, style: str = "full",
                      statistic: str = "mean_ms") -> TableLatency:
        """Latency of each child as the sum of its layers' table entries (ms on the table's
        device); a missing signature raises ``LookupMissError`` naming it."""
        return TableLatency(_MembershipTable(table.entries, table.meta),
                            self.signature_layers(style), space=self.space, statistic=statistic)

    def signatures(self, child: Any, style: str = "full") -> list[str]:
        """Table signatures of one child's layers, in order."""
        return [table_signature(r, style) for r in self.records(child)]

    def factories(self, style: str = "full", X: np.ndarray | None = None,
                  condconv_path: str = "grouped") -> dict[str, Callable[[], tuple]]:
        """Signature -> factory ``() -> (module, (C, H, W))`` for every signature the space can
        produce (or only those of the children ``X`` (n, D)).

        Raises
        ------
        CostError
            When one signature stands for two different layers (use ``style="full"``).
        """
        active = None
        if X is not None:
            active = set(np.unique(self.lookup.index(as_batch(X, self.space.num_decisions))))
        by_sig: dict[str, LayerRecord] = {}
        recs = self.records_table()
        for j in range(self.lookup.num_layers):
            start, size = int(self.lookup.offsets[j]), int(self.lookup.sizes[j])
            for k in range(start, start + size):
                rec = recs[k]  # None unless the joint choice occurs in some child
                if rec is None or (active is not None and k not in active):
                    continue
                sig = table_signature(rec, style)
                old = by_sig.setdefault(sig, rec)
                if _config(old) != _config(rec):
                    raise CostError(f"signature {sig!r} stands for two different layers "
                                    f"({_config(old)} and {_config(rec)}); use style='full'")
        return {s: (lambda r=r: layer_module(r, condconv_path)) for s, r in by_sig.items()}

    def build_table(self, settings: LatencySettings | None = None, *, style: str = "full",
                    X: np.ndarray | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> LatencyTable:
        """Measure every layer signature of the space (or of the children ``X``) on this machine.

        Each layer runs alone on its own input shape with ``settings`` (threads, repeats,
        backend, batch size); ``meta`` records the space, input size, classes and width.
        """
        meta = {"space": getattr(self.space, "name", "conv"), "input_size": self.input_size,
                "num_classes": self.num_classes, "width_mult": self.width_mult,
                "signature_style": style}
        return build_table(self.factories(style, X), settings, progress=progress, meta=meta)

    # ------------------------------------------------------------------ whole networks
    def build(self, child: Any, condconv_path: str = "grouped") -> Any:
        """The child's network (``space.build``) with this object's classes and width."""
        if isinstance(child, np.ndarray):
            child = self.space.from_vector(child)
        return self.space.build(child, num_classes=self.num_classes,
                                in_channels=self.in_channels, width_mult=self.width_mult,
                                condconv_path=condconv_path)

    def measured_latency(self, settings: LatencySettings | None = None,
                         cache: LatencyCache | None = None) -> MeasuredLatency:
        """Whole-network latency measured on this machine (median of repeats, cached by DNA).

        ``settings.input_size`` is set to (in_channels, input_size, input_size).
        """
        settings = dataclasses.replace(
            settings or LatencySettings(),
            input_size=(self.in_channels, self.input_size, self.input_size))
        return MeasuredLatency(self.build, self.space, settings, cache)


def _head_records(head: HeadSpec, cin: int, hw: tuple[int, int], num_classes: int,
                  width_mult: float) -> list[LayerRecord]:
    """Records of the head layers after the last feature map (cin filters, hw), exactly as
    :func:`arch_records` gives them for a child ending in that map."""
    from budgetnas.spaces.arch import BlockSpec

    scaled = HeadSpec(resolve_filters(head.pre_filters, width_mult) if head.pre_filters else 0,
                      resolve_filters(head.post_filters, width_mult) if head.post_filters else 0,
                      head.post_bn, head.act)
    # describe_layers of a 1x1 stride-1 "stem" from cin to cin filters, then the (pre-scaled)
    # head, gives the head's LayerInfos after a (cin, hw) feature map
    probe = ConvArch((BlockSpec(cin, 1, (LayerSpec("conv", 1, act="relu"),)),), scaled)
    infos = describe_layers(probe, hw, num_classes, in_channels=cin)[1:]
    return [LayerRecord(info, head=head, pool=k == 0, pooled_from=tuple(hw))
            for k, info in enumerate(infos)]


def mobilenetv3_like_64_table() -> tuple[Any, list[LayerSignature], Callable[[str], tuple]]:
    """Provider for ``budgetnas latency build-table budgetnas.cost.space_costs:
    mobilenetv3_like_64_table``: the MobileNetV3-like space at 64×64, 200 classes, width 1.0."""
    from budgetnas.spaces import get_space

    costs = ConvSpaceCosts(get_space("mobilenetv3_like"), input_size=64, num_classes=200)
    factories = costs.factories()
    return costs.space, costs.signature_layers(), lambda sig: factories[sig]()
