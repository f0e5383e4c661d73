"""Input checks shared by the whole package.

Each helper raises an :class:`~mlvgm.errors.MlvgmError` subclass whose message
says what was expected, what arrived and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mlvgm.errors import ConfigError, InputError


def check_images(x: torch.Tensor, name: str = "x", channels: int | None = None) -> None:
    """Check that ``x`` is a finite image batch in [0, 1].

    Args:
        x: (B, C, H, W) images.
        name: the argument's name, used in the message.
        channels: the expected C, or ``None`` for any.

    Raises:
        InputError: if ``x`` is not 4-D, has the wrong channel count, holds NaN or
            infinite values, or leaves [0, 1].
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(
            f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}; "
            "add a batch dimension with x.unsqueeze(0)"
        )
    if channels is not None and x.shape[1] != channels:
        raise InputError(f"{name} must have {channels} channel(s), got {x.shape[1]}")
    if x.numel() == 0:
        return
    if not torch.isfinite(x).all():
        raise InputError(f"{name} holds NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(
            f"{name} must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
            "images enter the models unnormalised"
        )


def check_unit_interval(values: Sequence[float], name: str, length: int | None = None) -> None:
    """Check a list of numbers in [0, 1], optionally of a given length.

    Raises:
        ConfigError: on the wrong length, a non-number, or a value outside [0, 1].
    """
    if length is not None and len(values) != length:
        raise ConfigError(f"{name} must have {length} values (one per latent), got {len(values)}")
    for v in values:
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise ConfigError(f"{name} must hold numbers, got {v!r}")
        if not 0.0 <= float(v) <= 1.0:
            raise ConfigError(f"{name} values must lie in [0, 1], got {v}")


def check_positive(value: float, name: str) -> None:
    """Check that a number is finite and strictly positive.

    Raises:
        ConfigError: if it is not.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    if not float(value) > 0.0 or float(value) == float("inf"):
        raise ConfigError(f"{name} must be a positive finite number, got {value}")
