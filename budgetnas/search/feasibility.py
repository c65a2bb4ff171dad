"""Hard constraints, shared by every search algorithm: detect an impossible budget before the
search, prune what cannot fit, and sample feasible children without ever looping forever.

Every algorithm of ``budgetnas.search`` builds one :class:`Feasibility` in ``setup``. It:

1. proves the budget infeasible *before* the search, naming the smallest achievable cost —
   exactly when the cost model knows its minimum (``min_cost()``), when the space is small enough
   to price every child, when the cost is a sum of per-decision and neighbour-pair terms
   (:class:`ChainCost`, found by pricing a few hundred children and verified), or when it is
   flagged monotone; otherwise by a bounded random + local search;
2. prunes per-decision candidates that cannot be part of any feasible child (a *box* that
   contains the feasible set V), so drawing inside the box and rejecting outside V gives exactly
   the distribution conditioned on V, at far higher acceptance;
3. samples by rejection in blocks, and after ``max_draws`` draws raises
   :class:`InfeasibleBudgetError` reporting the estimated feasible fraction.

TabNAS (Yang et al. 2022, §3) motivates it: feasible children are draws from p(y | V).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import InfeasibleBudgetError
from budgetnas.space import Spec

__all__ = ["Budget", "ChainCost", "Feasibility", "as_batch_cost", "enumerate_vectors", "group_valid"]

_RTOL = 1e-9


# ---------------------------------------------------------------------------- small helpers
def enumerate_vectors(spec: Spec, limit: int) -> np.ndarray | None:
    """Every child of a choice-only space as flat vectors ``(size, D)`` int64, or None when the
    space has more than ``limit`` children (or a float decision).

    Spaces without conditionals or manyof groups are enumerated with array arithmetic in
    mixed-radix order (first decision most significant, as :class:`budgetnas.cost.TableCost`).
    """
    if not spec.is_choice_only or spec.size > limit:
        return None
    if spec.is_conditional or spec.groups:
        return np.array(list(spec.iter_vectors()), dtype=np.int64).reshape(-1, spec.num_decisions)
    nc = spec.num_choices
    idx = np.arange(int(np.prod(nc)), dtype=np.int64)
    X = np.empty((len(idx), len(nc)), dtype=np.int64)
    for d in range(len(nc) - 1, -1, -1):
        X[:, d] = idx % nc[d]
        idx //= nc[d]
    return X


def group_valid(spec: Spec, X: np.ndarray) -> np.ndarray:
    """Which rows of ``X`` (shape ``(n, D)``) respect every manyof's distinct / sorted rule → bool ``(n,)``."""
    ok = np.ones(len(X), dtype=bool)
    for g in spec.groups:
        G = X[:, list(g.slots)]
        if g.sorted:
            diff = np.diff(G, axis=1)
            ok &= np.all(diff > 0 if g.distinct else diff >= 0, axis=1)
        elif g.distinct:
            S = np.sort(G, axis=1)
            ok &= np.all(np.diff(S, axis=1) != 0, axis=1)
    return ok


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _cost_of(constraint: Any) -> Any:
    return getattr(constraint, "cost", None) if hasattr(constraint, "max") else None


def _describe(constraint: Any) -> tuple[str, str]:
    cost = _cost_of(constraint)
    name = getattr(constraint, "name", None) or getattr(cost, "name", "cost")
    return str(name), str(getattr(cost, "unit", ""))


# ---------------------------------------------------------------------------- chain costs
class ChainCost:
    """A cost that is a constant plus per-decision terms plus terms of neighbouring decisions.

    ``cost(x) = c0 + Σ_d unary[d, x_d] + Σ_{d≥1} pair[d, x_{d-1}, x_d]`` — e.g. the parameters
    of an MLP whose decisions are layer widths (TabNAS, Yang et al. 2022, §3), or any additive cost
    (``pair`` all zero). It gives the exact minimum, the exact minimum over children with
    ``x_d = c`` (for pruning), and the most probable child of a factorised policy under a budget
    (a dynamic programme over Pareto fronts of (cost, log-probability)).

    Parameters
    ----------
    c0 : float
    unary : np.ndarray (D, C)
        ``+inf`` where ``c >= num_choices[d]``.
    pair : np.ndarray (D, C, C) or None
        ``pair[d, i, j]`` for ``x_{d-1} = i, x_d = j``; ``pair[0]`` is unused. None when additive.
    """

    def __init__(self, c0: float, unary: np.ndarray, pair: np.ndarray | None) -> None:
        self.c0 = float(c0)
        self.unary = np.asarray(unary, dtype=np.float64)
        D, C = self.unary.shape
        self.pair = np.zeros((D, C, C)) if pair is None else np.asarray(pair, dtype=np.float64)
        self.is_additive = pair is None or not np.any(self.pair[1:][np.isfinite(self.pair[1:])])
        self._forward, self._backward = self._min_tables()

    @classmethod
    def detect(cls, price: Callable[[np.ndarray], np.ndarray], num_choices: np.ndarray,
               rng: np.random.Generator, verify: int = 256,
               max_rows: int = 200_000) -> ChainCost | None:
        """Recover the terms by pricing children that differ from the all-zeros child in one
        decision (and in two neighbouring ones), then check the recovered sum against ``verify``
        random children. Returns None when the cost is not of this form (or not finite).
        """
        nc = np.asarray(num_choices, dtype=np.int64)
        D, C = len(nc), int(nc.max())
        base = np.zeros(D, dtype=np.int64)
        rows, where = [base], []
        for d in range(D):
            for c in range(1, nc[d]):
                r = base.copy()
                r[d] = c
                rows.append(r)
                where.append((d, c))
        pair_rows = int(sum(nc[d - 1] * nc[d] for d in range(1, D)))
        with_pairs = len(rows) + pair_rows <= max_rows
        pair_where = []
        if with_pairs:
            for d in range(1, D):
                for i in range(1, nc[d - 1]):
                    for j in range(1, nc[d]):
                        r = base.copy()
                        r[d - 1], r[d] = i, j
                        rows.append(r)
                        pair_where.append((d, i, j))
        R = np.asarray(rows)
        check = np.floor(rng.random((verify, D)) * nc).astype(np.int64)
        values = np.asarray(price(np.concatenate([R, check])), dtype=np.float64)
        if not np.all(np.isfinite(values)):
            return None
        c0 = values[0]
        unary = np.full((D, C), np.inf)
        unary[np.arange(D), 0] = 0.0
        for (d, c), v in zip(where, values[1:1 + len(where)]):
            unary[d, c] = v - c0
        pair = None
        if with_pairs:
            pair = np.zeros((D, C, C))
            off = 1 + len(where)
            for (d, i, j), v in zip(pair_where, values[off:off + len(pair_where)]):
                pair[d, i, j] = v - c0 - unary[d - 1, i] - unary[d, j]
        chain = cls(c0, unary, pair)
        truth = values[len(R):]
        scale = max(1.0, float(np.max(np.abs(values))))
        if not np.allclose(chain(check), truth, rtol=_RTOL, atol=_RTOL * scale):
            return None
        return chain

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The cost of each row of ``X`` (n, D) from the recovered terms → (n,)."""
        D = self.unary.shape[0]
        out = self.c0 + self.unary[np.arange(D), X].sum(axis=1)
        if D > 1:
            out = out + self.pair[np.arange(1, D), X[:, :-1], X[:, 1:]].sum(axis=1)
        return out

    def _min_tables(self) -> tuple[np.ndarray, np.ndarray]:
        D, C = self.unary.shape
        F = np.empty((D, C))
        B = np.zeros((D, C))
        F[0] = self.c0 + self.unary[0]
        for d in range(1, D):
            F[d] = self.unary[d] + np.min(F[d - 1][:, None] + self.pair[d], axis=0)
        for d in range(D - 2, -1, -1):
            B[d] = np.min(self.pair[d + 1] + (self.unary[d + 1] + B[d + 1])[None, :], axis=1)
        return F, B

    def min_given(self) -> np.ndarray:
        """``(D, C)``: the smallest cost of a child with ``x_d = c`` (inf for invalid ``c``)."""
        return self._forward + self._backward

    def argmin(self) -> tuple[np.ndarray, float]:
        """The cheapest child (D,) and its cost."""
        D = self.unary.shape[0]
        x = np.empty(D, dtype=np.int64)
        x[-1] = int(np.argmin(self._forward[-1]))
        for d in range(D - 1, 0, -1):
            x[d - 1] = int(np.argmin(self._forward[d - 1] + self.pair[d][:, x[d]]))
        return x, float(self._forward[-1].min())

    def best_under(self, score: np.ndarray, budget: float,
                   max_front: int = 200_000) -> np.ndarray | None:
        """The child maximising ``Σ_d score[d, x_d]`` with cost ≤ ``budget`` (exact), or None.

        A dynamic programme over decisions: for each value of the current decision, the Pareto
        front of (cost so far, score so far), pruned by the cheapest completion. Returns None
        when nothing fits or a front grows beyond ``max_front`` points (then sample instead).
        """
        D, C = self.unary.shape
        tol = _RTOL * max(1.0, abs(budget))
        fronts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = []
        first = []
        for j in range(C):
            c = np.array([self.c0 + self.unary[0, j]])
            ok = np.isfinite(score[0, j]) and c[0] + self._backward[0, j] <= budget + tol
            empty = np.empty(0, dtype=np.int64)
            first.append((c, np.array([score[0, j]]), empty, empty) if ok
                         else (np.empty(0), np.empty(0), empty, empty))
        fronts.append(first)
        total = 0
        for d in range(1, D):
            layer = []
            for j in range(C):
                if not np.isfinite(score[d, j]) or not np.isfinite(self.unary[d, j]):
                    e = np.empty(0, dtype=np.int64)
                    layer.append((np.empty(0), np.empty(0), e, e))
                    continue
                cs, ss, bi, bk = [], [], [], []
                for i, (pc, ps, _, _) in enumerate(fronts[d - 1]):
                    if pc.size == 0:
                        continue
                    cs.append(pc + self.pair[d, i, j] + self.unary[d, j])
                    ss.append(ps + score[d, j])
                    bi.append(np.full(pc.size, i, dtype=np.int64))
                    bk.append(np.arange(pc.size, dtype=np.int64))
                if not cs:
                    e = np.empty(0, dtype=np.int64)
                    layer.append((np.empty(0), np.empty(0), e, e))
                    continue
                c, s = np.concatenate(cs), np.concatenate(ss)
                i_, k_ = np.concatenate(bi), np.concatenate(bk)
                keep = c + self._backward[d, j] <= budget + tol
                c, s, i_, k_ = c[keep], s[keep], i_[keep], k_[keep]
                order = np.lexsort((-s, c))
                c, s, i_, k_ = c[order], s[order], i_[order], k_[order]
                if s.size:
                    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
                    pareto = s > best_before
                    c, s, i_, k_ = c[pareto], s[pareto], i_[pareto], k_[pareto]
                total += s.size
                if total > max_front:
                    return None
                layer.append((c, s, i_, k_))
            fronts.append(layer)
        best, arg = -np.inf, None
        for j, (_, s, _, _) in enumerate(fronts[-1]):
            if s.size and s.max() > best:
                best, arg = float(s.max()), (j, int(np.argmax(s)))
        if arg is None:
            return None
        x = np.empty(D, dtype=np.int64)
        j, k = arg
        for d in range(D - 1, -1, -1):
            x[d] = j
            if d:
                _, _, bi, bk = fronts[d][j]
                j, k = int(bi[k]), int(bk[k])
        return x


# ---------------------------------------------------------------------------- feasibility
class Feasibility:
    """The hard constraints of one search, analysed once, then used for every draw.

    Parameters
    ----------
    spec : Spec
        The space's spec.
    constraints : sequence
        Objects with ``feasible_batch(X) -> bool (n,)``; when they also have ``.cost`` (with
        ``.batch(X)``, optional ``min_cost()``, ``is_monotone``) and ``.max``, the minimum is
        found exactly where possible and candidates are pruned.
    enumerate_limit : int
        Spaces with at most this many children are priced whole: exact minimum, exact feasible
        set, exact pruning.
    search_samples : int
        Random children drawn by the bounded search (spaces too big to enumerate).
    max_draws : int
        Draws that one call to :meth:`sample` may spend before it raises.
    structure : {"auto", "none"}
        ``"auto"`` tries :class:`ChainCost` on choice-only spaces without conditionals.

    Notes
    -----
    A cost model with ``is_expensive = True`` (e.g. latency measured per child) is never
    enumerated or probed for structure; only a small bounded search checks the budget.

    Attributes
    ----------
    feasible_set : np.ndarray (m, D) or None
        Every feasible child, when the space was enumerated.
    allowed : np.ndarray (D, C) bool or None
        Candidates that can still be part of a feasible child (the box).
    chains : list of ChainCost or None
        The structure found for each constraint (None where there is none).
    min_costs : list of (float, bool)
        Smallest cost per constraint and whether it is exact (NaN when unknown).
    method : str
        How feasibility was established: "none", "enumeration", "structure" or "search".
    """

    def __init__(self, spec: Spec, constraints: Sequence[Any] = (), *,
                 enumerate_limit: int = 100_000, search_samples: int = 20_000,
                 max_draws: int = 2_000_000, structure: str = "auto") -> None:
        self.spec = spec
        self.constraints = list(constraints)
        self.enumerate_limit = int(enumerate_limit)
        self.search_samples = int(search_samples)
        self.max_draws = int(max_draws)
        self.structure = structure
        self.feasible_set: np.ndarray | None = None
        self.allowed: np.ndarray | None = None
        self.chains: list[ChainCost | None] = [None] * len(self.constraints)
        self.min_costs: list[tuple[float, bool]] = [(math.nan, False)] * len(self.constraints)
        self.method = "none"
        D = spec.num_decisions
        self._C = int(spec.num_choices.max()) if spec.is_choice_only and D else 0
        self._box_tables: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ checks
    @property
    def active(self) -> bool:
        """True when there is anything to enforce (constraints or manyof groups)."""
        return bool(self.constraints)

    def feasible(self, X: np.ndarray) -> np.ndarray:
        """Which rows of ``X`` (``(n, D)``) satisfy every constraint and manyof rule → bool ``(n,)``."""
        if len(self.constraints) == 1 and not self.spec.groups:
            return np.asarray(self.constraints[0].feasible_batch(X), dtype=bool)
        ok = group_valid(self.spec, X) if self.spec.groups else np.ones(len(X), dtype=bool)
        for c in self.constraints:
            idx = np.flatnonzero(ok)
            if idx.size == 0:
                break
            ok[idx] = np.asarray(c.feasible_batch(X[idx]), dtype=bool)
        return ok

    def analyse(self, rng: np.random.Generator) -> Feasibility:
        """Establish that some child fits; prune; keep the feasible set when enumerable.

        Raises
        ------
        InfeasibleBudgetError
            When no child fits, naming the smallest achievable cost (exact where the method is
            exact, else the smallest found by the bounded search, an upper bound on it).
        """
        if not self.constraints:
            return self
        self._check_model_minimum()
        if any(getattr(_cost_of(c), "is_expensive", False) for c in self.constraints):
            # each price is a measurement: no enumeration or structure probing, a small search
            self.search_samples = min(self.search_samples, 256)
            self._bounded_search(rng, local=False)
            return self
        X = enumerate_vectors(self.spec, self.enumerate_limit)
        if X is not None:
            self._from_enumeration(X)
            return self
        self._from_structure(rng)
        if self.allowed is not None and self.box_size <= self.enumerate_limit:
            self._enumerate_box()
            return self
        if self.method != "structure":
            self._bounded_search(rng)
        return self

    def _enumerate_box(self) -> None:
        """Price every child of a small pruned box: the exact feasible set of a huge space."""
        assert self.allowed is not None
        values = [np.flatnonzero(row) for row in self.allowed]
        grids = np.meshgrid(*values, indexing="ij")
        X = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
        ok = self.feasible(X)
        if not ok.any():
            raise InfeasibleBudgetError(
                f"none of the {len(X):,} children that pass each constraint's per-decision bound "
                f"meets all of {self.constraints!r} at once; relax one of the budgets")
        self.feasible_set = X[ok]
        self.method = "enumeration of the pruned box"

    def _check_model_minimum(self) -> None:
        for i, c in enumerate(self.constraints):
            cost = _cost_of(c)
            fn = getattr(cost, "min_cost", None)
            smallest = fn() if callable(fn) else None
            if smallest is None:
                continue
            self.min_costs[i] = (float(smallest), True)
            if smallest > c.max:
                self._raise_infeasible(i, float(smallest), "the cost model's exact minimum")

    def _raise_infeasible(self, i: int, smallest: float, how: str) -> None:
        c = self.constraints[i]
        name, unit = _describe(c)
        raise InfeasibleBudgetError(
            f"no child fits {c!r}: the smallest achievable {name} is {_fmt(smallest)} {unit} "
            f"({how}); raise max to at least {_fmt(smallest)} or shrink the space")

    def _from_enumeration(self, X: np.ndarray) -> None:
        self.method = "enumeration"
        ok = np.ones(len(X), dtype=bool)
        for i, c in enumerate(self.constraints):
            cost = _cost_of(c)
            if cost is not None:
                values = np.asarray(cost.batch(X), dtype=np.float64)
                self.min_costs[i] = (float(values.min()), True)
                fit = values <= c.max
            else:
                fit = np.asarray(c.feasible_batch(X), dtype=bool)
            if not fit.any():
                if cost is not None:
                    self._raise_infeasible(i, float(values.min()),
                                           f"exact: all {len(X):,} children priced")
                raise InfeasibleBudgetError(f"no child of the {len(X):,} in the space satisfies {c!r}")
            ok &= fit
        if not ok.any():
            mins = ", ".join(f"{_describe(c)[0]} ≥ {_fmt(m)} {_describe(c)[1]}"
                             for c, (m, _) in zip(self.constraints, self.min_costs))
            raise InfeasibleBudgetError(
                f"each constraint alone can be met ({mins}), but none of the {len(X):,} children "
                f"meets all of {self.constraints!r} at once; relax one of the budgets")
        self.feasible_set = X[ok]
        if not self.spec.is_conditional:
            allowed = np.zeros((self.spec.num_decisions, self._C), dtype=bool)
            for d in range(self.spec.num_decisions):
                allowed[d, np.unique(self.feasible_set[:, d])] = True
            self._set_allowed(allowed)

    def _from_structure(self, rng: np.random.Generator) -> None:
        spec = self.spec
        if not spec.is_choice_only or spec.is_conditional or spec.groups:
            return
        D, C = spec.num_decisions, self._C
        allowed = np.arange(C)[None, :] < spec.num_choices[:, None]
        proven = []
        for i, c in enumerate(self.constraints):
            cost = _cost_of(c)
            if cost is None:
                proven.append(None)
                continue
            tol = _RTOL * max(1.0, abs(c.max))
            chain = ChainCost.detect(cost.batch, spec.num_choices, rng) \
                if self.structure == "auto" else None
            if chain is not None:
                self.chains[i] = chain
                x, smallest = chain.argmin()
                smallest = float(cost.batch(x[None])[0])  # price the argmin with the model itself
                self.min_costs[i] = (smallest, True)
                if smallest > c.max:
                    self._raise_infeasible(i, smallest, "exact: the cost is a sum of per-layer "
                                           "terms, minimised by dynamic programming")
                allowed &= chain.min_given() <= c.max + tol
                proven.append(x)
            elif getattr(cost, "is_monotone", False):
                base = np.zeros((D * C, D), dtype=np.int64)
                dd, cc = np.divmod(np.arange(D * C), C)
                valid = cc < spec.num_choices[dd]
                base[np.arange(D * C), dd] = np.where(valid, cc, 0)
                values = np.asarray(cost.batch(base), dtype=np.float64).reshape(D, C)
                smallest = float(values[0, 0])
                self.min_costs[i] = (smallest, True)
                if smallest > c.max:
                    self._raise_infeasible(i, smallest, "exact for a monotone cost: every "
                                           "decision at its first candidate")
                allowed &= valid.reshape(D, C) & (values <= c.max + tol)
                proven.append(np.zeros(D, dtype=np.int64))
            else:
                proven.append(None)
        empty = np.flatnonzero(~allowed.any(axis=1))
        if empty.size:
            dp = spec.decision_points[int(empty[0])]
            raise InfeasibleBudgetError(
                f"no candidate of decision point {dp.name!r} fits {self.constraints!r} (each "
                "constraint's cheapest completion exceeds its budget); relax the budgets")
        self._set_allowed(allowed)
        # one constraint with a proven cheapest child: that child is feasible, done
        if len(self.constraints) == 1 and proven[0] is not None:
            self.method = "structure"

    def _bounded_search(self, rng: np.random.Generator, local: bool = True) -> None:
        """Random draws in the box, then greedy descent on the excess over the budgets."""
        self.method = "search"
        n = self.search_samples
        X = self._draw_uniform_box(n, rng)
        ok = self.feasible(X)
        if ok.any():
            return
        excess, mins = self._excess(X)
        best = mins
        order = np.argsort(excess)[:4]
        starts = X[order]
        if not local:
            found = False
        elif self.spec.is_choice_only and not self.spec.is_conditional and not self.spec.groups:
            found, best = self._coordinate_descent(starts, best)
        else:
            found, best = self._mutation_descent(starts, best, rng)
        if found:
            return
        parts = []
        for c, m in zip(self.constraints, best):
            name, unit = _describe(c)
            if not math.isnan(m):
                parts.append(f"{name} {_fmt(m)} {unit} (budget {_fmt(c.max)})")
        raise InfeasibleBudgetError(
            f"no child satisfying {self.constraints!r} was found by a bounded search ({n:,} random "
            f"children and a local search); the smallest costs found are "
            f"{'; '.join(parts) or 'unknown'} — an upper bound on the smallest achievable. "
            "Raise the budget, or give the cost model a min_cost() / is_monotone flag.")

    def _excess(self, X: np.ndarray) -> tuple[np.ndarray, list[float]]:
        total = np.zeros(len(X))
        mins = []
        for c in self.constraints:
            cost = _cost_of(c)
            if cost is None:
                total += ~np.asarray(c.feasible_batch(X), dtype=bool)
                mins.append(math.nan)
                continue
            v = np.asarray(cost.batch(X), dtype=np.float64)
            total += np.maximum(0.0, v - c.max) / max(abs(c.max), 1e-12)
            mins.append(float(v.min()))
        if self.spec.groups:
            total += ~group_valid(self.spec, X) * 1e6
        return total, mins

    def _coordinate_descent(self, starts: np.ndarray, best: list[float],
                            sweeps: int = 20) -> tuple[bool, list[float]]:
        D, nc = self.spec.num_decisions, self.spec.num_choices
        for x in starts:
            x = x.copy()
            for _ in range(sweeps):
                moved = False
                for d in range(D):
                    cand = np.repeat(x[None], nc[d], axis=0)
                    cand[:, d] = np.arange(nc[d])
                    if self.allowed is not None:
                        cand = cand[self.allowed[d, :nc[d]]]
                    ex, mins = self._excess(cand)
                    best = [min(a, b) if not math.isnan(b) else a for a, b in zip(best, mins)]
                    k = int(np.argmin(ex))
                    if ex[k] == 0.0 and self.feasible(cand[k:k + 1])[0]:
                        return True, best
                    if cand[k, d] != x[d] and ex[k] < self._excess(x[None])[0][0]:
                        x, moved = cand[k], True
                if not moved:
                    break
        return False, best

    def _mutation_descent(self, starts: np.ndarray, best: list[float], rng: np.random.Generator,
                          steps: int = 300, width: int = 16) -> tuple[bool, list[float]]:
        from budgetnas.search.mutation import Mutator

        mutate = Mutator(self.spec)
        for x in starts:
            ex_x = self._excess(x[None])[0][0]
            for _ in range(steps):
                cand = np.stack([mutate(x, rng) for _ in range(width)])
                ex, mins = self._excess(cand)
                best = [min(a, b) if not math.isnan(b) else a for a, b in zip(best, mins)]
                ok = self.feasible(cand)
                if ok.any():
                    return True, best
                k = int(np.argmin(ex))
                if ex[k] <= ex_x:
                    x, ex_x = cand[k], ex[k]
        return False, best

    # ------------------------------------------------------------------ the box
    def _set_allowed(self, allowed: np.ndarray) -> None:
        valid = np.arange(self._C)[None, :] < self.spec.num_choices[:, None]
        if np.array_equal(allowed, valid):
            self.allowed, self._box_tables = None, None  # nothing pruned
            return
        self.allowed = allowed
        counts = allowed.sum(axis=1)
        table = np.zeros_like(allowed, dtype=np.int64)
        for d in range(len(allowed)):
            vals = np.flatnonzero(allowed[d])
            table[d, :len(vals)] = vals
        self._box_tables = (table, counts)

    @property
    def box_size(self) -> float:
        """Number of children in the box (the space's size when nothing was pruned)."""
        if self.allowed is None:
            return float(self.spec.size)
        return float(np.prod(self.allowed.sum(axis=1).astype(np.float64)))

    def _draw_uniform_box(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self._box_tables is None or self.spec.is_conditional or self.spec.groups:
            return self.spec.sample_batch(n, rng)
        table, counts = self._box_tables
        U = rng.random((n, len(counts)))
        k = (U * counts).astype(np.int64)
        return table[np.arange(len(counts)), k]

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, rng: np.random.Generator,
               draw: Callable[[int], np.ndarray] | None = None, what: str = "children",
               min_rows: int | None = None) -> np.ndarray:
        """``n`` feasible rows ``(n, D)``: the first ``n`` feasible rows of blocks ``draw(k)``.

        With ``draw`` a sampler of i.i.d. children, the result is i.i.d. from that sampler's
        distribution conditioned on feasibility (rejection sampling). The default ``draw`` is
        uniform per decision over the box. With ``min_rows``, drawing stops as soon as that
        many feasible rows are in (between ``min_rows`` and ``n`` rows are returned), so a tiny
        feasible fraction costs draws for one row, not for ``n``.

        Raises
        ------
        InfeasibleBudgetError
            After ``max_draws`` draws without ``n`` feasible rows, with the estimated feasible
            fraction of the sampler.
        """
        draw = draw or (lambda k: self._draw_uniform_box(k, rng))
        if not self.constraints and not self.spec.groups:
            return draw(n)
        need = n if min_rows is None else max(1, min(int(min_rows), n))
        out, have, drawn, block = [], 0, 0, max(16, 2 * n)
        while have < need:
            X = draw(block)
            drawn += len(X)
            ok = self.feasible(X)
            if ok.any():
                got = X[ok][: n - have]
                out.append(got)
                have += len(got)
            if have < need and drawn >= self.max_draws:
                accepted = have
                frac = (f"{accepted / drawn:.2e}" if accepted else f"< {1 / drawn:.1e}")
                raise InfeasibleBudgetError(
                    f"{drawn:,} {what} drawn, {accepted} feasible under {self.constraints!r}: "
                    f"the estimated feasible fraction is {frac} (box of {self.box_size:.3g} "
                    "children after pruning). Raise the budget, raise max_draws, or shrink the space.")
            block = min(block * 2, 1 << 16)
        return np.concatenate(out)[:n]

    def uniform_over_feasible_set(self) -> bool:
        """True when :meth:`sample_uniform` draws from the enumerated feasible set and that equals
        uniform-per-decision draws conditioned on feasibility (no conditionals, no manyof)."""
        return (self.feasible_set is not None and not self.spec.is_conditional
                and not self.spec.groups)

    def sample_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random feasible children ``(n, D)``: uniform over the feasible set when it was
        enumerated, else uniform per decision over the box, by rejection."""
        if self.feasible_set is not None:
            return self.feasible_set[rng.integers(len(self.feasible_set), size=n)]
        return self.sample(n, rng)


class Budget:
    """A hard budget ``cost(child) ≤ max`` built from a cost model or a plain callable.

    A stand-in for :class:`budgetnas.Constraint` inside ``search`` (which does not import
    ``cost``): ``cost`` is any object with ``batch(X) -> (n,)`` (a :class:`budgetnas.cost.CostModel`)
    or a callable DNA → float, priced row by row through ``spec.from_vector``.

    Parameters
    ----------
    cost : CostModel or callable
    max : float
    spec : Spec
        Needed for a plain callable (to turn vectors into DNA).
    name : str, optional
    """

    def __init__(self, cost: Any, max: float, spec: Spec | None = None,  # noqa: A002
                 name: str | None = None) -> None:
        self.cost = as_batch_cost(cost, spec)
        self.max = float(max)
        self.name = name or getattr(cost, "name", None) or getattr(cost, "__name__", "cost")

    def feasible_batch(self, X: np.ndarray) -> np.ndarray:
        """Bool ``(n,)``: which rows of ``X`` cost at most ``max``."""
        return np.asarray(self.cost.batch(X), dtype=np.float64) <= self.max

    def __repr__(self) -> str:
        return f"Budget({self.name} ≤ {_fmt(self.max)})"


class _CallableCost:
    """Adapts a callable DNA → float to the ``batch`` interface (one call per row)."""

    def __init__(self, fn: Callable[[Any], float], spec: Spec | None) -> None:
        self.fn, self.spec = fn, spec
        self.name = getattr(fn, "__name__", "cost")
        self.unit = ""

    def batch(self, X: np.ndarray) -> np.ndarray:
        rows = (self.spec.from_vector(r) if self.spec is not None else tuple(int(v) for v in r)
                for r in np.asarray(X))
        return np.fromiter((float(self.fn(r)) for r in rows), dtype=np.float64, count=len(X))

    def min_cost(self) -> None:
        return None


def as_batch_cost(cost: Any, spec: Spec | None = None) -> Any:
    """``cost`` itself when it has ``batch(X)``; a row-by-row adapter for a callable DNA → float.

    Raises
    ------
    TypeError
        When ``cost`` is neither.
    """
    if hasattr(cost, "batch"):
        return cost
    if callable(cost):
        return _CallableCost(cost, spec)
    raise TypeError(f"a cost must be a cost model with .batch(X) or a callable DNA -> float, "
                    f"got {type(cost).__name__}")
