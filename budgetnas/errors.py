"""Exception types of budgetnas. Every error says what was expected, what was given, and how to fix it."""

from __future__ import annotations


class BudgetNASError(Exception):
    """Base class of every error budgetnas raises on purpose."""


class SpaceError(BudgetNASError, ValueError):
    """A search space is ill-defined (empty candidates, duplicate names, bad bounds)."""


class InvalidDNAError(BudgetNASError, ValueError):
    """A DNA does not belong to the space it is used with (wrong length, value out of range)."""


class SearchExhausted(BudgetNASError):
    """A finite search space has no unseen child left; the algorithm stops cleanly."""


class InfeasibleBudgetError(BudgetNASError, ValueError):
    """No child of the space fits the budget. The message names the smallest achievable cost."""


class TrialError(BudgetNASError, RuntimeError):
    """A trial was used out of order (e.g. a new ask while a trial is neither told nor skipped)."""


class DataError(BudgetNASError, ValueError):
    """Input data cannot be used (missing target column, one-class target, unreadable file)."""


class CostError(BudgetNASError, ValueError):
    """A cost model or constraint is used wrongly (unknown unit, batch of the wrong shape, bad budget)."""


class LookupMissError(BudgetNASError, KeyError):
    """A latency lookup table has no entry for a layer signature. The message names the nearest ones."""

    def __str__(self) -> str:  # KeyError would repr() the message; show it as written
        return str(self.args[0]) if self.args else ""


class LayerConfigError(BudgetNASError, ValueError):
    """A layer, block or training recipe got inconsistent arguments (unknown activation, bad groups)."""
