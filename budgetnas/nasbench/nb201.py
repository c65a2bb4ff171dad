"""NAS-Bench-201 cells (Dong & Yang, ICLR 2020) as DNA vectors, and its accuracy/latency tables.

A cell has 4 nodes; each of its 6 edges (to <- from) carries one of 5 ops. The DNA vector holds one
op index per edge, in the order edges appear in the official cell string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``:

====== ===== ===== ===== ===== ===== =====
vector  0     1     2     3     4     5
edge   1<-0  2<-0  2<-1  3<-0  3<-1  3<-2
====== ===== ===== ===== ===== ===== =====

with op indices of :data:`NB201_OPS` (0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3,
4 avg_pool_3x3). Loaded tables are reordered so that row i is the cell whose vector has
mixed-radix index i (edge 0 most significant): ``X @ 5 ** arange(5, -1, -1)``.

Example
-------
>>> cellstr_to_vector("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|")
array([3, 0, 1, 4, 0, 0])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.cost.full_table import mixed_radix_index
from budgetnas.errors import DataError

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                              "avg_pool_3x3")
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(to, from) node pairs, in DNA-vector order."""
NB201_SIZE = len(NB201_OPS) ** len(NB201_EDGES)  # 15625
_OP_INDEX = {op: i for i, op in enumerate(NB201_OPS)}


def cellstr_to_vector(cellstr: str) -> np.ndarray:
    """Parse a NAS-Bench-201 cell string into its DNA vector (6,) int64.

    Raises
    ------
    DataError
        When the string is not a 4-node cell of known ops (names what was expected).
    """
    nodes = cellstr.strip().split("+")
    out = []
    if len(nodes) != 3:
        raise DataError(f"a NAS-Bench-201 cell string has 3 '+'-separated nodes, got {cellstr!r}")
    for to, node in enumerate(nodes, 1):
        edges = [e for e in node.strip().strip("|").split("|")]
        if len(edges) != to:
            raise DataError(f"node {to} of {cellstr!r} must have {to} input edges, got {edges}")
        for frm, edge in enumerate(edges):
            op, _, src = edge.partition("~")
            if op not in _OP_INDEX or src != str(frm):
                raise DataError(f"bad edge {edge!r} in {cellstr!r}: expected 'op~{frm}' with op "
                                f"in {NB201_OPS}")
            out.append(_OP_INDEX[op])
    return np.array(out, dtype=np.int64)


def cellstrs_to_vectors(cellstrs: Iterable[str]) -> np.ndarray:
    """Parse many cell strings into DNA vectors (n, 6) int64 (memoised: cells repeat)."""
    memo: dict[str, np.ndarray] = {}
    rows = []
    for s in cellstrs:
        v = memo.get(s)
        if v is None:
            v = memo[s] = cellstr_to_vector(s)
        rows.append(v)
    return np.stack(rows) if rows else np.zeros((0, len(NB201_EDGES)), dtype=np.int64)


def vector_to_cellstr(vector: Sequence[int]) -> str:
    """The official cell string of a DNA vector (6,); inverse of :func:`cellstr_to_vector`."""
    v = [int(x) for x in vector]
    if len(v) != len(NB201_EDGES) or min(v) < 0 or max(v) >= len(NB201_OPS):
        raise DataError(f"a NAS-Bench-201 vector has 6 op indices in 0..4, got {v}")
    nodes, k = [], 0
    for to in (1, 2, 3):
        nodes.append("|" + "|".join(f"{NB201_OPS[v[k + f]]}~{f}" for f in range(to)) + "|")
        k += to
    return "+".join(nodes)


def nb201_space() -> Any:
    """The NAS-Bench-201 cell space: ``{"edges": [oneof(NB201_OPS)] * 6}``, decisions named
    ``edge_<to><-<from>``, in DNA-vector order (15,625 children)."""
    from budgetnas.space import Space, oneof

    return Space({"edges": [oneof(list(NB201_OPS), name=f"edge_{to}<-{frm}")
                            for to, frm in NB201_EDGES]})


def _read_table(path: str | os.PathLike[str], cell_column: str,
                value_columns: Sequence[str] | None, skip: Sequence[str]) -> tuple[list[str],
                                                                                   np.ndarray]:
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NAS-Bench-201 table {path} does not exist (pass a local path; "
                                "nothing is downloaded)")
    df = pd.read_csv(path)
    if cell_column not in df.columns:
        raise DataError(f"{path}: expected a {cell_column!r} column of cell strings, got "
                        f"columns {list(df.columns)}")
    cols = [c for c in df.columns if c not in (cell_column, *skip)]
    if value_columns is not None:
        missing = [c for c in value_columns if c not in df.columns]
        if missing:
            raise DataError(f"{path}: no columns {missing}; available: {cols}")
        cols = list(value_columns)
    X = cellstrs_to_vectors(df[cell_column].astype(str))
    idx = mixed_radix_index(X, [len(NB201_OPS)] * len(NB201_EDGES))
    if len(idx) != NB201_SIZE or len(np.unique(idx)) != NB201_SIZE:
        raise DataError(f"{path}: expected each of the {NB201_SIZE} cells exactly once, got "
                        f"{len(idx)} rows with {len(np.unique(idx))} distinct cells")
    table = np.empty((NB201_SIZE, len(cols)), dtype=np.float64)
    table[idx] = df[cols].to_numpy(dtype=np.float64)
    return cols, table


def load_nb201_latency(path: str | os.PathLike[str],
                       devices: Sequence[str] | None = None
                       ) -> tuple[tuple[str, ...], np.ndarray, list[str]]:
    """Load the HELP latency table of all NAS-Bench-201 cells on 27 hardware settings.

    Parameters
    ----------
    path : path to ``nb201_latency_27devices.csv.gz`` (columns ``arch_idx``, ``arch_str`` and one
        column per device, latency in ms).
    devices : names of the columns to keep (default: all, in file order).

    Returns
    -------
    ops : tuple of str
        :data:`NB201_OPS`, the op of each choice index.
    table : np.ndarray float64 (15625, n_devices)
        Latency in ms; row i is the cell with mixed-radix index i of its DNA vector.
    devices : list of str

    Raises
    ------
    FileNotFoundError, DataError
        When the file is missing, lacks columns, or does not hold each cell exactly once.

    Notes
    -----
    Data from HELP (Lee et al., NeurIPS 2021) and HW-NAS-Bench (Li et al., ICLR 2021).
    """
    names, table = _read_table(path, "arch_str", devices, skip=("arch_idx",))
    return NB201_OPS, table, names


def load_nb201_accuracy(path: str | os.PathLike[str],
                        metrics: Sequence[str] | None = None
                        ) -> tuple[tuple[str, ...], np.ndarray, list[str]]:
    """Load NAS-Bench-201 accuracies (``cellstr`` column), rows ordered like
    :func:`load_nb201_latency`.

    Returns
    -------
    ops, table (15625, n_metrics) float64 (accuracy in %), metric names (e.g. ``cifar10-val``).
    """
    names, table = _read_table(path, "cellstr", metrics, skip=("arch",))
    return NB201_OPS, table, names
