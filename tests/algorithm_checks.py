"""Reusable checks that every search algorithm must pass (import them from any test module).

>>> from tests.algorithm_checks import check_same_seed, check_resume, standard_spaces
>>> for space in standard_spaces().values():
...     check_same_seed(lambda seed: bn.Random(seed=seed), space)
...     check_resume(lambda seed: bn.Random(seed=seed), space)

An algorithm is given by a factory ``make(seed) -> SearchAlgorithm``; a deterministic reward
(a fixed function of the DNA) is fed back after every proposal, so adaptive algorithms are
checked too. Each check raises ``AssertionError`` with a message saying where runs diverged.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import budgetnas as bn
from budgetnas.errors import SearchExhausted
from budgetnas.search import SearchAlgorithm

Factory = Callable[[int], SearchAlgorithm]

__all__ = ["Factory", "check_exhaustion", "check_resume", "check_same_seed", "reward_of_dna",
           "run_proposals", "standard_spaces", "twelve_decision_space"]


def twelve_decision_space() -> bn.Space:
    """4 blocks x kernel {3,5,7} x expansion {1,3,6} x width {16,24,32,48}: 1,679,616 children."""
    return bn.Space({"blocks": [{"kernel": bn.oneof([3, 5, 7]),
                                 "expansion": bn.oneof([1, 3, 6]),
                                 "width": bn.oneof([16, 24, 32, 48])} for _ in range(4)]})


def conditional_space() -> bn.Space:
    """Conditional sub-spaces, a manyof and a floatv (infinite; not for grid search)."""
    return bn.Space({
        "stem": bn.oneof([16, 32]),
        "body": bn.oneof([
            {"kind": "mlp", "depth": bn.oneof([1, 2, 3]), "lr": bn.floatv(1e-4, 1e-1, "log")},
            {"kind": "conv", "ops": bn.manyof(2, ["conv3", "conv5", "pool"], sorted=True),
             "skip": bn.oneof([True, False])},
        ]),
        "dropout": bn.floatv(0.0, 0.5),
    })


def conditional_finite_space() -> bn.Space:
    """Conditional sub-spaces and manyof (distinct and not), no floats: (2 + 6 + 1) x 4 = 36."""
    return bn.Space({
        "a": bn.oneof([{"k": bn.oneof([3, 5])}, {"ops": bn.manyof(2, ["x", "y", "z"])},
                       "none"]),
        "b": bn.manyof(2, [1, 2], distinct=False),
    })


def standard_spaces(finite_only: bool = False) -> dict[str, bn.Space]:
    """Spaces every algorithm should handle: plain, conditional finite, conditional + floats."""
    spaces = {"twelve": twelve_decision_space(), "conditional_finite": conditional_finite_space()}
    if not finite_only:
        spaces["conditional_float"] = conditional_space()
    return spaces


def reward_of_dna(dna: Sequence[Any]) -> float:
    """A deterministic, position-dependent reward of a DNA (no hashing, no randomness)."""
    return float(sum(math.sin(1.0 + i + 0.7 * float(v)) for i, v in enumerate(dna)))


def run_proposals(algo: SearchAlgorithm, n: int,
                  reward: Callable[[Sequence[Any]], float] = reward_of_dna,
                  stop_on_exhaustion: bool = False) -> list[tuple]:
    """Propose ``n`` children, feeding ``reward(dna)`` back after each; the DNA as tuples."""
    out = []
    for _ in range(n):
        try:
            dna = algo.propose()
        except SearchExhausted:
            if stop_on_exhaustion:
                break
            raise
        assert isinstance(dna, bn.DNA), f"propose() returned {type(dna).__name__}, not DNA"
        algo.feedback(dna, reward(dna))
        out.append(tuple(dna))
    return out


def _fresh(make: Factory, seed: int, space: bn.Space, constraints: Sequence[Any]) -> SearchAlgorithm:
    algo = make(seed)
    algo.setup(space.spec, list(constraints))
    return algo


def check_same_seed(make: Factory, space: bn.Space, n: int = 1000, seed: int = 0,
                    constraints: Sequence[Any] = (), seed_matters: bool = True) -> list[tuple]:
    """Two instances made with the same seed give the same first ``n`` proposals, every one
    valid for ``space``; with ``seed_matters``, another seed gives other proposals.

    Returns the proposals (so a caller can check more about them).
    """
    a = run_proposals(_fresh(make, seed, space, constraints), n, stop_on_exhaustion=True)
    b = run_proposals(_fresh(make, seed, space, constraints), n, stop_on_exhaustion=True)
    assert len(a) == len(b), f"runs stopped after {len(a)} and {len(b)} proposals"
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"same seed, proposal {i} differs: {x} vs {y}"
    for dna in a:
        space.validate(dna)
    if seed_matters:
        c = run_proposals(_fresh(make, seed + 1, space, constraints), min(n, 50),
                          stop_on_exhaustion=True)
        assert c != a[:len(c)], "another seed gave the same proposals: the seed is ignored"
    return a


def check_resume(make: Factory, space: bn.Space, n: int = 1000, split: int | None = None,
                 constraints: Sequence[Any] = (), json_roundtrip: bool = True) -> None:
    """A ``state_dict`` taken after ``split`` proposals (default ``n // 2 + 7``, mid-buffer for
    batched algorithms) and loaded into a fresh instance, set up on the same spec and made with
    *another* seed, continues exactly as the uninterrupted run.

    ``json_roundtrip`` passes the state through ``json.dumps``/``loads`` (what a SQL store does);
    otherwise it is deep-copied.
    """
    split = n // 2 + 7 if split is None else split
    full = run_proposals(_fresh(make, 11, space, constraints), n, stop_on_exhaustion=True)
    first = _fresh(make, 11, space, constraints)
    head = run_proposals(first, min(split, len(full)), stop_on_exhaustion=True)
    state = first.state_dict()
    state = json.loads(json.dumps(state)) if json_roundtrip else copy.deepcopy(state)
    resumed = _fresh(make, 12345, space, constraints)  # the state must override the seed
    resumed.load_state_dict(state)
    tail = run_proposals(resumed, len(full) - len(head), stop_on_exhaustion=True)
    for i, (x, y) in enumerate(zip(head + tail, full)):
        assert x == y, (f"resumed run differs from the uninterrupted one at proposal {i} "
                        f"(state taken after {len(head)}): {x} vs {y}")
    assert len(head) + len(tail) == len(full), \
        f"resumed run made {len(head) + len(tail)} proposals, uninterrupted {len(full)}"
    # the first instance, not reloaded, must also be unaffected by taking its state
    rest = run_proposals(first, len(full) - len(head), stop_on_exhaustion=True)
    assert head + rest == full, "state_dict() changed the algorithm's own future proposals"


def check_exhaustion(make: Factory, space: bn.Space, seed: int = 0,
                     max_proposals: int | None = None) -> list[tuple]:
    """On a finite space, an algorithm that never repeats (grid, a dedup wrapper) proposes each
    child exactly once and then raises ``SearchExhausted`` -- again on every later call.

    Returns the proposals.
    """
    size = int(space.size)
    algo = _fresh(make, seed, space, ())
    limit = max_proposals if max_proposals is not None else size + 1
    seen = run_proposals(algo, limit, stop_on_exhaustion=True)
    assert len(seen) == size, f"{len(seen)} proposals before exhaustion, space has {size}"
    assert len(set(seen)) == size, "a child was proposed twice"
    assert set(seen) == {tuple(d) for d in space.iter_dna()}, "not every child was proposed"
    for _ in range(3):
        try:
            algo.propose()
        except SearchExhausted:
            continue
        raise AssertionError("propose() after exhaustion returned a child instead of raising")
    return seen
