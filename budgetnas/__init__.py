"""budgetnas: neural architecture search under resource budgets, in PyTorch.

The public API, re-exported here: search spaces (``oneof``, ``manyof``, ``floatv``, ``Space``,
``DNA``), search algorithms (``Random``, ``Grid``, ``Dedup``, ...), and studies (``Study``,
``sample``).
"""

from budgetnas.errors import (
    BudgetNASError,
    DataError,
    InfeasibleBudgetError,
    InvalidDNAError,
    SearchExhausted,
    SpaceError,
    TrialError,
)
from budgetnas.search import Dedup, Grid, Random, SearchAlgorithm
from budgetnas.space import DNA, Call, Space, floatv, manyof, oneof, symbolic
from budgetnas.study import (
    InMemoryStorage,
    StopByRank,
    StopByValue,
    Study,
    Trial,
    TrialPruned,
    TrialState,
    sample,
)

__version__ = "0.1.0"

__all__ = [
    "DNA", "BudgetNASError", "Call", "DataError", "Dedup", "Grid", "InMemoryStorage",
    "InfeasibleBudgetError", "InvalidDNAError", "Random", "SearchAlgorithm", "SearchExhausted",
    "Space", "SpaceError", "StopByRank", "StopByValue", "Study", "Trial", "TrialError",
    "TrialPruned", "TrialState", "floatv", "manyof", "oneof", "sample", "symbolic",
]
