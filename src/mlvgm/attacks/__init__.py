"""Adversarial attacks under the L2 norm, chosen by name.

Every attack is an :class:`Attack`: called as ``attack(model, x, y)`` on a batch,
it returns an :class:`AttackResult` (adversarial images, per-image success and
L2 norm). :data:`ATTACKS` maps each name to a factory taking the bound ``eps``
and the attack's options; :func:`make_attack` builds one from a name.

Three kinds of attack are registered. APGD (``apgd-ce``, ``apgd-dlr``) maximises
a loss within a fixed bound ``eps``, which it needs; ``fgsm-l2`` takes one
normalised-gradient step of length ``eps`` (cheap, used to build the training
set of the alpha search, not for evaluation). The minimal-norm attacks
(``deepfool``, ``cw``, ``fab``) search the smallest adversarial perturbation;
their ``eps`` is optional (``None``: unbounded; a number: an image counts as
fooled only within it). ``autoattack-l2`` runs a preset's attacks and keeps the
smallest success per image (:class:`MinNormEnsemble`).

A minimal adversarial lies on the decision boundary (DeepFool overshoots it by
2 %, FAB's extrapolation by 5 % of a step, C&W stops just past it). Against a
randomised defence, ``success`` is judged on a fresh random draw, which puts
such a point back on the correct side about half the time: average more draws
inside the model (EoT), and read the minimal-norm attacks' ``l2`` as the
distance to the defence's average boundary, not as a bound that holds for
every draw.

:data:`PRESETS` holds two sets of options per attack, ``thorough`` (the
reference strengths of the evaluation protocol) and ``fast`` (minutes on a CPU
for about 100 MNIST images through a small defence);
:func:`make_preset_attacks` builds a preset's attacks for one bound.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from mlvgm.attacks._losses import MIN_CLASSES
from mlvgm.attacks.apgd import APGD
from mlvgm.attacks.base import Attack, AttackResult, Model
from mlvgm.attacks.cw import CarliniWagnerL2
from mlvgm.attacks.deepfool import DeepFool
from mlvgm.attacks.ensemble import MinNormEnsemble
from mlvgm.attacks.fab import FAB
from mlvgm.attacks.fgsm import FGSM
from mlvgm.errors import ConfigError

logger = logging.getLogger(__name__)


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


def _autoattack_l2(eps: float | None = None, preset: str = "fast", n_classes: int = 10) -> Attack:
    """A preset's attacks combined, keeping the smallest success per image."""
    return MinNormEnsemble([attack for _, attack in make_preset_attacks(preset, eps, n_classes)])


ATTACKS: dict[str, Callable[..., Attack]] = {
    "apgd-ce": _apgd_ce,
    "apgd-dlr": _apgd_dlr,
    "deepfool": DeepFool,
    "cw": CarliniWagnerL2,
    "fab": FAB,
    "autoattack-l2": _autoattack_l2,
    "fgsm-l2": FGSM,
}
"""Attack factories by name; each is called as ``factory(eps, **options)``."""

# The APGD entries need a bound and, by their loss, a number of classes.
_APGD_LOSS = {"apgd-ce": "ce", "apgd-dlr": "dlr"}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        "deepfool": {"n_iter": 50, "overshoot": 0.02},
        "cw": {"steps": 100, "binary_search_steps": 4, "c_init": 0.1, "lr": 0.1},
        "fab": {"n_iter": 20},
        "apgd-ce": {"n_iter": 50},
        "apgd-dlr": {"n_iter": 50},
    },
    "thorough": {
        "deepfool": {"n_iter": 50, "overshoot": 0.02},
        "cw": {"steps": 1024, "binary_search_steps": 9, "c_init": 1e-2},
        "fab": {"n_iter": 128},
        "apgd-ce": {"n_iter": 64, "rho": 0.75},
        "apgd-dlr": {"n_iter": 64, "rho": 0.75},
    },
}
"""Options by preset and attack name, for :func:`make_attack`.

``thorough`` follows the evaluation protocol's reference settings (DeepFool
overshoot 0.02 and 50 steps; C&W 1024 steps and 9 = 8 + 1 binary-search steps
from c = 0.01; APGD 64 iterations with rho 0.75; FAB 128 iterations). ``fast``
cuts C&W to 4 searches of 100 steps from c = 0.1 with a learning rate of 0.1
(at 0.01, 100 steps barely move pixels saturated at 0 or 1 and the median L2
comes out 45 % above FAB's on 8x8 digits; at 0.1, within 2 %), FAB to 20
iterations and APGD to 50.
"""


def make_attack(name: str, eps: float | None, **kwargs: Any) -> Attack:
    """Build a registered attack.

    Args:
        name: a key of :data:`ATTACKS`, e.g. ``"apgd-ce"``.
        eps: the L2 bound; ``None`` (unbounded) only for the minimal-norm attacks.
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


def make_preset_attacks(
    preset: str, eps: float | None, n_classes: int, names: Sequence[str] | None = None
) -> list[tuple[str, Attack]]:
    """Build a preset's attacks for one bound.

    Args:
        preset: a key of :data:`PRESETS`, ``"fast"`` or ``"thorough"``.
        eps: the L2 bound, or ``None`` for the minimal-norm attacks unbounded.
        n_classes: the model's number of classes.
        names: the attacks to build, in order; ``None`` for all of the preset's,
            leaving out those that cannot run here: APGD when ``eps`` is ``None``
            and ``apgd-dlr`` below 4 classes (each left out with a log message).

    Returns:
        ``(name, attack)`` pairs.

    Raises:
        ConfigError: if the preset or a name is unknown, ``n_classes`` is not an
            integer >= 2, or a requested attack cannot run here (``apgd-dlr`` with
            fewer than 4 classes, APGD without ``eps``).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    options = PRESETS[preset]
    if names is None:
        names = [name for name in options if _runs_here(name, eps, n_classes)]
    attacks = []
    for name in names:
        if name not in options:
            raise ConfigError(
                f"preset {preset!r} has no attack {name!r}; it has {', '.join(options)}"
            )
        loss = _APGD_LOSS.get(name)
        if loss is not None and n_classes < MIN_CLASSES[loss]:
            raise ConfigError(
                f"{name} needs at least {MIN_CLASSES[loss]} classes, the model has {n_classes}"
            )
        attacks.append((name, make_attack(name, eps, **options[name])))
    return attacks


def _runs_here(name: str, eps: float | None, n_classes: int) -> bool:
    """Whether a preset's attack can run with this bound and class count (logs if not)."""
    loss = _APGD_LOSS.get(name)
    if loss is None:
        return True
    if eps is None:
        logger.info("leaving out %s: it needs a bound eps", name)
        return False
    if n_classes < MIN_CLASSES[loss]:
        logger.info(
            "leaving out %s: it needs %d classes, not %d", name, MIN_CLASSES[loss], n_classes
        )
        return False
    return True


__all__ = [
    "APGD",
    "ATTACKS",
    "FAB",
    "FGSM",
    "PRESETS",
    "Attack",
    "AttackResult",
    "CarliniWagnerL2",
    "DeepFool",
    "MinNormEnsemble",
    "Model",
    "make_attack",
    "make_preset_attacks",
]
