"""Rounding of filter counts to hardware-friendly multiples (MobileNetV2/V3 convention)."""

from __future__ import annotations


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a filter count to the nearest multiple of ``divisor``, never below 90 % of ``v``.

    The rule of the MobileNetV2 and MobileNetV3 reference code (Sandler et al. 2018; Howard et al.
    2019, the ``_make_divisible`` helper), also used for the filter counts of TuNAS and MobileDets.

    Parameters
    ----------
    v : float
        Requested number of channels (e.g. ``in_ch * expansion`` or ``ch * se_ratio``).
    divisor : int, default 8
        The result is a multiple of this.
    min_value : int, optional
        Lower bound of the result; defaults to ``divisor``.

    Returns
    -------
    int
        ``max(min_value, round(v / divisor) * divisor)``, bumped up by one ``divisor`` when that
        rounding lost more than 10 % of ``v``.

    Raises
    ------
    ValueError
        If ``divisor`` is not positive.

    Examples
    --------
    >>> make_divisible(32 * 0.75), make_divisible(10), make_divisible(72 * 0.25)
    (24, 16, 24)
    """
    if divisor <= 0:
        raise ValueError(f"make_divisible: divisor must be a positive int, got {divisor!r}")
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # do not round down by more than 10 %
        new_v += divisor
    return int(new_v)
