"""Evaluate BigNAS children without retraining, and pick one under a budget coarse-to-fine
(Yu et al., ECCV 2020, §3.3 "BN calibration" and §3.4 "coarse-to-fine architecture selection").

>>> acc = evaluate_child(net, dna, calib_x, val_x, val_y)               # doctest: +SKIP
>>> best = coarse_to_fine(net, Constraint(macs, max=2e6), calib_x, val_x, val_y)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from budgetnas.errors import InfeasibleBudgetError, SearchConfigError
from budgetnas.spaces.arch import LayerSpec
from budgetnas.supernet.conv import ConvSupernet

__all__ = ["SelectionResult", "coarse_to_fine", "evaluate_child", "quantile_child"]


def _bn_buffers(supernet: ConvSupernet) -> list[tuple[torch.Tensor, ...]]:
    return [(bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
            for bn in supernet.batch_norms()]


@torch.no_grad()
def evaluate_child(supernet: ConvSupernet, child: Any, calib_x: torch.Tensor | None,
                   val_x: torch.Tensor, val_y: torch.Tensor, calib_batch: int = 256,
                   eval_batch: int = 1000, restore_bn: bool = True) -> float:
    """Accuracy in [0, 1] of a child on (val_x, val_y) with the shared weights, no retraining.

    With ``calib_x`` (N, C, H, W) training images, the BN running statistics are first
    recalibrated for the child on them in batches of ``calib_batch`` (BigNAS §3.3, "BN
    calibration": the shared statistics mix every child's and do not fit any one); with ``None``
    the shared running statistics are used as they are (the uncalibrated baseline). With
    ``restore_bn`` the supernet's running statistics are put back afterwards, so evaluating one
    child never changes what another sees. The supernet is left in eval mode.
    """
    saved = _bn_buffers(supernet) if restore_bn and calib_x is not None else None
    try:
        if calib_x is not None:
            supernet.calibrate_bn(child, calib_x.split(calib_batch))
        supernet.eval()
        supernet.set_bn_mode("running")
        correct = 0
        for xb, yb in zip(val_x.split(eval_batch), val_y.split(eval_batch)):
            correct += int((supernet(xb, child).argmax(1) == yb).sum())
    finally:
        if saved is not None:
            for bn, (m, v, n) in zip(supernet.batch_norms(), saved):
                bn.running_mean.copy_(m)
                bn.running_var.copy_(v)
                bn.num_batches_tracked.copy_(n)
    return correct / len(val_y)


_BLOCK_LAYER = re.compile(r"^blocks\[(\d+)\]\.layers\[(\d+)\]$")
_FILTER_ATTRS = ("expansion", "in_ratio", "out_ratio")  # channel counts: the "filter" quantile
_OP_ATTRS = ("kernel", "se")


def _at(q: float, n: int) -> int:
    """Index of quantile ``q`` among ``n`` sorted values (halves round up, not to even)."""
    return int(np.floor(min(max(q, 0.0), 1.0) * (n - 1) + 0.5))


def _is_number(v: Any) -> bool:
    return isinstance(v, (bool, int, float, np.integer, np.floating))


def _pick_layer(cands: list, idx: list[int], qf: float, qo: float) -> int:
    """Among same-op LayerSpec candidates ``cands[i] for i in idx``, the one whose expansion /
    ratios sit at quantile ``qf`` and kernel / SE at ``qo`` (filter attributes decided first)."""
    if len({cands[i].op for i in idx}) > 1:
        return idx[0]  # op types (IBN / fused / Tucker) have no order: keep the first
    for attr in _FILTER_ATTRS + _OP_ATTRS:
        vals = [getattr(cands[i], attr) for i in idx]
        if not all(_is_number(v) for v in vals):
            continue  # a nested decision, chosen on its own
        distinct = sorted(set(float(v) for v in vals))
        if len(distinct) > 1:
            want = distinct[_at(qf if attr in _FILTER_ATTRS else qo, len(distinct))]
            idx = [i for i in idx if float(getattr(cands[i], attr)) == want]
    return idx[0]


def quantile_child(space: Any, q: dict | float) -> np.ndarray:
    """The child at quantile ``q`` of every elastic dimension: int64 (D,), inactive = -1.

    ``q`` is a float in [0, 1] (0 = smallest, 1 = largest) or a dict ``{"filter", "op",
    "depth"}`` of quantiles (missing: 0.5). Filter quantile: block widths, expansion ratios and
    Tucker ratios; op quantile: kernel size and squeeze-excite (SE on from 0.5); depth quantile:
    each block keeps its first ``round(q · m)`` of its ``m`` optional layers (BigNAS keeps the
    first d layers of a stage). Choices between op types (MobileDet's IBN / fused / Tucker) take
    the first candidate. A coarse grid over these quantiles is BigNAS's coarse stage (Yu et al.
    2020, §3.4: a grid over width, depth and kernel settings of the whole network).
    """
    qs = q if isinstance(q, dict) else {"filter": float(q), "op": float(q), "depth": float(q)}
    qf, qo, qd = (float(qs.get(k, 0.5)) for k in ("filter", "op", "depth"))
    parent = np.asarray(space.parent, dtype=np.int64)
    parent_choice = np.asarray(space.parent_choice, dtype=np.int64)
    dps = list(space.decision_points)
    # the depth of each block: how many of its optional layers are kept
    optional: dict[int, list[int]] = {}
    for d, dp in enumerate(dps):
        m = _BLOCK_LAYER.match(dp.path)
        if m and any(c is None for c in dp.candidates):
            optional.setdefault(int(m.group(1)), []).append(d)
    keep = {d: j < _at(qd, len(ds) + 1) for ds in optional.values() for j, d in enumerate(ds)}
    v = np.full(space.num_decisions, -1, dtype=np.int64)
    for d, dp in enumerate(dps):
        if parent[d] >= 0 and v[parent[d]] != parent_choice[d]:
            continue
        cands = list(dp.candidates)
        present = [i for i, c in enumerate(cands) if c is not None]
        if len(present) < len(cands) and not keep.get(d, True):
            v[d] = cands.index(None)
        elif all(_is_number(c) for c in cands):
            tail = dp.path.rsplit(".", 1)[-1]
            qq = qf if tail == "filters" or tail in _FILTER_ATTRS else qo
            order = np.argsort([float(c) for c in cands], kind="stable")
            v[d] = int(order[_at(qq, len(cands))])
        elif all(isinstance(cands[i], LayerSpec) for i in present):
            v[d] = _pick_layer(cands, present, qf, qo)
        else:
            v[d] = present[0] if present else 0
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

    ``constraint`` is a :class:`~budgetnas.cost.Constraint` over the space's DNA vectors, e.g.
    MACs from :class:`~budgetnas.cost.space_costs.ConvSpaceCosts` or a fitted latency model (ms).
    ``calib_x`` are the training images of the calibration (BigNAS calibrates every child before
    it is evaluated); ``val_x`` / ``val_y`` the held-out images and labels that rank children.

    Raises
    ------
    InfeasibleBudgetError
        If no coarse child fits the budget.
    SearchConfigError
        If neither ``calib_x`` nor ``evaluate`` is given (children would be ranked with the
        shared, uncalibrated BN statistics).
    """
    if evaluate is None and calib_x is None:
        raise SearchConfigError("coarse_to_fine evaluates children after BN calibration: pass "
                                "calib_x (a few training images), or an evaluate function")
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
