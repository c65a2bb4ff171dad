"""Hyper primitives: values that mark where a search space may vary.

A search space is an ordinary Python value (dicts, lists, tuples, dataclasses, symbolic calls)
in which some leaves are replaced by hyper primitives (PyGlove, Peng et al. 2020, §3):

>>> import budgetnas as bn
>>> block = {"kernel": bn.oneof([3, 5, 7]), "width": bn.oneof([16, 32])}

A candidate of ``oneof`` / ``manyof`` may itself contain primitives: those decision points are
*conditional* and active only when their candidate is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from budgetnas.errors import SpaceError

__all__ = ["HyperPrimitive", "OneOf", "ManyOf", "FloatV", "Call", "oneof", "manyof", "floatv",
           "symbolic"]


class HyperPrimitive:
    """Base class of the values that mark a decision point in a search space."""

    name: str | None

    def _check_name(self, name: str | None) -> str | None:
        if name is not None and (not isinstance(name, str) or not name):
            raise SpaceError(f"a decision point's name must be a non-empty string, got {name!r}")
        return name


class OneOf(HyperPrimitive):
    """Choose one of ``candidates``. See :func:`oneof`."""

    __slots__ = ("candidates", "name")

    def __init__(self, candidates: Sequence[Any], name: str | None = None) -> None:
        candidates = _as_candidates(candidates, "oneof")
        self.candidates = candidates
        self.name = self._check_name(name)

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        return f"oneof({list(self.candidates)!r}{label})"


class ManyOf(HyperPrimitive):
    """Choose ``k`` of ``candidates`` (a list of k values). See :func:`manyof`."""

    __slots__ = ("k", "candidates", "distinct", "sorted", "name")

    def __init__(self, k: int, candidates: Sequence[Any], distinct: bool = True,
                 sorted: bool = False, name: str | None = None) -> None:  # noqa: A002
        candidates = _as_candidates(candidates, "manyof")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise SpaceError(f"manyof: k must be a positive integer, got {k!r}")
        if distinct and k > len(candidates):
            raise SpaceError(
                f"manyof: cannot choose k={k} distinct values from {len(candidates)} candidates; "
                "lower k, add candidates, or pass distinct=False")
        self.k, self.candidates = k, candidates
        self.distinct, self.sorted = bool(distinct), bool(sorted)
        self.name = self._check_name(name)

    def __repr__(self) -> str:
        return (f"manyof({self.k}, {list(self.candidates)!r}, distinct={self.distinct}, "
                f"sorted={self.sorted})")


class FloatV(HyperPrimitive):
    """A float in ``[low, high]``. See :func:`floatv`."""

    __slots__ = ("low", "high", "scale", "name")

    def __init__(self, low: float, high: float, scale: str | None = None,
                 name: str | None = None) -> None:
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SpaceError(f"floatv: bounds must be finite, got low={low}, high={high}")
        if low >= high:
            raise SpaceError(f"floatv: low must be < high, got low={low}, high={high}")
        if scale not in (None, "linear", "log"):
            raise SpaceError(f"floatv: scale must be None, 'linear' or 'log', got {scale!r}")
        if scale == "log" and low <= 0:
            raise SpaceError(f"floatv: a log scale needs low > 0, got low={low}")
        self.low, self.high, self.scale = low, high, scale
        self.name = self._check_name(name)

    def __repr__(self) -> str:
        return f"floatv({self.low}, {self.high}, scale={self.scale!r})"


class Call:
    """A symbolic call ``fn(*args, **kwargs)`` whose arguments may hold hyper primitives.

    Materialising the space calls ``fn`` with concrete arguments, so an existing class (an
    ``nn.Module`` constructor, say) becomes a space by replacing a few argument values:

    >>> import torch.nn as nn
    >>> layer = bn.Call(nn.Linear, 8, bn.oneof([16, 32]))
    """

    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(fn):
            raise SpaceError(f"Call needs a callable, got {fn!r}")
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{getattr(self.fn, '__name__', self.fn)}({', '.join(parts)})"


def symbolic(fn: Callable[..., Any]) -> Callable[..., Call]:
    """Wrap ``fn`` so that calling it returns a symbolic :class:`Call` instead of running it.

    >>> Linear = bn.symbolic(torch.nn.Linear)
    >>> space = bn.Space(Linear(8, bn.oneof([16, 32])))
    """

    def make(*args: Any, **kwargs: Any) -> Call:
        return Call(fn, *args, **kwargs)

    make.__name__ = getattr(fn, "__name__", "symbolic")
    make.__doc__ = getattr(fn, "__doc__", None)
    return make


def oneof(candidates: Sequence[Any], name: str | None = None) -> OneOf:
    """A decision point that picks one of ``candidates``.

    Parameters
    ----------
    candidates : sequence
        At least one value; a candidate may contain further primitives (conditional decisions).
    name : str, optional
        A stable name for the decision point; defaults to its path in the value.

    Raises
    ------
    SpaceError
        If ``candidates`` is empty or not a sequence.
    """
    return OneOf(candidates, name)


def manyof(k: int, candidates: Sequence[Any], distinct: bool = True, sorted: bool = False,  # noqa: A002
           name: str | None = None) -> ManyOf:
    """A decision point that picks ``k`` of ``candidates``; materialises to a list of k values.

    ``distinct`` forbids repeats; ``sorted`` keeps the chosen indices non-decreasing (strictly
    increasing when distinct), so order does not matter.

    Raises
    ------
    SpaceError
        If ``candidates`` is empty, ``k < 1``, or ``k > len(candidates)`` with ``distinct=True``.
    """
    return ManyOf(k, candidates, distinct, sorted, name)


def floatv(low: float, high: float, scale: str | None = None, name: str | None = None) -> FloatV:
    """A continuous decision point in ``[low, high]``; ``scale="log"`` samples log-uniformly.

    Raises
    ------
    SpaceError
        If ``low >= high``, a bound is not finite, or ``scale="log"`` with ``low <= 0``.
    """
    return FloatV(low, high, scale, name)


def _as_candidates(candidates: Any, what: str) -> tuple[Any, ...]:
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence):
        raise SpaceError(f"{what}: candidates must be a list or tuple, got {type(candidates).__name__}")
    if len(candidates) == 0:
        raise SpaceError(f"{what}: the candidate list is empty; give at least one candidate")
    return tuple(candidates)
