"""A registry of named search spaces, in the style of timm's model registry.

>>> from budgetnas.spaces import get_space, list_spaces
>>> "proxylessnas" in list_spaces()
True
>>> space = get_space("proxylessnas")
>>> space.num_decisions
21

Register a factory (any callable returning a space) with :func:`register_space`; the name
defaults to the function's name. ``kind`` groups spaces (``"conv"`` for image spaces) so that
tests can run over every space of a kind, as timm's tests run over every model.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any

from budgetnas.errors import SpaceError

__all__ = ["register_space", "list_spaces", "get_space", "space_kind"]

_FACTORIES: dict[str, Callable[..., Any]] = {}
_KINDS: dict[str, str] = {}


def register_space(name: str | None = None, kind: str = "conv") -> Callable[[Callable], Callable]:
    """Decorator that registers a space factory under ``name`` (default: the function's name).

    Raises
    ------
    SpaceError
        If ``name`` is already registered to another factory.

    Examples
    --------
    >>> @register_space("my_tiny_space", kind="example")
    ... def my_tiny_space(widths=(8, 16)):
    ...     from budgetnas.space import Space, oneof
    ...     return Space({"width": oneof(list(widths))})
    >>> get_space("my_tiny_space").size
    2
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name or fn.__name__
        old = _FACTORIES.get(key)
        if old is not None and getattr(old, "__qualname__", None) != fn.__qualname__:
            raise SpaceError(f"a search space named {key!r} is already registered "
                             f"({old.__module__}.{old.__qualname__}); choose another name")
        _FACTORIES[key], _KINDS[key] = fn, kind
        return fn

    return decorate


def _ensure_builtin() -> None:
    import budgetnas.spaces  # noqa: F401  (registers the built-in spaces on import)


def list_spaces(pattern: str = "*", kind: str | None = None) -> list[str]:
    """Sorted names of the registered spaces matching ``pattern`` (fnmatch) and ``kind``."""
    _ensure_builtin()
    return sorted(n for n in _FACTORIES
                  if fnmatch.fnmatch(n, pattern) and (kind is None or _KINDS[n] == kind))


def space_kind(name: str) -> str:
    """The kind a space was registered with (``"conv"`` for image spaces).

    Raises
    ------
    SpaceError
        If no space has that name.
    """
    _ensure_builtin()
    _check(name)
    return _KINDS[name]


def get_space(name: str, **kwargs: Any) -> Any:
    """Create the registered space ``name`` with the factory's keyword arguments.

    Raises
    ------
    SpaceError
        If no space has that name (the message lists the closest names).
    """
    _ensure_builtin()
    _check(name)
    return _FACTORIES[name](**kwargs)


def _check(name: str) -> None:
    if name not in _FACTORIES:
        close = difflib.get_close_matches(name, list(_FACTORIES), n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise SpaceError(f"no search space named {name!r}{hint} Registered: {sorted(_FACTORIES)}")
