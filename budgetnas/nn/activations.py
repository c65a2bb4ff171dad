"""Activation functions by name, so that search spaces can hold plain strings."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from budgetnas.errors import LayerConfigError

#: Name -> factory of a fresh activation module. ``hswish``/``hsigmoid`` are MobileNetV3's
#: piecewise-linear approximations (Howard et al. 2019, Sec. 5.2).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
    "hsigmoid": lambda: nn.Hardsigmoid(inplace=True),
    "sigmoid": nn.Sigmoid,
    "swish": lambda: nn.SiLU(inplace=True),
    "identity": nn.Identity,
}


def get_activation(name: str | None) -> nn.Module:
    """Return a new activation module for ``name``.

    Parameters
    ----------
    name : str or None
        One of ``"relu"``, ``"relu6"``, ``"hswish"``, ``"hsigmoid"``, ``"sigmoid"``, ``"swish"``,
        ``"identity"``; ``None`` means identity.

    Returns
    -------
    torch.nn.Module
        A fresh module (never shared between layers); shape-preserving.

    Raises
    ------
    LayerConfigError
        If ``name`` is not a known activation.

    Examples
    --------
    >>> get_activation("hswish")
    Hardswish()
    """
    if name is None:
        return nn.Identity()
    key = name.lower() if isinstance(name, str) else name
    if key not in ACTIVATIONS:
        raise LayerConfigError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)} or None"
        )
    return ACTIVATIONS[key]()
