"""budgetnas: neural architecture search under resource budgets, in PyTorch.

The public API, re-exported here: search spaces (``oneof``, ``manyof``, ``floatv``, ``Space``,
``DNA``), search algorithms (``Random``, ``Grid``, ``Dedup``, ``RegularizedEvolution``,
``Reinforce``, ``TabNAS``, ``NeuralPredictor``), constraints and cost models (``Constraint``,
``FunctionCost``, the ``cost`` package), and studies (``Study``, ``sample``).
"""

from budgetnas import cost
from budgetnas.cost import Constraint, CostModel, FunctionCost
from budgetnas.errors import (
    BudgetNASError,
    DataError,
    InfeasibleBudgetError,
    InvalidDNAError,
    SearchConfigError,
    SearchExhausted,
    SpaceError,
    TrialError,
)
from budgetnas.search import (
    Dedup,
    Grid,
    NeuralPredictor,
    Random,
    RegularizedEvolution,
    Reinforce,
    SearchAlgorithm,
    TabNAS,
)
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
    "DNA", "BudgetNASError", "Call", "Constraint", "CostModel", "DataError", "Dedup",
    "FunctionCost", "Grid", "InMemoryStorage", "NeuralPredictor", "RegularizedEvolution",
    "Reinforce", "TabNAS", "cost",
    "InfeasibleBudgetError", "InvalidDNAError", "Random", "SearchAlgorithm", "SearchConfigError", "SearchExhausted",
    "Space", "SpaceError", "StopByRank", "StopByValue", "Study", "Trial", "TrialError",
    "TrialPruned", "TrialState", "floatv", "manyof", "oneof", "sample", "symbolic",
]
