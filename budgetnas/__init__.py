"""budgetnas: neural architecture search under resource budgets, in PyTorch."""

__version__ = "0.1.0"
