"""The search's progress bars: a count and an ETA when the length is known, neither
``N/?`` nor an empty ``ETA`` when it is not."""

from __future__ import annotations

import io
import time

from rich.console import Console

from budgetnas.cli.search import _Progress


def render(progress: _Progress) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=False, color_system=None)
    console.print(progress._bar.make_tasks_table(progress._bar.tasks))
    return buffer.getvalue()


def test_known_and_unknown_lengths():
    console = Console(file=io.StringIO(), width=120)
    with _Progress(console, quiet=False) as progress:
        progress.update("search", 0, 400)
        time.sleep(0.05)
        progress.update("search", 100, 400)
        time.sleep(0.05)
        progress.update("search", 200, 400)
        progress.update("random", 4, None)
        lines = {line.split()[0]: line for line in render(progress).splitlines() if line.strip()}
    search, random_ = lines["Searching"], lines["Random"]
    assert "200/400" in search and "ETA 0:00:0" in search
    assert "Random children" in random_ and " 4 " in random_
    assert "/?" not in random_ and "ETA" not in random_


def test_quiet_draws_nothing():
    buffer = io.StringIO()
    with _Progress(Console(file=buffer), quiet=True) as progress:
        progress.update("random", 3, None)
    assert buffer.getvalue() == ""
