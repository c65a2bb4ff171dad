"""The spec of a search space: its decision points, as search algorithms see them.

Decision points are numbered in depth-first order, parents before children. A conditional
decision point records its ``parent`` (the decision that gates it) and ``parent_choice`` (the
candidate index that activates it). A manyof(k, ...) contributes k consecutive *slots*, one
decision point each, tied by a group that imposes ``distinct`` / ``sorted``.

The flat vector form of a DNA has one entry per decision point: the candidate index, ``-1`` for
an inactive decision (``NaN`` for an inactive float). Batches are ``(n, D)`` numpy arrays, which
keeps the sample → cost → accept path on integers (PyGlove's runtime type checks are what make
it slow, papers.md §1).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from budgetnas.errors import InvalidDNAError, SpaceError
from budgetnas.space.dna import DNA

__all__ = ["DecisionPoint", "ManyOfGroup", "Spec"]


@dataclass(frozen=True)
class DecisionPoint:
    """One decision of a search space.

    Attributes
    ----------
    index : int
        Position in the flat vector form (depth-first order).
    name, path : str
        ``name`` is the user's name or, by default, the path (e.g. ``"blocks[0].kernel"``).
    kind : str
        ``"choice"`` or ``"float"``.
    num_choices : int
        Number of candidates (0 for a float).
    candidates : tuple
        The candidate values (templates; may hold nested primitives). Empty for a float.
    parent, parent_choice : int
        The gating decision's index and the candidate that activates this one (-1, -1 if none).
    low, high, scale :
        Bounds and scale of a float decision.
    group : int
        Index into ``Spec.groups`` for a manyof slot, else -1.
    """

    index: int
    name: str
    path: str
    kind: str
    num_choices: int
    candidates: tuple = ()
    parent: int = -1
    parent_choice: int = -1
    low: float = 0.0
    high: float = 0.0
    scale: str | None = None
    group: int = -1

    def describe_allowed(self) -> str:
        """The allowed values, for error messages."""
        if self.kind == "float":
            return f"a float in [{self.low}, {self.high}]"
        shown = ", ".join(f"{i}={_short(c)}" for i, c in enumerate(self.candidates[:12]))
        more = ", ..." if self.num_choices > 12 else ""
        return f"an int in 0..{self.num_choices - 1} ({shown}{more})"


@dataclass(frozen=True)
class ManyOfGroup:
    """The k slots of one manyof and the rule that ties them."""

    slots: tuple[int, ...]
    distinct: bool
    sorted: bool
    name: str


@dataclass
class Spec:
    """The decision points of a space, with array views for fast batched work.

    Built by :class:`budgetnas.Space`; search algorithms receive it through ``setup(spec)``.
    """

    decision_points: list[DecisionPoint]
    groups: list[ManyOfGroup] = field(default_factory=list)
    subtree_sizes: Any = None  # exact size, computed by the space

    def __post_init__(self) -> None:
        dps = self.decision_points
        self.num_decisions = len(dps)
        self.num_choices = np.array([d.num_choices for d in dps], dtype=np.int64)
        self.parent = np.array([d.parent for d in dps], dtype=np.int64)
        self.parent_choice = np.array([d.parent_choice for d in dps], dtype=np.int64)
        self.is_choice_only = all(d.kind == "choice" for d in dps)
        self.is_conditional = bool((self.parent >= 0).any())
        self._slot_of = {s: g for g in self.groups for s in g.slots}
        self._by_name = {d.name: d for d in dps}
        # Plain-Python views for the per-DNA paths (numpy scalar indexing costs ~100 ns a time).
        self._nc = self.num_choices.tolist()
        self._is_float = [d.kind == "float" for d in dps]
        self._gated = [(d.index, d.parent, d.parent_choice) for d in dps if d.parent >= 0]
        self._inactive = [-1 if d.kind == "choice" else math.nan for d in dps]
        # Choice-only, unconditional, no manyof: a DNA is valid iff it is D ints in range.
        self._plain = self.is_choice_only and not self.is_conditional and not self.groups

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return self.num_decisions

    def __getitem__(self, key: int | str) -> DecisionPoint:
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise KeyError(f"no decision point named {key!r}; names: "
                               f"{list(self._by_name)[:20]}") from None
        return self.decision_points[key]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.decision_points]

    @property
    def size(self) -> int | float:
        """Exact number of children (``math.inf`` with a float decision)."""
        return self.subtree_sizes

    # ------------------------------------------------------------------ DNA <-> vector
    def to_vector(self, dna: Sequence[Any]) -> np.ndarray:
        """The flat vector of a DNA: shape ``(D,)``, int64 (float64 with floats), -1 if inactive.

        Inactive float decisions are ``NaN``.

        Raises
        ------
        InvalidDNAError
            If the DNA is too short, too long, or a value is out of range; the message names the
            decision point and its allowed values.
        """
        dtype = np.int64 if self.is_choice_only else np.float64
        values = tuple(dna)
        if self._plain and self._plain_ok(values):
            return np.array(values, dtype=dtype)
        return np.array(self._checked_list(values), dtype=dtype)

    def _plain_ok(self, values: tuple) -> bool:
        if len(values) != self.num_decisions:
            return False
        for v, m in zip(values, self._nc):
            if type(v) is not int or not 0 <= v < m:
                return False
        return True

    def _checked_list(self, values: tuple) -> list:
        """The flat vector of ``values`` as a list, checking every decision (the slow, general path)."""
        out = list(self._inactive)
        active = [False] * self.num_decisions
        pos = 0
        for dp in self.decision_points:
            p = dp.parent
            if p >= 0 and not (active[p] and out[p] == dp.parent_choice):
                continue
            if pos >= len(values):
                raise InvalidDNAError(
                    f"DNA {list(values)!r} is too short for this space: decision point "
                    f"{dp.name!r} has no value (expected {dp.describe_allowed()})")
            v = values[pos]
            pos += 1
            out[dp.index] = self._check_value(dp, v, out)
            active[dp.index] = True
        if pos != len(values):
            raise InvalidDNAError(
                f"DNA {list(values)!r} has {len(values) - pos} value(s) more than this space's "
                f"{pos} active decision point(s); is it a DNA of another space?")
        return out

    def from_vector(self, vec: Sequence[Any]) -> DNA:
        """The DNA of a flat vector (inactive entries dropped). Shape ``(D,)``.

        Values are not range-checked (use :meth:`validate` for vectors of unknown origin).

        Raises
        ------
        InvalidDNAError
            If ``vec`` does not have shape ``(D,)``.
        """
        arr = np.asarray(vec)
        if arr.shape != (self.num_decisions,):
            raise InvalidDNAError(
                f"a DNA vector of this space has shape ({self.num_decisions},), got {arr.shape}")
        return self._row_to_dna(self._as_row_list(arr))

    def from_vectors(self, X: np.ndarray) -> list[DNA]:
        """The DNA of each row of ``X`` (shape ``(n, D)``), inactive entries dropped."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.num_decisions:
            raise InvalidDNAError(
                f"a batch of DNA vectors of this space has shape (n, {self.num_decisions}), "
                f"got {X.shape}")
        rows = self._as_row_list(X)
        if self.is_choice_only and not self.is_conditional:
            return [DNA._trusted(r) for r in rows]
        return [self._row_to_dna(r) for r in rows]

    def _as_row_list(self, arr: np.ndarray) -> list:
        if self.is_choice_only and arr.dtype.kind not in "iu":
            arr = arr.astype(np.int64)
        return arr.tolist()

    def _row_to_dna(self, row: list) -> DNA:
        """DNA of one vector given as a plain list (ints for choice-only spaces)."""
        if self.is_conditional:
            active = [True] * self.num_decisions
            for d, p, pc in self._gated:  # parents precede children, so one pass suffices
                active[d] = active[p] and row[p] == pc
            if self.is_choice_only:
                return DNA._trusted([v for v, a in zip(row, active) if a])
        elif self.is_choice_only:
            return DNA._trusted(row)
        else:
            active = [True] * self.num_decisions
        return DNA._trusted([v if f else int(v)
                             for v, a, f in zip(row, active, self._is_float) if a])

    def validate(self, dna: Sequence[Any]) -> DNA:
        """Check a DNA against this space and return it as :class:`DNA` (ints for choices,
        floats for ``floatv`` decisions).

        Raises
        ------
        InvalidDNAError
            Naming the decision point and the allowed values.
        """
        values = dna if isinstance(dna, tuple) else tuple(dna)
        if self._plain and self._plain_ok(values):
            return dna if isinstance(dna, DNA) else DNA._trusted(list(values))
        vec = self._checked_list(values)
        # canonical types: an int given for a float decision materialises as a float
        return self._row_to_dna(vec)

    def _check_value(self, dp: DecisionPoint, v: Any, vec: np.ndarray) -> Any:
        if dp.kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise InvalidDNAError(f"decision point {dp.name!r} expects {dp.describe_allowed()}, got {v!r}")
            if not dp.low <= float(v) <= dp.high:
                raise InvalidDNAError(
                    f"decision point {dp.name!r} got {v!r}; expected {dp.describe_allowed()}")
            return float(v)
        if isinstance(v, (bool, float)) or not isinstance(v, (int, np.integer)):
            raise InvalidDNAError(f"decision point {dp.name!r} expects {dp.describe_allowed()}, got {v!r}")
        if not 0 <= v < dp.num_choices:
            raise InvalidDNAError(
                f"decision point {dp.name!r} got {v}; expected {dp.describe_allowed()}")
        g = self._slot_of.get(dp.index)
        if g is not None:
            earlier = [int(vec[s]) for s in g.slots if s < dp.index]
            if g.distinct and v in earlier:
                raise InvalidDNAError(
                    f"manyof {g.name!r} is distinct but slot {dp.name!r} repeats candidate {v}")
            if g.sorted and earlier and (v < earlier[-1] or (g.distinct and v == earlier[-1])):
                raise InvalidDNAError(
                    f"manyof {g.name!r} is sorted but slot {dp.name!r} has {v} after {earlier[-1]}")
        return int(v)

    # ------------------------------------------------------------------ batches
    def active_mask(self, X: np.ndarray) -> np.ndarray:
        """Which decisions are active in each row of ``X`` (shape ``(n, D)``) → bool ``(n, D)``."""
        X = np.asarray(X)
        active = np.ones(X.shape, dtype=bool)
        if not self.is_conditional:
            return active
        for d in np.flatnonzero(self.parent >= 0):
            p = self.parent[d]
            active[:, d] = active[:, p] & (X[:, p] == self.parent_choice[d])
        return active

    def sample_batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniformly random children as flat vectors: shape ``(n, D)``.

        Each decision is uniform over its candidates (as PyGlove's random search); floats are
        uniform in their range (log-uniform with ``scale="log"``). Returns int64 for choice-only
        spaces, float64 otherwise; -1 (NaN for floats) marks inactive decisions.
        """
        D = self.num_decisions
        if self.is_choice_only:
            X = (rng.random((n, D)) * self.num_choices).astype(np.int64)
        else:
            U = rng.random((n, D))
            X = np.empty((n, D), dtype=np.float64)
            for dp in self.decision_points:
                u = U[:, dp.index]
                if dp.kind == "choice":
                    X[:, dp.index] = np.floor(u * dp.num_choices)
                elif dp.scale == "log":
                    X[:, dp.index] = np.exp(np.log(dp.low) + u * (np.log(dp.high) - np.log(dp.low)))
                else:
                    X[:, dp.index] = dp.low + u * (dp.high - dp.low)
        for g in self.groups:
            self._sample_group(g, X, rng)
        if self.is_conditional:
            active = self.active_mask(X)
            X[~active] = -1 if self.is_choice_only else np.nan
            if not self.is_choice_only:
                choice_cols = [dp.index for dp in self.decision_points if dp.kind == "choice"]
                sub = X[:, choice_cols]
                sub[np.isnan(sub)] = -1
                X[:, choice_cols] = sub
        return X

    def _sample_group(self, g: ManyOfGroup, X: np.ndarray, rng: np.random.Generator) -> None:
        n, k = X.shape[0], len(g.slots)
        m = self.decision_points[g.slots[0]].num_choices
        if g.distinct:
            picks = np.argsort(rng.random((n, m)), axis=1)[:, :k]
        else:
            picks = (rng.random((n, k)) * m).astype(np.int64)
        if g.sorted:
            picks = np.sort(picks, axis=1)
        X[:, list(g.slots)] = picks

    def sample(self, rng: np.random.Generator) -> DNA:
        """One uniformly random child's DNA (see :meth:`sample_batch`)."""
        return self.from_vector(self.sample_batch(1, rng)[0])

    # ------------------------------------------------------------------ enumeration
    def iter_vectors(self) -> Iterator[np.ndarray]:
        """Every child as a flat vector, lazily, in lexicographic depth-first order.

        Raises
        ------
        SpaceError
            If the space has a float decision (it is infinite).
        """
        if not self.is_choice_only:
            raise SpaceError("cannot enumerate a space with floatv decisions: it is infinite")
        vec = np.full(self.num_decisions, -1, dtype=np.int64)
        yield from self._enumerate(0, vec)

    def iter_dna(self, start: int = 0) -> Iterator[DNA]:
        """Every child's DNA, lazily, in lexicographic depth-first order, from the ``start``-th.

        Raises
        ------
        SpaceError
            If the space has a float decision (it is infinite).
        """
        if not self.is_choice_only:
            raise SpaceError("cannot enumerate a space with floatv decisions: it is infinite")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        return self._iter_dna(start)

    def _iter_dna(self, start: int) -> Iterator[DNA]:
        if self._plain:  # a product of ranges: C-speed enumeration and skipping
            grid = itertools.product(*(range(m) for m in self._nc))
            for t in itertools.islice(grid, start, None):
                yield tuple.__new__(DNA, t)
            return
        for vec in itertools.islice(self.iter_vectors(), start, None):
            yield DNA._trusted([x for x in vec.tolist() if x >= 0])

    def _enumerate(self, d: int, vec: np.ndarray) -> Iterator[np.ndarray]:
        D = self.num_decisions
        while d < D:
            p = self.parent[d]
            if p < 0 or vec[p] == self.parent_choice[d]:
                break
            vec[d] = -1
            d += 1
        if d == D:
            yield vec.copy()
            return
        for c in self._allowed(d, vec):
            vec[d] = c
            yield from self._enumerate(d + 1, vec)
        vec[d] = -1

    def _allowed(self, d: int, vec: np.ndarray) -> range | list[int]:
        m = int(self.num_choices[d])
        g = self._slot_of.get(d)
        if g is None or g.slots[0] == d:
            return range(m)
        earlier = [int(vec[s]) for s in g.slots if s < d]
        lo = earlier[-1] + (1 if g.distinct else 0) if g.sorted else 0
        return [c for c in range(lo, m) if not (g.distinct and c in earlier)]

    def first_dna(self) -> DNA:
        """The first child in enumeration order (every choice at candidate 0 where allowed)."""
        return next(self.iter_dna())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def count_choices(sizes: list[int | float], k: int, distinct: bool, sorted_: bool) -> int | float:
    """Number of ways to fill k manyof slots whose candidates have subtree ``sizes``."""
    if any(math.isinf(s) for s in sizes):
        return math.inf
    if not distinct and not sorted_:
        return sum(sizes) ** k
    # e_k (distinct, sorted) or h_k (repeats, sorted) by dynamic programming over candidates.
    dp = [1] + [0] * k
    for s in sizes:
        if distinct:
            for j in range(k, 0, -1):
                dp[j] += dp[j - 1] * s
        else:
            for j in range(1, k + 1):
                dp[j] += dp[j - 1] * s
    return dp[k] * (math.factorial(k) if distinct and not sorted_ else 1)
