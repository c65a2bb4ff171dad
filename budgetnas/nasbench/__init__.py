"""Tabular NAS benchmarks (architecture -> measured results) as arrays over DNA vectors.

Readers take a local path (the package ships no benchmark files) and give arrays whose row i is
the child with mixed-radix index i of its DNA vector, so a :class:`budgetnas.cost.TableCost`
prices a batch of children with one gather.
"""

from budgetnas.nasbench.macro import MACRO_OPS, MacroTable, load_nas_bench_macro, macro_space
from budgetnas.nasbench.nb201 import (
    NB201_EDGES,
    NB201_OPS,
    cellstr_to_vector,
    cellstrs_to_vectors,
    load_nb201_accuracy,
    load_nb201_latency,
    nb201_space,
    vector_to_cellstr,
)

__all__ = ["MACRO_OPS", "MacroTable", "load_nas_bench_macro", "macro_space", "NB201_EDGES", "NB201_OPS", "cellstr_to_vector", "cellstrs_to_vectors",
           "load_nb201_accuracy", "load_nb201_latency", "nb201_space", "vector_to_cellstr"]
