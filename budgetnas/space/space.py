"""``Space``: an ordinary Python value with hyper primitives in it.

The value is compiled once into a tree of small builder functions, so that materialising a DNA
walks no type checks (PyGlove, Peng et al. 2020, §3; its runtime checks make it slow, papers.md §1).

>>> import budgetnas as bn
>>> space = bn.Space({"kernel": bn.oneof([3, 5, 7]), "width": bn.oneof([16, 32])})
>>> space.size
6
>>> space.materialize([2, 0])
{'kernel': 7, 'width': 16}
>>> space.encode({'kernel': 7, 'width': 16})
DNA([2, 0])
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import enum
import inspect
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import InvalidDNAError, SpaceError
from budgetnas.space._inline import Inliner
from budgetnas.space.dna import DNA
from budgetnas.space.primitives import Call, FloatV, HyperPrimitive, ManyOf, OneOf
from budgetnas.space.spec import DecisionPoint, ManyOfGroup, Spec, count_choices

__all__ = ["Space"]

Builder = Callable[[Iterator], Any]
Encoder = Callable[[Any, list], None]

# Concrete arguments of objects made by a symbolic Call, so ``encode`` can read them back.
_CALL_ARGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Template leaf of each deep-copied mutable leaf (an nn.Module has identity equality).
_COPIED_FROM: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), frozenset, range, type)


class _Mismatch(Exception):
    """Raised inside ``encode`` when a value does not fit a template."""


class Space:
    """A search space: ``value`` with hyper primitives (``oneof``, ``manyof``, ``floatv``).

    Primitives may sit anywhere inside dicts, lists, tuples, dataclasses and symbolic calls
    (:class:`budgetnas.Call`). Decision points are named by their path (``"blocks[0].kernel"``)
    unless given a ``name``. A candidate holding primitives makes them conditional.

    Parameters
    ----------
    value : Any
        The template.

    Raises
    ------
    SpaceError
        Duplicate decision-point names, or a value with no decision point at all.

    See Also
    --------
    budgetnas.oneof, budgetnas.manyof, budgetnas.floatv, budgetnas.Study
    """

    def __init__(self, value: Any) -> None:
        self.value = value
        self._dps: list[DecisionPoint] = []
        self._groups: list[ManyOfGroup] = []
        self._scope: list[str] = []  # names of the enclosing manyof slots
        self._inl = Inliner()
        build, self._encode, size = self._compile(value, "", -1, -1)
        self._build = self._inl.function(build)
        counts = collections.Counter(d.name for d in self._dps)
        dupes = sorted(n for n, c in counts.items() if c > 1)
        if dupes:
            raise SpaceError(f"duplicate decision-point names {dupes}; give each a unique name=")
        if not self._dps:
            raise SpaceError("the value has no hyper primitive (oneof, manyof, floatv): "
                             "there is nothing to search")
        self.spec = Spec(self._dps, self._groups, size)

    # ------------------------------------------------------------------ delegation to the spec
    @property
    def decision_points(self) -> list[DecisionPoint]:
        return self.spec.decision_points

    @property
    def num_decisions(self) -> int:
        return self.spec.num_decisions

    @property
    def num_choices(self) -> np.ndarray:
        return self.spec.num_choices

    @property
    def parent(self) -> np.ndarray:
        return self.spec.parent

    @property
    def parent_choice(self) -> np.ndarray:
        return self.spec.parent_choice

    @property
    def is_choice_only(self) -> bool:
        return self.spec.is_choice_only

    @property
    def size(self) -> int | float:
        """Exact number of children; ``math.inf`` when a ``floatv`` is present."""
        return self.spec.size

    def __len__(self) -> int:
        if math.isinf(self.size):
            raise TypeError("the space is infinite (it has a floatv); use .size")
        return int(self.size)

    def iter_dna(self, start: int = 0) -> Iterator[DNA]:
        """Every child's DNA, lazily (never builds the whole space), from the ``start``-th on.

        Raises
        ------
        SpaceError
            If the space has a ``floatv`` (it is infinite).
        """
        return self.spec.iter_dna(start)

    def sample(self, rng: np.random.Generator) -> DNA:
        """One random child's DNA, drawn with ``rng`` (a ``numpy.random.Generator``)."""
        return self.spec.sample(rng)

    def sample_batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random children as flat vectors, shape ``(n, D)``; see :meth:`Spec.sample_batch`."""
        return self.spec.sample_batch(n, rng)

    def to_vector(self, dna: Sequence[Any]) -> np.ndarray:
        return self.spec.to_vector(dna)

    def from_vector(self, vec: Sequence[Any]) -> DNA:
        return self.spec.from_vector(vec)

    def active_mask(self, X: np.ndarray) -> np.ndarray:
        return self.spec.active_mask(X)

    def validate(self, dna: Sequence[Any]) -> DNA:
        """Return ``dna`` as :class:`DNA` if it belongs to this space.

        Raises
        ------
        InvalidDNAError
            Naming the decision point and its allowed values.
        """
        return self.spec.validate(dna)

    # ------------------------------------------------------------------ materialize / encode
    def materialize(self, dna: Sequence[Any], validate: bool = True) -> Any:
        """The concrete child of ``dna``: fresh objects, no state shared with other children.

        ``validate=False`` skips the check for DNA that came from this space's own spec.

        Raises
        ------
        InvalidDNAError
            If ``dna`` does not belong to this space.
        """
        if validate:
            dna = self.spec.validate(dna)
        return self._build(iter(dna))

    def encode(self, child: Any) -> DNA:
        """The DNA of a concrete child (the inverse of :meth:`materialize`).

        Raises
        ------
        InvalidDNAError
            If ``child`` is not a child of this space.
        """
        out: list = []
        try:
            self._encode(child, out)
        except _Mismatch as exc:
            raise InvalidDNAError(f"the value is not a child of this space: {exc}") from None
        return DNA(out)

    def __repr__(self) -> str:
        return f"Space(decisions={self.num_decisions}, size={self.size})"

    # ------------------------------------------------------------------ compilation
    def _compile(self, v: Any, path: str, parent: int, parent_choice: int
                 ) -> tuple[Builder, Encoder, int | float]:
        """Compile a template into (builder, encoder, number of children)."""
        if isinstance(v, OneOf):
            return self._compile_oneof(v, path, parent, parent_choice)
        if isinstance(v, ManyOf):
            return self._compile_manyof(v, path, parent, parent_choice)
        if isinstance(v, FloatV):
            return self._compile_float(v, path, parent, parent_choice)
        if isinstance(v, HyperPrimitive):
            raise SpaceError(f"unknown hyper primitive {v!r} at {path or 'the root'}")
        if isinstance(v, Call):
            return self._compile_call(v, path, parent, parent_choice)
        if isinstance(v, dict):
            return self._compile_dict(v, path, parent, parent_choice)
        if isinstance(v, (list, tuple)):
            return self._compile_sequence(v, path, parent, parent_choice)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return self._compile_dataclass(v, path, parent, parent_choice)
        build, encode, size = _compile_constant(v)
        if hasattr(build, "constant"):
            build.expr = (self._inl.name(v), 0)  # type: ignore[attr-defined]
        return build, encode, size

    def _add(self, path: str, name: str | None, **kw: Any) -> int:
        index = len(self._dps)
        self._dps.append(DecisionPoint(index=index, name=self._scoped(name) or path or "root",
                                       path=path or "root", **kw))
        return index

    def _scoped(self, name: str | None) -> str | None:
        """A user's name inside a manyof slot gets the slot's name in front: the candidate is
        compiled once per slot, and ``name="op"`` would otherwise repeat k times."""
        return f"{self._scope[-1]}.{name}" if name and self._scope else name

    def _compile_oneof(self, v: OneOf, path: str, parent: int, pc: int):
        d = self._add(path, v.name, kind="choice", num_choices=len(v.candidates),
                      candidates=v.candidates, parent=parent, parent_choice=pc)
        parts = [self._compile(c, f"{path}#{i}", d, i) for i, c in enumerate(v.candidates)]
        builders = tuple(p[0] for p in parts)
        encoders = tuple(p[1] for p in parts)
        if all(hasattr(b, "constant") for b in builders):  # e.g. oneof([3, 5, 7]): index a tuple
            values = tuple(b.constant for b in builders)

            def build(it: Iterator) -> Any:
                return values[next(it)]

            build.expr = (f"{self._inl.name(values)}[_n(it)]", 1)  # type: ignore[attr-defined]
        else:
            builders = tuple(self._inl.function(b) for b in builders)

            def build(it: Iterator) -> Any:
                return builders[next(it)](it)

        def encode(x: Any, out: list) -> None:
            _match(encoders, x, out, self._dps[d].name)

        return build, encode, sum(p[2] for p in parts)

    def _compile_manyof(self, v: ManyOf, path: str, parent: int, pc: int):
        base = self._scoped(v.name) or path or "root"
        slots, slot_parts = [], []
        for j in range(v.k):
            d = len(self._dps)
            self._dps.append(DecisionPoint(
                index=d, name=f"{base}[{j}]", path=f"{path}[{j}]" if path else f"root[{j}]",
                kind="choice", num_choices=len(v.candidates), candidates=v.candidates,
                parent=parent, parent_choice=pc, group=len(self._groups)))
            slots.append(d)
            self._scope.append(f"{base}[{j}]")
            try:
                slot_parts.append([self._compile(c, f"{path}[{j}]#{i}", d, i)
                                   for i, c in enumerate(v.candidates)])
            finally:
                self._scope.pop()
        self._groups.append(ManyOfGroup(tuple(slots), v.distinct, v.sorted, base))
        builders = [tuple(self._inl.function(p[0]) for p in parts) for parts in slot_parts]
        encoders = [tuple(p[1] for p in parts) for parts in slot_parts]
        size = count_choices([p[2] for p in slot_parts[0]], v.k, v.distinct, v.sorted)

        def build(it: Iterator) -> list:
            return [b[next(it)](it) for b in builders]

        def encode(x: Any, out: list) -> None:
            if not isinstance(x, (list, tuple)) or len(x) != v.k:
                raise _Mismatch(f"manyof {base!r} expects a list of {v.k} values, got {x!r}")
            for j, item in enumerate(x):
                _match(encoders[j], item, out, f"{base}[{j}]")

        return build, encode, size

    def _compile_float(self, v: FloatV, path: str, parent: int, pc: int):
        self._add(path, v.name, kind="float", num_choices=0, parent=parent, parent_choice=pc,
                  low=v.low, high=v.high, scale=v.scale)

        def build(it: Iterator) -> float:
            return next(it)

        build.expr = ("_n(it)", 1)  # type: ignore[attr-defined]

        def encode(x: Any, out: list) -> None:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not v.low <= x <= v.high:
                raise _Mismatch(f"{x!r} is not a float in [{v.low}, {v.high}]")
            out.append(float(x))

        return build, encode, math.inf

    def _compile_dict(self, v: dict, path: str, parent: int, pc: int):
        keys = list(v)
        parts = [self._compile(v[k], _join(path, k), parent, pc) for k in keys]
        builders = tuple(p[0] for p in parts)
        encoders = tuple(p[1] for p in parts)
        kind = type(v)

        pairs = tuple(zip(keys, builders))
        if kind is dict:

            def build(it: Iterator) -> dict:
                return {k: b(it) for k, b in pairs}

            refs = [self._inl.ref(b) for b in builders]
            build.expr = ("{" + ", ".join(f"{self._inl.name(k)}: {r[0]}"  # type: ignore[attr-defined]
                                          for k, r in zip(keys, refs)) + "}",
                          1 + max((r[1] for r in refs), default=0))
        else:  # a dict subclass: copy the template (keeps e.g. a defaultdict's factory), refill

            def build(it: Iterator) -> dict:
                out = copy.copy(v)
                out.clear()
                out.update({k: b(it) for k, b in pairs})
                return out

        key_set = set(keys)

        def encode(x: Any, out: list) -> None:
            if not isinstance(x, dict) or x.keys() != key_set:  # dict equality ignores order
                raise _Mismatch(f"expected a dict with keys {keys}, got {_brief(x)}")
            for k, e in zip(keys, encoders):
                e(x[k], out)

        return build, encode, math.prod(p[2] for p in parts)

    def _compile_sequence(self, v: list | tuple, path: str, parent: int, pc: int):
        parts = [self._compile(item, f"{path}[{i}]", parent, pc) for i, item in enumerate(v)]
        builders = tuple(p[0] for p in parts)
        encoders = tuple(p[1] for p in parts)
        kind = type(v)
        make: Callable[[list], Any]
        if kind is list:
            make = list
        elif kind is tuple:
            make = tuple
        elif hasattr(kind, "_make"):  # namedtuple
            make = kind._make
        else:
            make = kind

        def build(it: Iterator) -> Any:
            return make([b(it) for b in builders])

        inner, depth = self._inl.join(builders)
        if kind is list:
            src = f"[{inner}]"
        elif kind is tuple:
            src = f"({inner}{',' if inner else ''})"
        else:
            src = f"{self._inl.name(make)}([{inner}])"
        build.expr = (src, depth + 1)  # type: ignore[attr-defined]

        def encode(x: Any, out: list) -> None:
            if not isinstance(x, (list, tuple)) or len(x) != len(encoders):
                raise _Mismatch(f"expected a sequence of {len(encoders)}, got {_brief(x)}")
            for item, e in zip(x, encoders):
                e(item, out)

        return build, encode, math.prod(p[2] for p in parts)

    def _compile_dataclass(self, v: Any, path: str, parent: int, pc: int):
        fields = [f.name for f in dataclasses.fields(v) if f.init]
        parts = [self._compile(getattr(v, f), _join(path, f), parent, pc) for f in fields]
        builders = tuple(p[0] for p in parts)
        encoders = tuple(p[1] for p in parts)
        cls = type(v)

        def build(it: Iterator) -> Any:
            return cls(**{f: b(it) for f, b in zip(fields, builders)})

        refs = [self._inl.ref(b) for b in builders]
        build.expr = (f"{self._inl.name(cls)}("  # type: ignore[attr-defined]
                      + ", ".join(f"{f}={r[0]}" for f, r in zip(fields, refs)) + ")",
                      1 + max((r[1] for r in refs), default=0))

        def encode(x: Any, out: list) -> None:
            if type(x) is not cls:
                raise _Mismatch(f"expected a {cls.__name__}, got {_brief(x)}")
            for f, e in zip(fields, encoders):
                e(getattr(x, f), out)

        return build, encode, math.prod(p[2] for p in parts)

    def _compile_call(self, v: Call, path: str, parent: int, pc: int):
        fname = getattr(v.fn, "__name__", "call")
        base = path or fname
        args = [self._compile(a, f"{base}[{i}]", parent, pc) for i, a in enumerate(v.args)]
        keys = list(v.kwargs)
        kwargs = [self._compile(v.kwargs[k], _join(base, k), parent, pc) for k in keys]
        arg_b = tuple(self._inl.function(p[0]) for p in args)
        kw_b = tuple(self._inl.function(p[0]) for p in kwargs)
        arg_e = tuple(p[1] for p in args)
        kw_e = tuple(p[1] for p in kwargs)
        fn = v.fn

        def build(it: Iterator) -> Any:
            a = [b(it) for b in arg_b]
            kw = {k: b(it) for k, b in zip(keys, kw_b)}
            obj = fn(*a, **kw)
            try:
                _CALL_ARGS[obj] = (a, kw)
            except TypeError:  # not weak-referenceable (an int, say): encode compares values
                pass
            return obj

        def encode(x: Any, out: list) -> None:
            try:
                recorded = _CALL_ARGS.get(x)
            except TypeError:
                recorded = None
            if recorded is None:
                a, kw = _read_call_args(x, len(arg_e), keys)
            else:
                a, kw = recorded
            for item, e in zip(a, arg_e):
                e(item, out)
            for k, e in zip(keys, kw_e):
                e(kw[k], out)

        return build, encode, math.prod(p[2] for p in args + kwargs)


def _compile_constant(v: Any) -> tuple[Builder, Encoder, int]:
    if _is_shareable(v):

        def build(it: Iterator) -> Any:
            return v

        build.constant = v  # type: ignore[attr-defined]  # lets a oneof index its values directly
    else:  # a mutable leaf (a set, an array, an nn.Module): each child gets its own copy

        def build(it: Iterator) -> Any:
            clone = copy.deepcopy(v)
            try:
                _COPIED_FROM[clone] = v
            except TypeError:  # not weak-referenceable or unhashable: encode compares values
                pass
            return clone

    def encode(x: Any, out: list) -> None:
        if x is v:
            return
        try:
            if _COPIED_FROM.get(x) is v:
                return
        except TypeError:
            pass
        try:
            same = bool(x == v)
        except Exception:  # values whose == is not a bool (arrays, tensors)
            same = False
        if not same:
            raise _Mismatch(f"{_brief(x)} != {_brief(v)}")

    return build, encode, 1


def _is_shareable(v: Any) -> bool:
    """Immutable leaves, functions and classes may be shared by children; callable *instances*
    (an ``nn.Module``, say) hold state and must not be."""
    return (isinstance(v, _IMMUTABLE) or inspect.isroutine(v) or isinstance(v, type)
            or isinstance(v, enum.Enum))


def _match(encoders: Sequence[Encoder], x: Any, out: list, name: str) -> None:
    """Append the index of the first candidate whose template fits ``x``, then its decisions."""
    for i, e in enumerate(encoders):
        sub: list = []
        try:
            e(x, sub)
        except _Mismatch:
            continue
        out.append(i)
        out.extend(sub)
        return
    raise _Mismatch(f"{_brief(x)} matches no candidate of decision point {name!r}")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _brief(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_call_args(x: Any, n_args: int, keys: list[str]) -> tuple[list, dict]:
    """Arguments of an object not made by our Call: read them back from same-named attributes."""
    if n_args:
        raise _Mismatch(f"cannot read positional arguments back from {_brief(x)}; "
                        "build children with space.materialize or pass arguments by keyword")
    try:
        return [], {k: getattr(x, k) for k in keys}
    except AttributeError as exc:
        raise _Mismatch(f"{_brief(x)} has no attribute for argument {exc}") from None
