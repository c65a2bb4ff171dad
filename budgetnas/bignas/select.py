"""Evaluate BigNAS children without retraining, and pick one under a budget coarse-to-fine
(Yu et al., ECCV 2020, §3.3 "BN calibration" and §3.4 "coarse-to-fine architecture selection").

>>> acc = evaluate_child(net, dna, calib_x, val_x, val_y)               # doctest: +SKIP
>>> best = coarse_to_fine(net, Constraint(macs, max=2e6), calib_x, val_x, val_y)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from budgetnas.errors import InfeasibleBudgetError
from budgetnas.supernet.conv import ConvSupernet

__all__ = ["SelectionResult", "coarse_to_fine", "evaluate_child", "quantile_child"]


@torch.no_grad()
def evaluate_child(supernet: ConvSupernet, child: Any, calib_x: torch.Tensor | None,
                   val_x: torch.Tensor, val_y: torch.Tensor, calib_batch: int = 256,
                   eval_batch: int = 1000) -> float:
    """Accuracy in [0, 1] of a child on (val_x, val_y) with the shared weights, no retraining.

    With ``calib_x`` (N, C, H, W) the BN statistics are first recalibrated for the child on it
    (BigNAS §3.3); with ``None`` the shared running statistics are used as they are.
    """
    if calib_x is not None:
        supernet.calibrate_bn(child, calib_x.split(calib_batch))
    supernet.eval()
    supernet.set_bn_mode("running")
    correct = 0
    for xb, yb in zip(val_x.split(eval_batch), val_y.split(eval_batch)):
        correct += int((supernet(xb, child).argmax(1) == yb).sum())
    return correct / len(val_y)


def quantile_child(space: Any, q: dict | float) -> np.ndarray:
    """The child whose every decision takes the choice at quantile ``q`` of its candidates
    (0 = first / smallest, 1 = last / largest), per decision kind when ``q`` is a dict
    ``{"filter": .., "op": .., "depth": ..}``; inactive decisions are -1.

    A coarse grid over such quantiles is BigNAS's coarse stage (a grid over width, depth,
    kernel, resolution multipliers).
    """
    from budgetnas.supernet.conv_task import WarmupRule

    rule = WarmupRule(space)
    v = np.full(space.num_decisions, -1, dtype=np.int64)
    for d, dp in enumerate(space.decision_points):
        par = rule.parent[d]
        if par >= 0 and v[par] != rule.parent_choice[d]:
            continue
        n = int(rule.num_choices[d])
        cands = list(dp.candidates)
        kind = "depth" if any(c is None for c in cands) else rule.kind[d]
        qd = q.get(kind, 0.5) if isinstance(q, dict) else float(q)
        if kind == "depth":  # present (wide) vs skipped: present when qd >= 0.5
            v[d] = rule.wide[d] if qd >= 0.5 and rule.wide[d] >= 0 else cands.index(None)
        elif rule.wide[d] >= 0:
            order = np.argsort([float(c) for c in cands], kind="stable")
            v[d] = int(order[int(round(qd * (n - 1)))])
        else:
            v[d] = 0
    return v



@dataclass
class SelectionResult:
    """Outcome of :func:`coarse_to_fine`: the pick, its accuracy and cost, and every evaluation."""

    dna: tuple
    accuracy: float
    cost: float
    evaluations: list[dict[str, Any]] = field(default_factory=list)


def coarse_to_fine(supernet: ConvSupernet, constraint: Any, calib_x: torch.Tensor,
                   val_x: torch.Tensor, val_y: torch.Tensor, *,
                   levels: Sequence[float] = (0.0, 0.5, 1.0), fine_rounds: int = 3,
                   fine_mutations: int = 6, seed: int = 0,
                   evaluate: Callable[[Any], float] | None = None) -> SelectionResult:
    """Pick the most accurate child under ``constraint`` (cost ≤ max) in two stages (BigNAS §3.4).

    Coarse: every combination of ``levels`` for the filter, op and depth quantiles
    (:func:`quantile_child`), kept if feasible. Fine: ``fine_rounds`` rounds of
    ``fine_mutations`` one-decision mutations of the best child so far, kept if feasible and
    more accurate. Every child is evaluated with BN calibration (:func:`evaluate_child`), or with
    ``evaluate(vector)`` if given.

    Raises
    ------
    InfeasibleBudgetError
        If no coarse child fits the budget.
    """
    space = supernet.space
    rng = np.random.default_rng(seed)
    evals: list[dict[str, Any]] = []
    seen: dict[tuple, float] = {}

    def score(v: np.ndarray, stage: str) -> float | None:
        key = tuple(int(a) for a in v)
        cost = float(constraint.cost.batch(v[None])[0])
        if cost > constraint.max:
            return None
        if key not in seen:
            acc = evaluate(v) if evaluate else evaluate_child(supernet, v, calib_x, val_x, val_y)
            seen[key] = acc
            evals.append({"stage": stage, "dna": key, "accuracy": acc, "cost": cost})
        return seen[key]

    best, best_acc = None, -1.0
    for f in levels:
        for o in levels:
            for dpt in levels:
                v = quantile_child(space, {"filter": f, "op": o, "depth": dpt})
                acc = score(v, "coarse")
                if acc is not None and acc > best_acc:
                    best, best_acc = v, acc
    if best is None:
        raise InfeasibleBudgetError(
            f"no coarse child of the grid fits {constraint!r}; raise the budget or add lower "
            "levels")
    for _ in range(fine_rounds):
        for _ in range(fine_mutations):
            v = _mutate(space, best, rng)
            acc = score(v, "fine")
            if acc is not None and acc > best_acc:
                best, best_acc = v, acc
    key = tuple(int(a) for a in best)
    return SelectionResult(key, best_acc, float(constraint.cost.batch(best[None])[0]), evals)


def _mutate(space: Any, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change one active decision to another choice; newly active decisions are drawn at random."""
    parent, pc = np.asarray(space.parent), np.asarray(space.parent_choice)
    nc = np.asarray(space.num_choices)
    active = np.flatnonzero((v >= 0) & (nc > 1))
    d = int(rng.choice(active))
    out = v.copy()
    out[d] = (out[d] + 1 + rng.integers(nc[d] - 1)) % nc[d]
    for j in range(d + 1, len(out)):
        p = parent[j]
        if p < 0:
            continue
        on = out[p] == pc[j] and out[p] >= 0
        if on and out[j] < 0:
            out[j] = rng.integers(nc[j])
        elif not on:
            out[j] = -1
    return out
