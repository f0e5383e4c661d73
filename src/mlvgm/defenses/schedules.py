"""Alpha schedules: how strongly each latent is re-sampled (Serez et al., WACV 2025).

For latents ``i = 1..L`` (coarse to fine) the schedules are

    linear:    alpha_i = i / L
    cosine:    alpha_i = (1 - cos(pi * i / L)) / 2
    constant:  alpha_i = c
    explicit:  alpha_i = the i-th value of a given list

and an attenuation factor ``a`` scales every alpha into ``[0, a]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from mlvgm._checks import check_unit_interval
from mlvgm.errors import ConfigError


def _linear(n: int, value: float) -> list[float]:
    return [i / n for i in range(1, n + 1)]


def _cosine(n: int, value: float) -> list[float]:
    return [(1 - math.cos(math.pi * i / n)) / 2 for i in range(1, n + 1)]


def _constant(n: int, value: float) -> list[float]:
    return [value] * n


#: schedule name -> function of (L, constant value) giving L alphas before attenuation
SCHEDULES: dict[str, Callable[[int, float], list[float]]] = {
    "linear": _linear,
    "cosine": _cosine,
    "constant": _constant,
}


@dataclass
class AlphaSchedule:
    """A named schedule or an explicit list of alphas, with attenuation.

    Attributes:
        kind: ``"linear"``, ``"cosine"``, ``"constant"`` or ``"explicit"``.
        attenuation: ``a`` in [0, 1]; every alpha is scaled into ``[0, a]``.
        value: the constant of the ``constant`` schedule, in [0, 1].
        alphas: the values of the ``explicit`` schedule, one per latent, in [0, 1].
    """

    kind: str = "linear"
    attenuation: float = 1.0
    value: float = 0.5
    alphas: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in (*SCHEDULES, "explicit"):
            known = ", ".join([*SCHEDULES, "explicit"])
            raise ConfigError(f"unknown alpha schedule {self.kind!r}; known: {known}")
        check_unit_interval([self.attenuation], "attenuation")
        check_unit_interval([self.value], "value")
        if self.kind == "explicit":
            if not self.alphas:
                raise ConfigError("an explicit alpha schedule needs a list of alphas")
            check_unit_interval(self.alphas, "alphas")

    def resolve(self, n_latents: int) -> list[float]:
        """The L alphas, coarse to fine.

        Raises:
            ConfigError: if an explicit list does not have ``n_latents`` values.
        """
        if self.kind == "explicit":
            check_unit_interval(self.alphas, "alphas", length=n_latents)
            base = list(self.alphas)
        else:
            base = SCHEDULES[self.kind](n_latents, self.value)
        return [self.attenuation * a for a in base]
