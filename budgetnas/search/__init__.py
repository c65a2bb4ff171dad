"""Search algorithms: they see the spec and DNA only (PyGlove's split)."""

from budgetnas.search.base import SearchAlgorithm, reward_of
from budgetnas.search.controller import CategoricalController, EMABaseline, tunas_schedule
from budgetnas.search.dedup import Dedup
from budgetnas.search.evolution import RegularizedEvolution
from budgetnas.search.feasibility import Budget, ChainCost, Feasibility
from budgetnas.search.grid import Grid
from budgetnas.search.mutation import Mutator
from budgetnas.search.predictor import NeuralPredictor, nb201_graph, onehot_encode
from budgetnas.search.random import Random
from budgetnas.search.reinforce import PolicySearch, Reinforce
from budgetnas.search.rewards import (
    absolute_reward,
    make_reward,
    mnas_hard_reward,
    mnas_soft_reward,
)
from budgetnas.search.tabnas import TabNAS

__all__ = [
    "Budget", "CategoricalController", "ChainCost", "Dedup", "EMABaseline", "Feasibility", "Grid",
    "Mutator", "NeuralPredictor", "PolicySearch", "Random", "RegularizedEvolution", "Reinforce",
    "SearchAlgorithm", "TabNAS", "absolute_reward", "make_reward", "mnas_hard_reward",
    "mnas_soft_reward", "nb201_graph", "onehot_encode", "reward_of", "tunas_schedule",
]
