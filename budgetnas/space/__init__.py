"""Search spaces: hyper primitives, the spec of decision points, and DNA (PyGlove, §1)."""

from budgetnas.space.dna import DNA
from budgetnas.space.primitives import (
    Call,
    FloatV,
    HyperPrimitive,
    ManyOf,
    OneOf,
    floatv,
    manyof,
    oneof,
    symbolic,
)
from budgetnas.space.space import Space
from budgetnas.space.spec import DecisionPoint, ManyOfGroup, Spec

__all__ = ["DNA", "Call", "DecisionPoint", "FloatV", "HyperPrimitive", "ManyOf", "ManyOfGroup",
           "OneOf", "Space", "Spec", "floatv", "manyof", "oneof", "symbolic"]
