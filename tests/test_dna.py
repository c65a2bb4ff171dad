"""DNA: an immutable, hashable tuple of decisions with a JSON form and no metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import budgetnas as bn
from budgetnas.errors import InvalidDNAError

decisions = st.lists(st.one_of(st.integers(0, 10**6),
                               st.floats(allow_nan=False, allow_infinity=False)), max_size=20)


@settings(derandomize=True, max_examples=200)
@given(decisions)
def test_json_round_trip_keeps_values_and_types(values):
    dna = bn.DNA(values)
    back = bn.DNA.from_json(dna.to_json())
    assert back == dna
    assert [type(v) for v in back] == [type(v) for v in dna]
    assert hash(back) == hash(dna)
    assert json.loads(dna.to_json()) == list(values)


def test_equality_and_hash_are_on_decisions_only():
    a, b = bn.DNA([2, 0, 1]), bn.DNA((2, 0, 1))
    assert a == b == (2, 0, 1) and hash(a) == hash(b) == hash((2, 0, 1))
    assert len({a, b, bn.DNA([2, 0, 2])}) == 2
    assert a != bn.DNA([2, 0]) and a != bn.DNA([0, 1, 2])
    assert repr(a) == "DNA([2, 0, 1])"


def test_numpy_scalars_become_plain_python_numbers():
    dna = bn.DNA([np.int64(3), np.int32(1), np.float32(0.5), np.float64(2.5)])
    assert [type(v) for v in dna] == [int, int, float, float]
    assert dna == (3, 1, 0.5, 2.5)
    assert dna.to_json() == "[3, 1, 0.5, 2.5]"


def test_dna_is_immutable():
    dna = bn.DNA([1, 2])
    with pytest.raises(TypeError):
        dna[0] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        dna.meta = "x"  # type: ignore[attr-defined]  # no metadata can be attached


@pytest.mark.parametrize("bad", [[True], [np.True_], ["3"], [None], [[1, 2]], [{"a": 1}]])
def test_rejects_values_that_are_not_decisions(bad):
    with pytest.raises(InvalidDNAError, match="DNA decision"):
        bn.DNA(bad)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1}', "3", '["x"]', "null"])
def test_from_json_rejects_non_dna(text):
    with pytest.raises(InvalidDNAError):
        bn.DNA.from_json(text)
