"""Property tests on randomly generated search spaces (hypothesis, derandomized).

Spaces nest dicts, lists, tuples, dataclasses, symbolic calls and stateful leaves, with
``oneof`` (conditional sub-spaces in its candidates), ``manyof`` (every distinct / sorted variant)
and ``floatv``. A reference enumerator written here straight from the primitives' definitions
(not from the library's spec) is the oracle for size, enumeration order, the DNA layout
(conditional decisions absent when inactive) and the materialised values.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import budgetnas as bn
from budgetnas.space import FloatV, HyperPrimitive, ManyOf, OneOf

SETTINGS = settings(derandomize=True, max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ---------------------------------------------------------------------- value types in spaces
@dataclasses.dataclass
class Pair:
    left: Any
    right: Any


class Node:
    """A class called symbolically (``bn.Call(Node, ...)``): keeps its arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = list(args), kwargs


class Scale:
    """A stateful callable leaf (like an ``nn.Module``): equality is identity."""

    def __init__(self, w: list[float]) -> None:
        self.w = w

    def __call__(self, x: float) -> float:
        return self.w[0] * x


def plain(x: Any) -> Any:
    """A comparable form of a materialised value (lists and tuples kept apart)."""
    if isinstance(x, Node):
        return ("Node", tuple(plain(a) for a in x.args),
                tuple(sorted((k, plain(v)) for k, v in x.kwargs.items())))
    if isinstance(x, Pair):
        return ("Pair", plain(x.left), plain(x.right))
    if isinstance(x, Scale):
        return ("Scale", tuple(x.w))
    if isinstance(x, bytearray):
        return ("bytearray", bytes(x))
    if isinstance(x, dict):
        return ("dict", tuple((k, plain(v)) for k, v in x.items()))
    if isinstance(x, list):
        return ("list", tuple(plain(v) for v in x))
    if isinstance(x, tuple):
        return ("tuple", tuple(plain(v) for v in x))
    return x


def mutate(x: Any) -> None:
    """Change every mutable part of a materialised value in place."""
    if isinstance(x, Node):
        x.args.append("mutated")
        x.kwargs["mutated"] = True
        for v in [*x.args, *x.kwargs.values()]:
            mutate(v)
    elif isinstance(x, Pair):
        mutate(x.left), mutate(x.right)
        x.left = "mutated"
    elif isinstance(x, Scale):
        x.w.append(-1.0)
    elif isinstance(x, bytearray):
        x.extend(b"!")
    elif isinstance(x, dict):
        for v in list(x.values()):
            mutate(v)
        x["mutated"] = True
    elif isinstance(x, list):
        for v in list(x):
            mutate(v)
        x.append("mutated")
    elif isinstance(x, tuple):
        for v in x:
            mutate(v)


# ---------------------------------------------------------------------- reference enumerator
def ref_enum(t: Any) -> list[tuple[list, Any]]:
    """Every (DNA, plain value) of template ``t``, in lexicographic depth-first order.

    Written from the definitions: a oneof decision is followed by the decisions of the chosen
    candidate only; a manyof is k slots, each a choice followed by its candidate's decisions,
    with ``distinct`` (no repeated index) and ``sorted`` (non-decreasing indices) rules.
    """
    if isinstance(t, OneOf):
        return [([i, *d], v) for i, c in enumerate(t.candidates) for d, v in ref_enum(c)]
    if isinstance(t, ManyOf):
        subs = [ref_enum(c) for c in t.candidates]
        out: list[tuple[list, Any]] = []

        def slots(j: int, picks: list[int], dna: list, vals: list) -> None:
            if j == t.k:
                out.append((dna, ("list", tuple(vals))))
                return
            for i in range(len(t.candidates)):
                if t.distinct and i in picks:
                    continue
                if t.sorted and picks and i < picks[-1]:
                    continue
                for d, v in subs[i]:
                    slots(j + 1, [*picks, i], [*dna, i, *d], [*vals, v])

        slots(0, [], [], [])
        return out
    if isinstance(t, FloatV):
        raise ValueError("a float space cannot be enumerated")
    if isinstance(t, bn.Call):
        parts = [ref_enum(a) for a in t.args] + [ref_enum(v) for v in t.kwargs.values()]
        n = len(t.args)
        return [(sum((d for d, _ in combo), []),
                 ("Node", tuple(v for _, v in combo[:n]),
                  tuple(sorted(zip(t.kwargs, (v for _, v in combo[n:]))))))
                for combo in itertools.product(*parts)]
    if isinstance(t, Pair):
        return [(d1 + d2, ("Pair", v1, v2))
                for (d1, v1), (d2, v2) in itertools.product(ref_enum(t.left), ref_enum(t.right))]
    if isinstance(t, dict):
        keys = list(t)
        return [(sum((d for d, _ in combo), []),
                 ("dict", tuple(zip(keys, (v for _, v in combo)))))
                for combo in itertools.product(*(ref_enum(t[k]) for k in keys))]
    if isinstance(t, (list, tuple)):
        kind = "list" if isinstance(t, list) else "tuple"
        return [(sum((d for d, _ in combo), []), (kind, tuple(v for _, v in combo)))
                for combo in itertools.product(*(ref_enum(x) for x in t))]
    return [([], plain(t))]


def has_float(t: Any) -> bool:
    if isinstance(t, FloatV):
        return True
    return any(has_float(c) for c in _children(t))


def count_primitives(t: Any) -> int:
    return isinstance(t, HyperPrimitive) + sum(count_primitives(c) for c in _children(t))


def _children(t: Any) -> list:
    if isinstance(t, (OneOf, ManyOf)):
        return list(t.candidates)
    if isinstance(t, bn.Call):
        return [*t.args, *t.kwargs.values()]
    if isinstance(t, Pair):
        return [t.left, t.right]
    if isinstance(t, dict):
        return list(t.values())
    if isinstance(t, (list, tuple)):
        return list(t)
    return []


# ---------------------------------------------------------------------- space strategy
leaves = st.one_of(st.integers(-3, 3), st.sampled_from(["relu", "gelu"]), st.none(),
                   st.builds(lambda b: bytearray(b), st.binary(min_size=1, max_size=2)),
                   st.builds(lambda w: Scale([w]), st.integers(1, 3)))
floats = st.one_of(
    st.tuples(st.integers(-4, 2), st.integers(1, 4)).map(lambda p: bn.floatv(p[0], p[0] + p[1])),
    st.tuples(st.sampled_from([1e-3, 0.5, 2.0]), st.integers(2, 50))
      .map(lambda p: bn.floatv(p[0], p[0] * p[1], scale="log")))


@st.composite
def candidate_lists(draw, sub, max_size=3):
    """Candidates that materialise to pairwise different values (so encode is unambiguous):
    distinct ints, or ``("c", i, subtree)`` tagged with their position."""
    n = draw(st.integers(1, max_size))
    out = []
    for i in range(n):
        if draw(st.integers(0, 2)) == 0:
            out.append(100 + i)
        else:
            out.append(("c", i, draw(sub)))
    return out


def templates(depth: int, with_floats: bool = True) -> st.SearchStrategy:
    base = st.one_of(leaves, floats) if with_floats else leaves
    if depth == 0:
        return st.one_of(base, candidate_lists(leaves).map(bn.oneof))
    sub = templates(depth - 1, with_floats)
    names = st.sampled_from(["x", "y", "z"])

    @st.composite
    def manyofs(draw):
        cands = draw(candidate_lists(sub, max_size=3))
        distinct = draw(st.booleans())
        k = draw(st.integers(1, len(cands) if distinct else 2))
        return bn.manyof(k, cands, distinct=distinct, sorted=draw(st.booleans()))

    oneofs = candidate_lists(sub).map(bn.oneof)  # conditional sub-spaces in tagged candidates
    return st.one_of(
        base, oneofs, oneofs, manyofs(),
        st.dictionaries(names, sub, min_size=1, max_size=3),
        st.lists(sub, min_size=1, max_size=2),
        st.lists(sub, min_size=1, max_size=2).map(tuple),
        st.builds(Pair, sub, sub),
        st.builds(lambda a, kw: bn.Call(Node, *a, **kw),
                  st.lists(sub, max_size=2), st.dictionaries(names, sub, max_size=2)),
    )


def _with_conditional_root(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Half the examples get a conditional root: a oneof between two generated sub-spaces
    and a plain candidate, inside a dict next to a third sub-space."""
    searched = strategy.filter(lambda t: count_primitives(t) > 0)
    rooted = st.builds(lambda a, b, c: {"head": bn.oneof([("c", 0, a), ("c", 1, b), 7]),
                                        "tail": c}, searched, strategy, strategy)
    return st.one_of(searched, rooted)


spaces = _with_conditional_root(templates(3))
finite_spaces = _with_conditional_root(templates(3, with_floats=False))


def finite_small(t: Any, limit: int = 400) -> bn.Space:
    space = bn.Space(t)
    assume(space.size <= limit)
    return space


# ---------------------------------------------------------------------- properties
@SETTINGS
@given(finite_spaces)
def test_enumeration_matches_reference_size_order_dna_and_values(t):
    space = finite_small(t)
    ref = ref_enum(t)
    got = list(space.iter_dna())
    assert space.size == len(ref) == len(got)
    # same order, and inactive conditional decisions are absent (the reference never has them)
    assert [list(d) for d in got] == [d for d, _ in ref]
    for dna, value in ref:
        child = space.materialize(dna)
        assert plain(child) == value
        assert list(space.encode(child)) == dna


@SETTINGS
@given(spaces, st.integers(0, 2**32 - 1))
def test_encode_materialize_round_trip_on_samples(t, seed):
    space = bn.Space(t)
    rng = np.random.default_rng(seed)
    for dna in [space.sample(rng) for _ in range(5)] + space.spec.from_vectors(
            space.sample_batch(5, rng)):
        assert space.validate(dna) == dna
        child = space.materialize(dna)
        assert space.encode(child) == dna
        back = bn.DNA.from_json(dna.to_json())
        assert back == dna and [type(v) for v in back] == [type(v) for v in dna]


@SETTINGS
@given(spaces, st.integers(0, 2**32 - 1))
def test_sample_batch_rows_are_valid_and_inactive_entries_marked(t, seed):
    space = bn.Space(t)
    X = space.sample_batch(64, np.random.default_rng(seed))
    assert X.shape == (64, space.num_decisions)
    assert X.dtype == (np.int64 if space.is_choice_only else np.float64)
    active = space.active_mask(X)
    for x, act in zip(X, active):
        dna = space.from_vector(x)
        assert space.validate(dna) == dna
        assert len(dna) == int(act.sum())  # one value per active decision, none for inactive
        vec = space.to_vector(dna)
        for dp, a, v in zip(space.decision_points, act, vec):
            if not a:
                assert (np.isnan(v) if dp.kind == "float" else v == -1)
            elif dp.kind == "choice":
                assert 0 <= v < dp.num_choices
            else:
                assert dp.low <= v <= dp.high
        np.testing.assert_array_equal(vec[act], x[act])
    assert space.spec.from_vectors(X) == [space.from_vector(x) for x in X]


@SETTINGS
@given(spaces, st.integers(0, 2**32 - 1))
def test_conditional_decisions_active_only_under_their_choice(t, seed):
    space = bn.Space(t)
    dna = space.sample(np.random.default_rng(seed))
    vec = space.to_vector(dna)
    for dp in space.decision_points:
        p = dp.parent
        parent_active = p < 0 or (vec[p] >= 0 and _active(space, vec, p))
        should = p < 0 or (parent_active and vec[p] == dp.parent_choice)
        assert _active(space, vec, dp.index) == should


def _active(space: bn.Space, vec: np.ndarray, d: int) -> bool:
    v = vec[d]
    return not (np.isnan(v) if space.decision_points[d].kind == "float" else v == -1)


@SETTINGS
@given(spaces, st.integers(0, 2**32 - 1))
def test_materialize_returns_fresh_objects(t, seed):
    space = bn.Space(t)
    dna = space.sample(np.random.default_rng(seed))
    a, b = space.materialize(dna), space.materialize(dna)
    before = plain(b)
    mutate(a)
    assert plain(b) == before
    assert plain(space.materialize(dna)) == before  # the template is untouched too


@SETTINGS
@given(spaces)
def test_decision_point_names_unique_and_indices_depth_first(t):
    space = bn.Space(t)
    dps = space.decision_points
    assert len({d.name for d in dps}) == len(dps)
    assert [d.index for d in dps] == list(range(len(dps)))
    assert all(d.parent < d.index for d in dps)
    assert json.loads(json.dumps(space.spec.names)) == [d.name for d in dps]
