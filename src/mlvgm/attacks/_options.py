"""Checks of the attacks' settings, each raising :class:`~mlvgm.errors.ConfigError`."""

from __future__ import annotations

from mlvgm._checks import check_positive
from mlvgm.errors import ConfigError


def check_count(value: int, name: str) -> None:
    """Check that ``value`` is an integer >= 1.

    Raises:
        ConfigError: if it is not.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")


def check_optional_eps(eps: float | None) -> float | None:
    """Check a minimal-norm attack's optional bound.

    Args:
        eps: the L2 bound, or ``None`` for none.

    Returns:
        ``eps`` as a float, or ``None``.

    Raises:
        ConfigError: if ``eps`` is neither ``None`` nor a positive finite number.
    """
    if eps is None:
        return None
    check_positive(eps, "eps")
    return float(eps)


def check_number(
    value: float, name: str, low: float, high: float = float("inf"), low_open: bool = False
) -> float:
    """Check that ``value`` is a real number in ``[low, high]`` (``(low, high]`` if ``low_open``).

    Returns:
        ``value`` as a float.

    Raises:
        ConfigError: if it is not a number or lies outside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    above_low = value > low if low_open else value >= low
    if not (above_low and value <= high):
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise ConfigError(f"{name} must lie in {interval}, got {value}")
    return float(value)


def check_seed(seed: int | None) -> None:
    """Check a random seed.

    Raises:
        ConfigError: if ``seed`` is neither an integer nor ``None``.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
