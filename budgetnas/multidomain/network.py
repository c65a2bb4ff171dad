"""The multi-path supernet and the merged multi-path network (one class for both).

A chain of ``L`` layers; at each layer a domain picks one candidate op. Every (layer, op) *node*
has its own weights (no prefix sharing between ops, unlike TuNAS's masked supernet), so two
domains that pick the same op at a layer share that node and two that differ do not (Wang et al.,
WACV 2021, papers.md §9). The stem is shared by all domains; each domain has its own linear head.

:class:`MultiPathNetwork` with ``paths=None`` holds every node (the supernet searched over);
with ``paths={domain: choices}`` it holds only the union of the nodes those paths use (the merged
multi-path network that is retrained jointly). Parameters of a shared node count once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from budgetnas.errors import SupernetError
from budgetnas.nn import ConvBNAct, InvertedBottleneck
from budgetnas.space import Space, oneof

__all__ = ["DEFAULT_LAYERS", "DEFAULT_OPS", "LayerSpec", "MultiPathConfig", "MultiPathNetwork",
           "Node", "OpSpec", "PathCost", "path_space"]

Node = tuple[int, int]
"""A node of the supernet: ``(layer, choice)`` with ``choice`` the layer's local candidate index."""


@dataclass(frozen=True)
class OpSpec:
    """A candidate op: an inverted bottleneck (``kernel``, ``expansion``) or ``"skip"``."""

    kind: str = "ibn"
    kernel: int = 3
    expansion: int = 3

    @property
    def label(self) -> str:
        return "skip" if self.kind == "skip" else f"k{self.kernel}e{self.expansion}"


@dataclass(frozen=True)
class LayerSpec:
    """Output channels and stride of one searchable layer."""

    out_ch: int
    stride: int = 1


DEFAULT_OPS = (OpSpec("ibn", 3, 3), OpSpec("ibn", 3, 6), OpSpec("ibn", 5, 3),
               OpSpec("ibn", 5, 6), OpSpec("skip"))
DEFAULT_LAYERS = (LayerSpec(24, 2), LayerSpec(24), LayerSpec(24), LayerSpec(48, 2),
                  LayerSpec(48), LayerSpec(48))


@dataclass(frozen=True)
class MultiPathConfig:
    """Shape of the multi-path supernet for grey ``image_size``² images.

    Stem: 3×3 conv, ``stem_ch`` channels, stride ``stem_stride``. Then ``layers``; ``skip`` is a
    candidate only where the layer keeps shape (stride 1, same channels). Head per domain:
    global average pool → linear.
    """

    in_ch: int = 1
    image_size: int = 28
    stem_ch: int = 16
    stem_stride: int = 2
    layers: tuple[LayerSpec, ...] = DEFAULT_LAYERS
    ops: tuple[OpSpec, ...] = DEFAULT_OPS
    _choices: tuple[tuple[int, ...], ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.layers or not self.ops:
            raise SupernetError("a multi-path config needs at least one layer and one op")
        choices = []
        in_ch = self.stem_ch
        for spec in self.layers:
            keeps = spec.stride == 1 and spec.out_ch == in_ch
            choices.append(tuple(i for i, op in enumerate(self.ops) if op.kind != "skip" or keeps))
            in_ch = spec.out_ch
        object.__setattr__(self, "_choices", tuple(choices))

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def layer_ops(self, layer: int) -> tuple[OpSpec, ...]:
        """The candidate ops of ``layer`` in choice order."""
        return tuple(self.ops[i] for i in self._choices[layer])

    @property
    def num_choices(self) -> list[int]:
        return [len(c) for c in self._choices]

    def in_channels(self, layer: int) -> int:
        return self.stem_ch if layer == 0 else self.layers[layer - 1].out_ch

    def in_size(self, layer: int) -> int:
        """Spatial side of the input of ``layer`` (ceil division per stride, "same" padding)."""
        side = -(-self.image_size // self.stem_stride)
        for spec in self.layers[:layer]:
            side = -(-side // spec.stride)
        return side

    def validate_path(self, path: Sequence[int]) -> tuple[int, ...]:
        """``path`` as a tuple of ints, checked against the layer count and choices.

        Raises
        ------
        SupernetError
            Wrong length or a choice out of range for its layer.
        """
        p = tuple(int(c) for c in path)
        nc = self.num_choices
        if len(p) != len(nc) or any(not 0 <= c < n for c, n in zip(p, nc)):
            raise SupernetError(f"a path needs one choice per layer within {nc}, got {list(p)}")
        return p

    def describe_path(self, path: Sequence[int]) -> str:
        return " ".join(self.layer_ops(i)[c].label for i, c in enumerate(path))

    def build_node(self, node: Node) -> nn.Module:
        """A fresh module for ``node`` (``nn.Identity`` for skip)."""
        layer, choice = node
        op, spec = self.layer_ops(layer)[choice], self.layers[layer]
        if op.kind == "skip":
            return nn.Identity()
        if op.kind != "ibn":
            raise SupernetError(f"unknown op kind {op.kind!r}; use 'ibn' or 'skip'")
        return InvertedBottleneck(self.in_channels(layer), spec.out_ch, expansion=op.expansion,
                                  kernel_size=op.kernel, stride=spec.stride)


def path_space(config: MultiPathConfig) -> Space:
    """The search space of one domain's path: one ``oneof`` over op labels per layer
    (decision ``layer{i}``), for :class:`budgetnas.Reinforce` and friends."""
    return Space([oneof([op.label for op in config.layer_ops(i)], name=f"layer{i}")
                  for i in range(config.num_layers)])


def _key(node: Node) -> str:
    return f"l{node[0]}_c{node[1]}"


class _PathModule(nn.Module):
    """One domain's path as a plain module (for cost counting): stem → nodes → head."""

    def __init__(self, stem: nn.Module, nodes: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem, self.body, self.head = stem, nn.Sequential(*nodes), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).mean(dim=(2, 3)))


class MultiPathNetwork(nn.Module):
    """Shared stem, per-(layer, op) nodes with their own weights, and per-domain linear heads.

    Shapes: ``forward(x, domain, path=None)`` maps (B, in_ch, H, W) to logits
    (B, num_classes[domain]) along ``path`` (default: the domain's stored path).

    Parameters
    ----------
    config : MultiPathConfig
    num_classes : mapping domain -> int
        One head per domain.
    paths : mapping domain -> sequence of int, optional
        None builds every node (the supernet); otherwise only the union of the paths' nodes,
        and every domain of ``num_classes`` needs a path.

    Raises
    ------
    SupernetError
        Invalid paths, a path for an unknown domain or a domain without a path, a domain name
        with ``"."``, or a forward along a node this network does not hold.
    """

    def __init__(self, config: MultiPathConfig, num_classes: Mapping[str, int],
                 paths: Mapping[str, Sequence[int]] | None = None) -> None:
        super().__init__()
        if any("." in d or not d for d in num_classes):
            raise SupernetError(f"domain names must be non-empty without '.', got {list(num_classes)}")
        self.config = config
        self.paths: dict[str, tuple[int, ...]] = {}
        if paths is None:
            nodes = [(i, c) for i, n in enumerate(config.num_choices) for c in range(n)]
        else:
            if set(paths) != set(num_classes):
                raise SupernetError(f"paths are given for {sorted(paths)} but the heads are "
                                    f"{sorted(num_classes)}: give one path per domain")
            self.paths = {d: config.validate_path(p) for d, p in paths.items()}
            nodes = sorted({(i, c) for p in self.paths.values() for i, c in enumerate(p)})
        self.stem = ConvBNAct(config.in_ch, config.stem_ch, 3, config.stem_stride)
        self.nodes = nn.ModuleDict({_key(n): config.build_node(n) for n in nodes})
        last = config.layers[-1].out_ch
        self.heads = nn.ModuleDict({d: nn.Linear(last, int(k)) for d, k in num_classes.items()})

    # ------------------------------------------------------------------ structure
    @property
    def domains(self) -> list[str]:
        return list(self.heads.keys())

    def node_list(self) -> list[Node]:
        """The nodes this network holds, sorted."""
        return sorted(tuple(int(v) for v in k[1:].split("_c")) for k in self.nodes)  # type: ignore[misc]

    def node_domains(self) -> dict[Node, tuple[str, ...]]:
        """For each node on a stored path, the domains whose paths use it (sorted)."""
        users: dict[Node, list[str]] = {}
        for d, p in self.paths.items():
            for i, c in enumerate(p):
                users.setdefault((i, c), []).append(d)
        return {n: tuple(sorted(ds)) for n, ds in sorted(users.items())}

    def shared_nodes(self) -> list[Node]:
        """Nodes used by two or more domains' paths."""
        return [n for n, ds in self.node_domains().items() if len(ds) > 1]

    def node(self, node: Node) -> nn.Module:
        key = _key(node)
        if key not in self.nodes:
            raise SupernetError(f"this network has no node {node} (layer {node[0]}, choice "
                                f"{node[1]}); it holds {self.node_list()}")
        return self.nodes[key]

    def domain_view(self, domain: str, path: Sequence[int] | None = None) -> nn.Module:
        """A module running ``domain``'s path (sharing this network's weights): (B, C, H, W) →
        (B, num_classes). For counting one domain's parameters and MACs."""
        p = self._path(domain, path)
        return _PathModule(self.stem, [self.node((i, c)) for i, c in enumerate(p)],
                           self.heads[domain])

    # ------------------------------------------------------------------ accounting
    def parameter_count(self) -> int:
        """Parameters with every node counted once: stem + union of nodes + heads (the sum over
        the modules; :func:`budgetnas.cost.count_parameters` of this network agrees)."""
        def n(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())

        return n(self.stem) + sum(n(m) for m in self.nodes.values()) + \
            sum(n(h) for h in self.heads.values())

    # ------------------------------------------------------------------ forward
    def _path(self, domain: str, path: Sequence[int] | None) -> tuple[int, ...]:
        if domain not in self.heads:
            raise SupernetError(f"unknown domain {domain!r}; this network has heads for "
                                f"{self.domains}")
        if path is None:
            if domain not in self.paths:
                raise SupernetError(f"domain {domain!r} has no stored path: pass path=")
            return self.paths[domain]
        return tuple(int(c) for c in path)

    def forward(self, x: torch.Tensor, domain: str, path: Sequence[int] | None = None,
                mix: Sequence[bool] | None = None) -> torch.Tensor:
        """Logits (B, num_classes[domain]) for images (B, in_ch, H, W) along the path.

        ``mix`` (one bool per layer) is TuNAS's op warm-up (Bender et al., CVPR 2020, §3; papers.md
        §3): at a layer marked True every candidate op runs and their outputs are averaged
        (weight 1/n each) instead of the path's choice; it needs every node of that layer.
        """
        p = self._path(domain, path)
        if mix is not None and len(mix) != len(p):
            raise SupernetError(f"mix needs one flag per layer ({len(p)}), got {len(mix)}")
        h = self.stem(x)
        for i, c in enumerate(p):
            if mix is not None and mix[i]:
                n = self.config.num_choices[i]
                h = sum(self.node((i, k))(h) for k in range(n)) / n
            else:
                h = self.node((i, c))(h)
        return self.heads[domain](h.mean(dim=(2, 3)))


@functools.lru_cache(maxsize=32)
def _node_costs(config: MultiPathConfig, metric: str) -> tuple[np.ndarray, int]:
    """Per-node cost table ``(L, max choices)`` and the stem's cost, measured once per config
    (counting MACs traces every node, which is slow enough to be worth caching)."""
    from budgetnas.cost import count_macs, count_parameters

    nc = config.num_choices
    table = np.zeros((len(nc), max(nc)))
    net = MultiPathNetwork(config, {"d": 1})
    for i, n in enumerate(nc):
        side, ch = config.in_size(i), config.in_channels(i)
        for c in range(n):
            m = net.node((i, c))
            table[i, c] = (count_parameters(m) if metric == "params"
                           else count_macs(m, (1, ch, side, side)))
    img = (1, config.in_ch, config.image_size, config.image_size)
    stem = count_parameters(net.stem) if metric == "params" else count_macs(net.stem, img)
    return table, int(stem)


class PathCost:
    """Cost of a domain's path from a per-node table: MACs (one image) or parameters.

    ``batch(X)`` prices int ``(n, L)`` paths in one gather (the hot path of the controllers);
    ``__call__(path)`` prices one. The table is measured with
    :func:`budgetnas.cost.count_macs` / :func:`budgetnas.cost.count_parameters` on each node.

    Parameters
    ----------
    config : MultiPathConfig
    num_classes : int
        Classes of the domain's head.
    metric : {"macs", "params"}

    Raises
    ------
    SupernetError
        For an unknown metric.
    """

    def __init__(self, config: MultiPathConfig, num_classes: int, metric: str = "macs") -> None:
        if metric not in ("macs", "params"):
            raise SupernetError(f"metric must be 'macs' or 'params', got {metric!r}")
        self.metric = metric
        table, stem = _node_costs(config, metric)
        self.table = table.copy()
        last = config.layers[-1].out_ch
        head = (last + 1) * num_classes if metric == "params" else last * num_classes
        self.base = float(stem + head)
        nc = config.num_choices
        self._rows = np.arange(len(nc))

    def batch(self, X: np.ndarray) -> np.ndarray:
        """Cost of each row of int ``(n, L)`` → float ``(n,)``."""
        X = np.asarray(X, dtype=np.int64).reshape(-1, len(self._rows))
        return self.base + self.table[self._rows[None, :], X].sum(axis=1)

    def __call__(self, path: Sequence[int]) -> float:
        return float(self.batch(np.asarray(path)[None])[0])
