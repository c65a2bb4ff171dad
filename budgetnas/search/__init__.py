"""Search algorithms: they see the spec and DNA only (PyGlove's split)."""

from budgetnas.search.base import SearchAlgorithm, reward_of
from budgetnas.search.dedup import Dedup
from budgetnas.search.grid import Grid
from budgetnas.search.random import Random

__all__ = ["Dedup", "Grid", "Random", "SearchAlgorithm", "reward_of"]
