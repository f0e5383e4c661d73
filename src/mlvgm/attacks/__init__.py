"""Adversarial attacks under an L2 bound, chosen by name.

Every attack is an :class:`Attack`: called as ``attack(model, x, y)`` on a batch,
it returns an :class:`AttackResult` (adversarial images, per-image success and
L2 norm). :data:`ATTACKS` maps each name to a factory taking the bound ``eps``
and the attack's options; :func:`make_attack` builds one from a name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mlvgm.attacks.apgd import APGD
from mlvgm.attacks.base import Attack, AttackResult, Model
from mlvgm.errors import ConfigError


def _apgd_ce(
    eps: float, n_iter: int = 100, rho: float = 0.75, n_restarts: int = 1, seed: int | None = 0
) -> Attack:
    """APGD with the cross-entropy loss."""
    return APGD(eps, n_iter=n_iter, loss="ce", rho=rho, n_restarts=n_restarts, seed=seed)


def _apgd_dlr(
    eps: float, n_iter: int = 100, rho: float = 0.75, n_restarts: int = 1, seed: int | None = 0
) -> Attack:
    """APGD with the Difference of Logits Ratio loss (four or more classes)."""
    return APGD(eps, n_iter=n_iter, loss="dlr", rho=rho, n_restarts=n_restarts, seed=seed)


ATTACKS: dict[str, Callable[..., Attack]] = {
    "apgd-ce": _apgd_ce,
    "apgd-dlr": _apgd_dlr,
}
"""Attack factories by name; each is called as ``factory(eps, **options)``."""


def make_attack(name: str, eps: float, **kwargs: Any) -> Attack:
    """Build a registered attack.

    Args:
        name: a key of :data:`ATTACKS`, e.g. ``"apgd-ce"``.
        eps: the L2 bound.
        **kwargs: the attack's options, e.g. ``n_iter=64``.

    Returns:
        The attack.

    Raises:
        ConfigError: if the name is unknown, an option is not one the attack
            takes, or a value is out of range.
    """
    if name not in ATTACKS:
        raise ConfigError(f"unknown attack {name!r}; known attacks: {', '.join(sorted(ATTACKS))}")
    factory = ATTACKS[name]
    signature = inspect.signature(factory)
    try:
        signature.bind(eps, **kwargs)
    except TypeError as error:
        options = [p for p in signature.parameters if p != "eps"]
        raise ConfigError(
            f"attack {name!r}: {error}; its options are {', '.join(options)}"
        ) from None
    return factory(eps, **kwargs)


__all__ = ["APGD", "ATTACKS", "Attack", "AttackResult", "Model", "make_attack"]
