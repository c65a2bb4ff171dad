"""DNA: the canonical genotype of a child, as search algorithms see it.

A DNA is the tuple of the decisions of the *active* decision points of a space, in depth-first
order: an ``int`` (candidate index) for a choice, a ``float`` for a ``floatv``. It carries no
metadata, so two DNA are equal exactly when their decisions are (PyGlove, Peng et al. 2020, §3,
whose DNA hashes metadata too; we do not).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Union

from budgetnas.errors import InvalidDNAError

__all__ = ["DNA"]

Decision = Union[int, float]


class DNA(tuple):
    """An immutable, hashable tuple of decisions.

    >>> dna = DNA([2, 0, 1])
    >>> DNA.from_json(dna.to_json()) == dna
    True
    """

    __slots__ = ()

    def __new__(cls, decisions: Iterable[Decision] = ()) -> DNA:
        values = []
        for v in decisions:
            if type(v) is int:  # the common case, first: plain Python ints need no conversion
                values.append(v)
                continue
            if isinstance(v, bool) or type(v).__name__ in ("bool", "bool_"):  # numpy.bool_ too
                raise InvalidDNAError(f"a DNA decision must be an int or float, got bool {v!r}")
            if isinstance(v, int) or (hasattr(v, "__index__") and not isinstance(v, float)):
                values.append(int(v))
            elif isinstance(v, float) or hasattr(v, "__float__"):
                values.append(float(v))
            else:
                raise InvalidDNAError(
                    f"a DNA decision must be an int (choice) or float (floatv), got {v!r}")
        return super().__new__(cls, values)

    @classmethod
    def _trusted(cls, values: list) -> DNA:
        """A DNA from a list of plain ``int``/``float`` values already known to be decisions.

        Internal fast path for vectors produced by a :class:`Spec` (``ndarray.tolist()``).
        """
        return tuple.__new__(cls, values)

    def to_json(self) -> str:
        """The DNA as a JSON list, e.g. ``"[2, 0, 1]"``."""
        return json.dumps(list(self))

    @classmethod
    def from_json(cls, text: str) -> DNA:
        """Parse :meth:`to_json` output.

        Raises
        ------
        InvalidDNAError
            If ``text`` is not a JSON list of numbers.
        """
        try:
            value = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise InvalidDNAError(f"not a DNA in JSON: {text!r} ({exc})") from None
        if not isinstance(value, list):
            raise InvalidDNAError(f"a DNA in JSON is a list of numbers, got {text!r}")
        return cls(value)

    def __repr__(self) -> str:
        return f"DNA({list(self)!r})"
