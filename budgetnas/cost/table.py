"""Latency lookup tables: per-operator latencies whose sum over a child's layers is its latency.

Two file formats load with :func:`load_table`:

- ours (JSON): ``{"format": "budgetnas.latency_table.v1", "meta": {...}, "entries":
  {signature: {"mean_ms", "median_ms", "iqr_ms", "count"}}}``; a flat JSON mapping
  ``signature -> {"mean_ms", "iqr_ms", "count"}`` loads too;
- ProxylessNAS (YAML): ``signature: {count, mean, var}`` with ``mean`` in ms (Cai et al., ICLR 2019,
  §3.2: the latency of a network is the sum of its operators' latencies).

Example
-------
>>> table = LatencyTable({"conv-a": TableEntry(1.5), "conv-b": TableEntry(2.0)})
>>> table.latency(["conv-a", "conv-b", "conv-a"])
5.0
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.cost._lookup import LayerLookup
from budgetnas.cost.base import CostModel, as_batch
from budgetnas.cost.latency import (
    LatencySettings,
    atomic_write_json,
    measure_latency,
)
from budgetnas.errors import CostError, LookupMissError

TABLE_FORMAT = "budgetnas.latency_table.v1"


@dataclasses.dataclass(frozen=True)
class TableEntry:
    """One operator's latency in a lookup table (ms on the table's device).

    Attributes
    ----------
    mean_ms : float
        Mean latency; means add up, so a child's latency is the sum of its layers' means.
    iqr_ms : float or None
        Interquartile range of the measurements, when known.
    count : int
        Number of measurements.
    median_ms, var : float or None
        Median (our tables) and variance in ms² (ProxylessNAS tables), when known.
    """

    mean_ms: float
    iqr_ms: float | None = None
    count: int = 1
    median_ms: float | None = None
    var: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class LatencyTable(Mapping[str, TableEntry]):
    """A mapping signature -> :class:`TableEntry`; a missing signature raises LookupMissError.

    Parameters
    ----------
    entries : mapping of str to TableEntry
    meta : dict, optional
        Where and how the table was measured (device, settings, source file).
    """

    def __init__(self, entries: Mapping[str, TableEntry], meta: dict[str, Any] | None = None):
        self.entries = dict(entries)
        self.meta = dict(meta or {})

    def __getitem__(self, signature: str) -> TableEntry:
        try:
            return self.entries[signature]
        except KeyError:
            raise self.miss(signature) from None

    def __contains__(self, signature: object) -> bool:
        # Mapping's default goes through __getitem__, whose miss builds a difflib suggestion.
        return signature in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def nearest(self, signature: str, n: int = 3) -> list[str]:
        """The ``n`` stored signatures closest to ``signature`` (difflib ratio)."""
        return difflib.get_close_matches(signature, list(self.entries), n=n, cutoff=0.0)

    def miss(self, signature: str) -> LookupMissError:
        """The error for a missing signature, naming the nearest stored ones."""
        near = self.nearest(signature)
        where = self.meta.get("source", "the latency table")
        return LookupMissError(
            f"no latency for signature {signature!r} in {where} ({len(self)} entries); nearest: "
            f"{near}. Measure it (budgetnas latency build-table) or restrict the space to "
            "operators the table covers")

    def mean(self, signature: str) -> float:
        """Mean latency (ms) of one signature."""
        return self[signature].mean_ms

    def latency(self, signatures: Iterable[str]) -> float:
        """Sum of the mean latencies (ms) of the given layer signatures."""
        return float(sum(self[s].mean_ms for s in signatures))

    def to_json_dict(self) -> dict[str, Any]:
        return {"format": TABLE_FORMAT, "meta": self.meta,
                "entries": {k: e.to_dict() for k, e in sorted(self.entries.items())}}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the table in our JSON format, atomically."""
        atomic_write_json(path, self.to_json_dict())

    def __repr__(self) -> str:
        return f"LatencyTable({len(self)} signatures, meta={self.meta})"


def _parse_scalar(text: str) -> Any:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def _parse_two_level_yaml(text: str, source: str) -> dict[str, dict[str, Any]]:
    """Parse the two-level YAML of ProxylessNAS tables (``key:`` then indented ``field: value``).

    Used when PyYAML is not installed; accepts exactly that shape and says so otherwise.
    """
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if not line.endswith(":"):
                raise CostError(f"{source}:{lineno}: expected 'signature:' at top level, "
                                f"got {raw!r} (install pyyaml for general YAML)")
            current = out.setdefault(line[:-1].strip().strip("'\""), {})
        else:
            if current is None or ":" not in line:
                raise CostError(f"{source}:{lineno}: expected an indented 'field: value' under "
                                f"a signature, got {raw!r}")
            field, value = line.strip().split(":", 1)
            current[field.strip()] = _parse_scalar(value)
    return out


def _read_yaml(path: Path) -> dict[str, dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        return _parse_two_level_yaml(text, str(path))
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise CostError(f"{path}: expected a mapping signature -> {{count, mean, var}}")
    return data


def load_proxylessnas_table(path: str | os.PathLike[str]) -> LatencyTable:
    """Load a ProxylessNAS YAML lookup table (signature -> {count, mean (ms), var}).

    Raises
    ------
    CostError
        When an entry lacks ``mean``.
    """
    path = Path(path)
    raw = _read_yaml(path)
    entries = {}
    for sig, fields in raw.items():
        if not isinstance(fields, dict) or "mean" not in fields:
            raise CostError(f"{path}: entry {sig!r} has no 'mean' (ms); got {fields!r}")
        entries[str(sig)] = TableEntry(mean_ms=float(fields["mean"]),
                                       count=int(fields.get("count", 1)),
                                       var=None if "var" not in fields else float(fields["var"]))
    return LatencyTable(entries, meta={"source": str(path), "format": "proxylessnas"})


def _entry_from_json(sig: str, fields: Any, path: Path) -> TableEntry:
    if not isinstance(fields, dict) or "mean_ms" not in fields:
        raise CostError(f"{path}: entry {sig!r} needs 'mean_ms'; got {fields!r}")
    known = {f.name for f in dataclasses.fields(TableEntry)}
    return TableEntry(**{k: v for k, v in fields.items() if k in known})


def load_table(path: str | os.PathLike[str]) -> LatencyTable:
    """Load a latency table from our JSON format or a ProxylessNAS YAML file (by content).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    CostError
        When the file is neither format.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"latency table {path} does not exist")
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_proxylessnas_table(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return load_proxylessnas_table(path)
    if not isinstance(data, dict):
        raise CostError(f"{path}: expected a JSON object, got {type(data).__name__}")
    meta = {"source": str(path)}
    if "entries" in data:
        meta.update(data.get("meta", {}))
        data = data["entries"]
    return LatencyTable({s: _entry_from_json(s, f, path) for s, f in data.items()}, meta=meta)


@dataclasses.dataclass(frozen=True)
class LayerSignature:
    """How one layer's lookup-table signature follows from a few decisions of the space.

    Attributes
    ----------
    deps : tuple of int
        Indices of the decisions the signature depends on (the layer's op, its neighbours' widths).
        Empty for a fixed layer (stem, head).
    signature : callable
        ``values -> str | None``: the values of ``deps`` (choice indices, -1 when inactive) to
        the layer's signature, or None when the layer is absent (skipped) for those values.
    """

    deps: tuple[int, ...]
    signature: Callable[[tuple[int, ...]], str | None]


def _num_choices_of(space: Any, num_choices: Any) -> np.ndarray:
    if num_choices is None:
        if space is None:
            raise CostError("pass the space (or num_choices) so layers can be indexed")
        num_choices = space.num_choices
    return np.asarray(num_choices, dtype=np.int64)


class TableLatency(CostModel):
    """Latency from a lookup table: the sum of a child's layers' table entries (ms on the table's
    device).

    Give either ``layers`` (a :class:`LayerSignature` per layer: the table is read once per joint
    choice of each layer's decisions, and pricing a batch is one gather) or ``signatures_fn``
    (DNA vector -> list of signatures, evaluated per row and memoised).

    Parameters
    ----------
    table : LatencyTable
    layers : sequence of LayerSignature, optional
    signatures_fn : callable, optional
        ``vector (D,) -> list[str]``.
    space : Space, optional
        For ``num_choices``, ``parent`` (exact :meth:`min_cost`) and DNA -> vector.
    num_choices : array of int, optional
        Instead of ``space``.
    statistic : {"mean_ms", "median_ms"}
        Which entry field is summed (ProxylessNAS tables only have means).

    Raises
    ------
    LookupMissError
        When a priced child has a layer whose signature is not in the table (names the nearest).

    Notes
    -----
    ProxylessNAS (Cai et al., ICLR 2019, §3.2) and TuNAS (Bender et al., CVPR 2020, §3.3) price
    architectures by summing per-operator latencies measured on the target phone.
    """

    unit = "ms"
    is_additive = True

    def __init__(self, table: LatencyTable, layers: Sequence[LayerSignature] | None = None, *,
                 signatures_fn: Callable[[np.ndarray], Sequence[str]] | None = None,
                 space: Any = None, num_choices: Any = None, statistic: str = "mean_ms",
                 name: str = "latency") -> None:
        if (layers is None) == (signatures_fn is None):
            raise CostError("TableLatency needs exactly one of layers= (LayerSignature list) "
                            "or signatures_fn= (vector -> list of signatures)")
        if statistic not in ("mean_ms", "median_ms"):
            raise CostError(f"statistic must be 'mean_ms' or 'median_ms', got {statistic!r}")
        self.table = table
        self.space = space
        self.statistic = statistic
        self.name = name
        self.signatures_fn = signatures_fn
        self._memo: dict[bytes, float] = {}
        self.layers = list(layers) if layers is not None else None
        if space is not None:
            self.num_decisions = int(space.num_decisions)
        if self.layers is not None:
            nc = _num_choices_of(space, num_choices)
            self.num_decisions = len(nc)
            self._lookup = LayerLookup([layer.deps for layer in self.layers], nc)
            sigs = self._lookup.tabulate(lambda j, v: self.layers[j].signature(v))
            self._signatures = sigs
            self._values = np.array([self._value_or_nan(s) for s in sigs], dtype=np.float64)

    def _entry_value(self, signature: str) -> float:
        entry = self.table[signature]
        value = getattr(entry, self.statistic)
        if value is None:
            raise CostError(f"table entry {signature!r} has no {self.statistic}; "
                            "use statistic='mean_ms'")
        return float(value)

    def _value_or_nan(self, signature: str | None) -> float:
        if signature is None:
            return 0.0  # the layer is absent for this choice (e.g. skipped)
        return self._entry_value(signature) if signature in self.table else np.nan

    def signatures(self, vector: Any) -> list[str]:
        """The table signatures of one child's present layers, in layer order."""
        vec = self.to_vector(vector) if not isinstance(vector, np.ndarray) else vector
        if self.layers is None:
            return list(self.signatures_fn(vec))
        idx = self._lookup.index(as_batch(vec, self.num_decisions))[0]
        return [s for s in (self._signatures[i] for i in idx) if s is not None]

    def batch(self, X: np.ndarray) -> np.ndarray:
        X = as_batch(X, self.num_decisions)
        if self.layers is None:
            return np.array([self._row_latency(row) for row in X], dtype=np.float64)
        idx = self._lookup.index(X)
        values = self._values[idx]
        if np.isnan(values).any():
            row, col = np.argwhere(np.isnan(values))[0]
            raise self.table.miss(self._signatures[idx[row, col]])
        return values.sum(axis=1)

    def _row_latency(self, row: np.ndarray) -> float:
        key = row.tobytes()
        hit = self._memo.get(key)
        if hit is None:
            hit = float(sum(self._entry_value(s) for s in self.signatures_fn(row)))
            self._memo[key] = hit
        return hit

    def min_cost(self) -> float | None:
        if self.layers is None:
            return None
        parent = getattr(self.space, "parent", None) if self.space is not None else None
        return self._lookup.separable_min(self._values, parent)


def distinct_signatures(layers: Sequence[LayerSignature], num_choices: Any) -> list[str]:
    """Every signature the layers can produce over all joint choices of their decisions, sorted."""
    lookup = LayerLookup([layer.deps for layer in layers], np.asarray(num_choices))
    sigs = lookup.tabulate(lambda j, v: layers[j].signature(v))
    return sorted({s for s in sigs if s is not None})


ModuleFactory = Callable[[], Any]
"""``() -> nn.Module`` or ``() -> (nn.Module, input_size)`` (input_size without the batch)."""


def build_table(factories: Mapping[str, ModuleFactory], settings: LatencySettings | None = None,
                *, progress: Callable[[int, int, str], None] | None = None,
                meta: dict[str, Any] | None = None) -> LatencyTable:
    """Measure each distinct signature once on this machine and return the lookup table.

    Parameters
    ----------
    factories : mapping of str to callable
        Signature -> factory returning the layer's module, or ``(module, input_size)`` when the
        layer's input shape differs from ``settings.input_size``.
    settings : LatencySettings, optional
        Threads, repeats, backend, batch size (the input size may be overridden per layer).
    progress : callable, optional
        Called as ``progress(i, total, signature)`` after each measurement.

    Returns
    -------
    LatencyTable
        ``mean_ms``, ``median_ms``, ``iqr_ms`` and ``count`` (= repeats) per signature; ``meta``
        holds the settings and the machine.
    """
    import platform

    import torch

    settings = settings or LatencySettings()
    entries = {}
    for i, (sig, factory) in enumerate(sorted(factories.items()), 1):
        made = factory()
        module, layer_settings = made, settings
        if isinstance(made, tuple):
            module, input_size = made
            layer_settings = dataclasses.replace(settings, input_size=tuple(input_size))
        res = measure_latency(module, layer_settings)
        entries[sig] = TableEntry(mean_ms=res.mean, iqr_ms=res.iqr_ms, count=res.n,
                                  median_ms=res.median_ms)
        if progress is not None:
            progress(i, len(factories), sig)
    info = {"settings": settings.to_dict(), "machine": platform.machine(),
            "processor": _cpu_model(), "nproc": os.cpu_count(), "torch": torch.__version__}
    info.update(meta or {})
    return LatencyTable(entries, meta=info)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"
