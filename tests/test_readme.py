"""The README's Python tour runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest

import budgetnas as bn

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    text = README.read_text()
    return [b.split("```")[0] for b in text.split("```python\n")[1:]]


def test_readme_tour_runs_and_the_impossible_budget_names_the_minimum():
    blocks = _python_blocks()
    assert len(blocks) >= 2
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)  # noqa: S102 -- our own README
    with pytest.raises(bn.InfeasibleBudgetError, match="36864"):
        exec(compile(blocks[1], "README.md", "exec"), scope)  # noqa: S102
    best = scope["study"].best_trial
    assert scope["macs"](best.dna) <= 100_000
    assert len(scope["study"].completed_trials()) == 200
