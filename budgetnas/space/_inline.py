"""Fuse the builders of a space's static parts into one Python expression (a speed detail).

A compiled space is a tree of small builder functions; calling one per dict, list and leaf costs
a Python call each. The containers and leaves that need no bookkeeping (plain dicts, lists,
tuples, dataclasses, shared constants, ``oneof`` over constants, ``floatv``) also describe
themselves as an expression over the DNA iterator ``it``, e.g. for one block of the
12-decision space ``{_v0: _v1[_n(it)], _v2: _v3[_n(it)]}``. The root and every candidate of a
choice are compiled from their expression once, so materialising runs as a few bytecodes per
value. Python evaluates displays and arguments left to right, which keeps the depth-first
order of the decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Inliner"]

MAX_DEPTH = 50  # the compiler's nesting limit is about 200 parentheses


class Inliner:
    """Names values for generated expressions and compiles builders from them."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_n": next}
        self._count = 0

    def name(self, value: Any) -> str:
        key = f"_v{self._count}"
        self._count += 1
        self.env[key] = value
        return key

    def ref(self, build: Callable) -> tuple[str, int]:
        """An expression (and its nesting depth) that builds what ``build`` builds."""
        expr = getattr(build, "expr", None)
        if expr is not None:
            return expr
        return f"{self.name(build)}(it)", 1

    def join(self, builds: Sequence[Callable]) -> tuple[str, int]:
        """Comma-separated expressions of ``builds`` and their deepest nesting."""
        refs = [self.ref(b) for b in builds]
        return ", ".join(r[0] for r in refs), max((r[1] for r in refs), default=0)

    def function(self, build: Callable) -> Callable:
        """``build`` compiled from its expression (or ``build`` itself if it has none)."""
        expr = getattr(build, "expr", None)
        if expr is None or expr[1] > MAX_DEPTH:
            return build
        code = compile(f"lambda it: {expr[0]}", "<budgetnas space>", "eval")
        return eval(code, self.env)  # noqa: S307 -- source made here from names, not input
