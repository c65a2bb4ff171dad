"""Search spaces on hand-written examples: names, sizes, conditional decisions, materialize and
encode on real value types (dataclasses, symbolic calls of torch modules), and bad input."""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import NamedTuple

import numpy as np
import pytest
import torch
from torch import nn

import budgetnas as bn
from budgetnas.errors import InvalidDNAError, SpaceError
from tests.algorithm_checks import twelve_decision_space


# ---------------------------------------------------------------------- the 12-decision space
def test_twelve_decision_space_size_names_and_round_trip():
    space = twelve_decision_space()
    assert space.size == len(space) == 3**4 * 3**4 * 4**4 == 1_679_616
    assert space.num_decisions == 12 and space.is_choice_only
    assert space.spec.names[:3] == ["blocks[0].kernel", "blocks[0].expansion", "blocks[0].width"]
    np.testing.assert_array_equal(space.num_choices, [3, 3, 4] * 4)
    child = space.materialize([2, 0, 3] * 4)
    assert child == {"blocks": [{"kernel": 7, "expansion": 1, "width": 48}] * 4}
    assert space.encode(child) == bn.DNA([2, 0, 3] * 4)
    assert space.spec["blocks[3].width"].index == 11
    with pytest.raises(KeyError, match="blocks\\[9\\].width"):
        space.spec["blocks[9].width"]


def test_first_and_lazy_enumeration_do_not_build_the_space():
    space = twelve_decision_space()
    it = space.iter_dna()
    assert next(it) == (0,) * 12 and next(it) == (0,) * 11 + (1,)
    assert next(space.iter_dna(start=space.size - 1)) == (2, 2, 3) * 4
    assert space.spec.first_dna() == (0,) * 12


def test_seeded_sampling_is_reproducible():
    space = twelve_decision_space()
    a = space.sample_batch(1000, np.random.default_rng(4))
    b = space.sample_batch(1000, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64 and a.shape == (1000, 12)
    assert (a >= 0).all() and (a < space.num_choices).all()
    assert space.sample(np.random.default_rng(4)) == space.sample(np.random.default_rng(4))


# ---------------------------------------------------------------------- conditional spaces
def conditional():
    return bn.Space({
        "op": bn.oneof([
            {"type": "conv", "kernel": bn.oneof([3, 5]), "act": bn.oneof(["relu", "gelu"])},
            {"type": "mlp", "hidden": bn.manyof(2, [8, 16, 32], sorted=True)},
            "identity",
        ], name="op"),
        "lr": bn.floatv(1e-4, 1e-1, scale="log"),
    })


def test_conditional_decisions_have_parents_and_are_absent_when_inactive():
    space = conditional()
    dps = {d.name: d for d in space.decision_points}
    assert list(dps) == ["op", "op#0.kernel", "op#0.act", "op#1.hidden[0]", "op#1.hidden[1]", "lr"]
    assert (dps["op#0.kernel"].parent, dps["op#0.kernel"].parent_choice) == (0, 0)
    assert (dps["op#1.hidden[1]"].parent, dps["op#1.hidden[1]"].parent_choice) == (0, 1)
    assert dps["lr"].parent == -1 and dps["lr"].kind == "float"
    conv = space.materialize([0, 1, 0, 0.01])
    assert conv == {"op": {"type": "conv", "kernel": 5, "act": "relu"}, "lr": 0.01}
    mlp = space.materialize([1, 0, 2, 0.001])
    assert mlp == {"op": {"type": "mlp", "hidden": [8, 32]}, "lr": 0.001}
    ident = space.materialize([2, 0.05])
    assert ident == {"op": "identity", "lr": 0.05}
    for dna, child in [([0, 1, 0, 0.01], conv), ([1, 0, 2, 0.001], mlp), ([2, 0.05], ident)]:
        assert space.encode(child) == tuple(dna)
    vec = space.to_vector([2, 0.05])
    assert vec[:5].tolist() == [2, -1, -1, -1, -1] and vec[5] == 0.05
    with pytest.raises(InvalidDNAError, match="more than"):
        space.validate([2, 0.05, 0.05])  # one value too many: inactive decisions take none
    assert math.isinf(space.size)
    with pytest.raises(TypeError, match="infinite"):
        len(space)
    with pytest.raises(SpaceError, match="infinite"):
        space.iter_dna()


def test_sizes_of_manyof_variants_and_conditional_sums():
    def size(**kw):
        return bn.Space(bn.manyof(2, ["a", "b", "c", "d"], **kw)).size

    assert size() == 12  # distinct, ordered: 4 * 3
    assert size(sorted=True) == 6  # C(4, 2)
    assert size(distinct=False) == 16  # 4 ** 2
    assert size(distinct=False, sorted=True) == 10  # multisets: C(5, 2)
    nested = bn.Space(bn.manyof(2, [bn.oneof([1, 2, 3]), "x"], sorted=True))
    assert nested.size == 3 == len(list(nested.iter_dna()))  # one way to pick both: 3 * 1
    cond = bn.Space({"a": bn.oneof([{"k": bn.oneof([1, 2, 3])}, "none"]), "b": bn.oneof([0, 1])})
    assert cond.size == (3 + 1) * 2 == len(list(cond.iter_dna()))


def test_log_floatv_samples_log_uniformly():
    space = bn.Space({"lr": bn.floatv(1e-4, 1.0, scale="log")})
    x = space.sample_batch(20_000, np.random.default_rng(0))[:, 0]
    assert x.min() >= 1e-4 and x.max() <= 1.0
    assert np.median(x) == pytest.approx(1e-2, rel=0.1)  # the geometric mean
    assert np.mean(x < 1e-3) == pytest.approx(0.25, abs=0.02)


def test_named_primitive_inside_a_manyof_gets_a_slot_prefix():
    space = bn.Space({"ops": bn.manyof(2, [{"k": bn.oneof([3, 5], name="kernel")}, "pool"],
                                       name="ops")})
    assert space.spec.names == ["ops[0]", "ops[0].kernel", "ops[1]", "ops[1].kernel"]
    assert space.materialize([0, 1, 1]) == {"ops": [{"k": 5}, "pool"]}


# ---------------------------------------------------------------------- value types
@dataclasses.dataclass
class Block:
    kernel: int
    width: int = 16
    tags: list = dataclasses.field(default_factory=list)


class Shape(NamedTuple):
    h: int
    w: int


def test_dataclass_namedtuple_and_dict_subclasses():
    space = bn.Space({
        "block": Block(kernel=bn.oneof([3, 5]), tags=["a"]),
        "shape": Shape(bn.oneof([32, 64]), 32),
        "ordered": collections.OrderedDict(x=bn.oneof([1, 2])),
        "counts": collections.defaultdict(int, n=bn.oneof([0, 9])),
    })
    child = space.materialize([1, 0, 1, 1])
    assert child["block"] == Block(kernel=5, width=16, tags=["a"])
    assert child["shape"] == Shape(32, 32) and type(child["shape"]) is Shape
    assert type(child["ordered"]) is collections.OrderedDict and child["ordered"] == {"x": 2}
    assert type(child["counts"]) is collections.defaultdict and child["counts"]["n"] == 9
    assert space.encode(child) == (1, 0, 1, 1)
    assert child["counts"]["missing"] == 0  # the factory survived
    other = space.materialize([1, 0, 1, 1])
    child["block"].tags.append("b")
    assert other["block"].tags == ["a"]


def test_encode_accepts_dict_keys_in_another_order():
    space = bn.Space({"a": bn.oneof([1, 2]), "b": bn.oneof([3, 4])})
    assert space.encode({"b": 4, "a": 1}) == (0, 1)


def test_symbolic_torch_modules_are_fresh_and_encodable():
    Linear = bn.symbolic(nn.Linear)
    space = bn.Space(bn.Call(nn.Sequential,
                             Linear(8, bn.oneof([16, 32]), bias=bn.oneof([True, False])),
                             bn.oneof([nn.ReLU(), nn.Tanh()]),
                             nn.LayerNorm(4)))
    assert space.spec.names == ["Sequential[0][1]", "Sequential[0].bias", "Sequential[1]"]
    a, b = space.materialize([1, 0, 1]), space.materialize([1, 0, 1])
    assert isinstance(a[0], nn.Linear) and a[0].out_features == 32 and a[0].bias is not None
    assert isinstance(a[1], nn.Tanh)
    # no module or parameter is shared between children (the constant LayerNorm included)
    assert a[0] is not b[0] and a[1] is not b[1] and a[2] is not b[2]
    with torch.no_grad():
        a[2].weight.fill_(5.0)
    assert torch.equal(b[2].weight, torch.ones(4))
    assert space.encode(a) == (1, 0, 1)
    assert space.encode(space.materialize([0, 1, 0])) == (0, 1, 0)


def test_call_by_keyword_reads_arguments_back_from_attributes():
    space = bn.Space(bn.Call(nn.Linear, in_features=4, out_features=bn.oneof([2, 3])))
    made_elsewhere = nn.Linear(in_features=4, out_features=3)
    assert space.encode(made_elsewhere) == (1,)


def test_encode_rejects_values_that_are_not_children():
    space = twelve_decision_space()
    with pytest.raises(InvalidDNAError, match="blocks\\[0\\].kernel"):
        space.encode({"blocks": [{"kernel": 4, "expansion": 1, "width": 16}] * 4})
    with pytest.raises(InvalidDNAError, match="not a child"):
        space.encode({"blocks": []})
    with pytest.raises(InvalidDNAError, match="not a child"):
        space.encode([1, 2, 3])


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("make", "match"), [
    (lambda: bn.oneof([]), "candidate list is empty"),
    (lambda: bn.manyof(1, []), "candidate list is empty"),
    (lambda: bn.oneof("abc"), "list or tuple"),
    (lambda: bn.oneof([1, 2], name=""), "non-empty string"),
    (lambda: bn.floatv(1.0, 1.0), "low must be < high"),
    (lambda: bn.floatv(2.0, 1.0), "low must be < high"),
    (lambda: bn.floatv(0.0, 1.0, scale="log"), "log scale needs low > 0"),
    (lambda: bn.floatv(-1.0, 1.0, scale="log"), "log scale needs low > 0"),
    (lambda: bn.floatv(0.0, math.inf), "finite"),
    (lambda: bn.floatv(0.0, 1.0, scale="cubic"), "scale must be"),
    (lambda: bn.manyof(4, [1, 2, 3]), "k=4 distinct values from 3 candidates"),
    (lambda: bn.manyof(0, [1, 2, 3]), "positive integer"),
    (lambda: bn.Space({"a": bn.oneof([1, 2], name="w"), "b": bn.oneof([3, 4], name="w")}),
     "duplicate decision-point names \\['w'\\]"),
    (lambda: bn.Space({"a": 1, "b": [2, 3]}), "no hyper primitive"),
])
def test_bad_space_definitions_raise_space_error(make, match):
    with pytest.raises(SpaceError, match=match):
        make()


def test_manyof_with_repeats_allows_k_above_candidates():
    assert bn.Space(bn.manyof(4, [1, 2, 3], distinct=False)).size == 81


@pytest.mark.parametrize(("dna", "match"), [
    ([0, 0, 0], "too short.*'blocks\\[1\\].width'.*0=16, 1=32"),
    ([0, 0, 0, 0, 0], "1 value\\(s\\) more.*another space"),
    ([0, 2, 0, 0], "'blocks\\[0\\].width' got 2; expected an int in 0..1 \\(0=16, 1=32\\)"),
    ([-1, 0, 0, 0], "'blocks\\[0\\].kernel' got -1; expected an int in 0..2 \\(0=3, 1=5, 2=7\\)"),
    ([0, 1.0, 0, 0], "'blocks\\[0\\].width' expects an int"),
    ([0, True, 0, 0], "expects an int"),
])
def test_invalid_dna_messages_name_the_decision_point_and_allowed_values(dna, match):
    space = bn.Space({"blocks": [{"kernel": bn.oneof([3, 5, 7]), "width": bn.oneof([16, 32])}
                                 for _ in range(2)]})
    with pytest.raises(InvalidDNAError, match=match):
        space.validate(dna)
    with pytest.raises(InvalidDNAError, match=match):
        space.materialize(dna)
    with pytest.raises(InvalidDNAError, match=match):
        space.to_vector(dna)


def test_dna_from_another_space_is_refused():
    twelve = twelve_decision_space()
    small = bn.Space({"kernel": bn.oneof([3, 5, 7]), "width": bn.oneof([16, 32])})
    other = conditional()
    rng = np.random.default_rng(0)
    for _ in range(20):  # whatever the values, a DNA of another space never passes
        with pytest.raises(InvalidDNAError):
            other.materialize(twelve.sample(rng))
        with pytest.raises(InvalidDNAError):
            twelve.materialize(other.sample(rng))
    with pytest.raises(InvalidDNAError, match="10 value\\(s\\) more.*another space"):
        small.validate(twelve.sample(rng))
    with pytest.raises(InvalidDNAError, match="too short"):
        twelve.validate(small.sample(rng))
    with pytest.raises(InvalidDNAError, match="'lr' got 7.0; expected a float in"):
        other.validate([2, 7.0])


def test_manyof_rules_are_checked_in_dna():
    space = bn.Space(bn.manyof(2, ["a", "b", "c"], sorted=True, name="ops"))
    with pytest.raises(InvalidDNAError, match="distinct but slot 'ops\\[1\\]' repeats"):
        space.validate([1, 1])
    with pytest.raises(InvalidDNAError, match="sorted but slot 'ops\\[1\\]' has 0 after 2"):
        space.validate([2, 0])
    assert space.materialize([0, 2]) == ["a", "c"]


def test_vector_shapes_are_checked():
    space = twelve_decision_space()
    with pytest.raises(InvalidDNAError, match="shape \\(12,\\)"):
        space.from_vector(np.zeros(11, dtype=np.int64))
    with pytest.raises(InvalidDNAError, match="shape \\(n, 12\\)"):
        space.spec.from_vectors(np.zeros((3, 11), dtype=np.int64))


def test_validate_returns_canonical_types():
    space = bn.Space({"x": bn.floatv(0, 2), "k": bn.oneof([3, 5])})
    dna = space.validate([1, np.int64(1)])
    assert dna == (1.0, 1) and [type(v) for v in dna] == [float, int]
    assert type(space.materialize([1, 0])["x"]) is float
    assert space.validate(bn.DNA([0.5, 0])) == (0.5, 0)
