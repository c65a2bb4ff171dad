"""Mutation of one child: re-sample one active decision point and its subtree (PyGlove's uniform
mutator, Peng et al. 2020, §3; the operator of regularized evolution, Real et al. 2019).

Works on flat DNA vectors (``Spec.to_vector`` form: -1 / NaN for inactive decisions). One call
draws from the given ``numpy.random.Generator`` only, so a seeded search stays reproducible
(PyGlove's default mutator ignores the seed, papers.md §1).
"""

from __future__ import annotations

import numpy as np

from budgetnas.space import Spec

__all__ = ["Mutator", "full_random_vector"]


def full_random_vector(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    """A random value for *every* decision point, active or not: shape ``(D,)``.

    Unlike :meth:`Spec.sample_batch` nothing is masked, so a subtree that a mutation activates
    can take its values from here. manyof groups are valid (distinct / sorted respected).
    """
    X = spec.sample_batch(1, rng)[0] if not spec.is_conditional else None
    if X is not None:
        return X
    D = spec.num_decisions
    out = np.empty(D, dtype=np.int64 if spec.is_choice_only else np.float64)
    u = rng.random(D)
    for dp in spec.decision_points:
        if dp.kind == "choice":
            out[dp.index] = int(u[dp.index] * dp.num_choices)
        elif dp.scale == "log":
            out[dp.index] = np.exp(np.log(dp.low) + u[dp.index] * (np.log(dp.high) - np.log(dp.low)))
        else:
            out[dp.index] = dp.low + u[dp.index] * (dp.high - dp.low)
    for g in spec.groups:
        m = spec.num_choices[g.slots[0]]
        picks = (rng.permutation(m)[:len(g.slots)] if g.distinct
                 else rng.integers(0, m, size=len(g.slots)))
        out[list(g.slots)] = np.sort(picks) if g.sorted else picks
    return out


class Mutator:
    """Re-sample one active decision point of a child, and the subtree it gates.

    A choice moves to a *different* candidate (uniformly among the others); a float is drawn
    afresh from its range. Decisions that the change activates get random values; decisions it
    deactivates become -1 (NaN for floats). A manyof slot changes to a candidate that keeps the
    group valid (distinct / sorted); a manyof whose slots gate sub-spaces is re-sampled whole.

    Parameters
    ----------
    spec : Spec
        The space's spec.

    Examples
    --------
    >>> m = Mutator(space.spec)
    >>> child = m(space.to_vector(dna), np.random.default_rng(0))
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        D = spec.num_decisions
        parent = spec.parent
        # descendants[d]: every decision whose chain of parents reaches d
        self.descendants: list[np.ndarray] = []
        for d in range(D):
            desc = []
            for e in range(d + 1, D):
                p = parent[e]
                while p > d:
                    p = parent[p]
                if p == d:
                    desc.append(e)
            self.descendants.append(np.array(desc, dtype=np.int64))
        self._group_of = {s: gi for gi, g in enumerate(spec.groups) for s in g.slots}
        self._gates = {gi: any(len(self.descendants[s]) for s in g.slots)
                       for gi, g in enumerate(spec.groups)}
        kinds = [dp.kind for dp in spec.decision_points]
        # a decision can change when it is a float or has at least two candidates
        self._mutable = np.array([k == "float" or n > 1 for k, n in zip(kinds, spec.num_choices)])
        for g in spec.groups:
            m, k = int(spec.num_choices[g.slots[0]]), len(g.slots)
            if g.distinct and g.sorted and k >= m:  # only one way to fill the group
                self._mutable[list(g.slots)] = False

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A mutated copy of the flat vector ``x`` (shape ``(D,)``); ``x`` is left as it is.

        Returns ``x`` unchanged (a copy) when the space has nothing left to mutate.
        """
        spec = self.spec
        x = np.array(x, copy=True)
        active = spec.active_mask(x[None])[0] if spec.is_conditional else np.ones(len(x), bool)
        where = np.flatnonzero(active & self._mutable)
        if where.size == 0:
            return x
        d = int(where[rng.integers(where.size)])
        gi = self._group_of.get(d)
        fresh = full_random_vector(spec, rng)
        if gi is not None and self._gates[gi]:
            touched = [s for s in spec.groups[gi].slots]
            x[touched] = fresh[touched]
        elif gi is not None:
            self._mutate_slot(x, d, spec.groups[gi], rng)
            touched = [d]
        elif spec.decision_points[d].kind == "float":
            x[d] = fresh[d]
            touched = [d]
        else:
            m = int(spec.num_choices[d])
            x[d] = (int(x[d]) + 1 + int(rng.integers(m - 1))) % m
            touched = [d]
        if spec.is_conditional:
            for t in touched:
                desc = self.descendants[t]
                if desc.size:
                    x[desc] = fresh[desc]
            new_active = spec.active_mask(x[None])[0]
            x[~new_active] = -1 if spec.is_choice_only else np.nan
            if not spec.is_choice_only:
                for dp in spec.decision_points:
                    if dp.kind == "choice" and not new_active[dp.index]:
                        x[dp.index] = -1
        return x

    def _mutate_slot(self, x: np.ndarray, d: int, g, rng: np.random.Generator) -> None:
        slots = list(g.slots)
        m = int(self.spec.num_choices[d])
        current = int(x[d])
        others = [int(x[s]) for s in slots if s != d]
        if g.distinct:
            pool = [c for c in range(m) if c != current and c not in others]
            if not pool:  # a full unsorted group: swap with another slot instead
                j = slots[int(rng.integers(len(slots)))]
                while j == d:
                    j = slots[int(rng.integers(len(slots)))]
                x[d], x[j] = x[j], x[d]
                return
        else:
            pool = [c for c in range(m) if c != current]
        x[d] = pool[int(rng.integers(len(pool)))]
        if g.sorted:
            x[slots] = np.sort(x[slots])
