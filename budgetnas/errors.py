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


class SupernetError(BudgetNASError, ValueError):
    """A child does not fit its weight-sharing supernet (too deep, a width above a layer's maximum)."""


class SearchConfigError(BudgetNASError, ValueError):
    """A search algorithm got inconsistent settings (a reward's β of the wrong sign, a tournament
    larger than the population, a controller on a space it cannot model)."""


class StoreError(BudgetNASError, RuntimeError):
    """An experiment store cannot be used (unreachable database, unknown study, corrupt checkpoint)."""


class SchemaVersionError(StoreError):
    """A store was written by a newer budgetnas (its schema version is above the one this code knows)."""


class SettingsMismatchError(BudgetNASError, ValueError):
    """A run is resumed with settings other than those it started with (pass ``force=True`` to override)."""


class WorkerCrashedError(BudgetNASError, RuntimeError):
    """A worker process died while running a trial (killed, out of memory, segfault)."""


class ArchitectureError(BudgetNASError, ValueError):
    """A child architecture is malformed: an unparsable architecture string, an unknown op, or a
    skipped layer whose absence would change the tensor shape."""
