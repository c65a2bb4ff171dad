"""NAS-Bench-Macro (Su et al., CVPR 2021): 3^8 = 6,561 chain networks trained on CIFAR-10.

Each of 8 layers picks one of 3 ops: 0 identity, 1 inverted bottleneck (expansion 3, kernel 3),
2 inverted bottleneck (expansion 6, kernel 5). The DNA vector is the 8 digits of the official
key (``"22212220"`` → ``[2, 2, 2, 1, 2, 2, 2, 0]``). Loaded arrays are ordered so that row i is
the child whose vector has mixed-radix index i (layer 0 most significant) — the order of
:class:`budgetnas.cost.TableCost` — so a batch of children is priced with one gather.

Example
-------
>>> table = load_nas_bench_macro("../shared/data/nas/nas-bench-macro_cifar10.json")
>>> int(table.params[table.index([[2, 2, 2, 1, 2, 2, 2, 0]])[0]])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.errors import DataError

MACRO_OPS: tuple[str, ...] = ("identity", "ib_e3_k3", "ib_e6_k5")
MACRO_LAYERS = 8
MACRO_SIZE = len(MACRO_OPS) ** MACRO_LAYERS  # 6561

__all__ = ["MACRO_LAYERS", "MACRO_OPS", "MACRO_SIZE", "MacroTable", "load_nas_bench_macro",
           "macro_space"]


@dataclass(frozen=True)
class MacroTable:
    """NAS-Bench-Macro as arrays over all 6,561 children (row = mixed-radix index of the vector).

    Attributes
    ----------
    X : int64 (6561, 8)
        DNA vector of each row.
    mean_acc : float64 (6561,)
        CIFAR-10 test accuracy in %, mean of 3 runs (the benchmark has no separate validation
        split; search and report on it, as its paper does).
    test_acc : float64 (6561, 3)
        The three runs' accuracies in %.
    params : float64 (6561,)
        Parameters (weights + biases).
    flops : float64 (6561,)
        As stored in the benchmark file (its paper calls them FLOPs).
    """

    X: np.ndarray
    mean_acc: np.ndarray
    test_acc: np.ndarray
    params: np.ndarray
    flops: np.ndarray

    def index(self, X: Any) -> np.ndarray:
        """Row (n,) of each DNA vector of ``X`` (int ``(n, 8)``)."""
        X = np.asarray(X, dtype=np.int64).reshape(-1, MACRO_LAYERS)
        return X @ (len(MACRO_OPS) ** np.arange(MACRO_LAYERS - 1, -1, -1))


def load_nas_bench_macro(path: str | os.PathLike[str]) -> MacroTable:
    """Read ``nas-bench-macro_cifar10.json`` into a :class:`MacroTable`.

    Raises
    ------
    FileNotFoundError
        When the file is missing (nothing is downloaded).
    DataError
        When a key is not 8 digits in 0..2 or the file does not hold each child exactly once.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NAS-Bench-Macro file {path} does not exist (pass the local "
                                "nas-bench-macro_cifar10.json; nothing is downloaded)")
    with open(path) as fh:
        raw = json.load(fh)
    strides = len(MACRO_OPS) ** np.arange(MACRO_LAYERS - 1, -1, -1)
    X = np.empty((MACRO_SIZE, MACRO_LAYERS), dtype=np.int64)
    mean_acc = np.full(MACRO_SIZE, np.nan)
    test_acc = np.full((MACRO_SIZE, 3), np.nan)
    params = np.full(MACRO_SIZE, np.nan)
    flops = np.full(MACRO_SIZE, np.nan)
    seen = np.zeros(MACRO_SIZE, dtype=bool)
    for key, rec in raw.items():
        if len(key) != MACRO_LAYERS or any(ch not in "012" for ch in key):
            raise DataError(f"{path}: key {key!r} is not {MACRO_LAYERS} digits in 0..2")
        x = np.array([int(ch) for ch in key], dtype=np.int64)
        i = int(x @ strides)
        X[i], seen[i] = x, True
        mean_acc[i] = rec["mean_acc"]
        test_acc[i] = rec["test_acc"]
        params[i], flops[i] = rec["params"], rec["flops"]
    if not seen.all():
        raise DataError(f"{path}: expected all {MACRO_SIZE} architectures, got {int(seen.sum())}")
    return MacroTable(X, mean_acc, test_acc, params, flops)


def macro_space() -> Any:
    """The NAS-Bench-Macro space: 8 layers, each ``oneof(MACRO_OPS)``, named ``layer<i>``."""
    from budgetnas.space import Space, oneof

    return Space({"layers": [oneof(list(MACRO_OPS), name=f"layer{i}")
                             for i in range(MACRO_LAYERS)]})
