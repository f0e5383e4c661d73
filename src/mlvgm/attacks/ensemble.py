"""The smallest successful perturbation over several attacks, per image.

An L2 counterpart of AutoAttack (Croce & Hein, 2020) for minimal-norm
evaluation: the members run one after the other, each on the whole batch, and
every image keeps the successful adversarial with the smallest L2 norm.
Running every member on every image, rather than only on the images earlier
members failed to fool (as AutoAttack does at a fixed bound), costs more but
lets a later member shrink an earlier one's perturbation, which the median
minimal L2 and the success-versus-bound curves need.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from mlvgm.attacks.base import Attack, AttackResult, Model
from mlvgm.errors import ConfigError

logger = logging.getLogger(__name__)


class MinNormEnsemble(Attack):
    """Run several attacks and keep, per image, the smallest successful perturbation.

    Per image the result succeeds exactly where some member succeeded, and its
    ``l2`` is then the smallest ``l2`` among the members that succeeded; where
    none did, it is the first member's result. ``success`` is the members' own
    judgement (each on its own fresh forward pass) and is not judged again, so
    for a randomised model the guarantee holds for the members' draws; judge
    ``x_adv`` again, averaged over draws, to report a robust accuracy.

    Args:
        attacks: the members, run in this order.

    Raises:
        ConfigError: if ``attacks`` is empty or holds something that is not an
            :class:`Attack`.

    Example:
        >>> ensemble = MinNormEnsemble([DeepFool(), FAB(n_iter=20)])
        >>> result = ensemble(model, x, y)  # doctest: +SKIP
    """

    def __init__(self, attacks: Sequence[Attack]) -> None:
        attacks = list(attacks)
        if not attacks:
            raise ConfigError("MinNormEnsemble needs at least one attack, got none")
        for attack in attacks:
            if not isinstance(attack, Attack):
                raise ConfigError(
                    f"MinNormEnsemble takes Attack instances, got {type(attack).__name__}"
                )
        self.attacks = attacks

    def __repr__(self) -> str:
        return f"MinNormEnsemble({self.attacks!r})"

    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Run every member on the whole batch and combine; see :meth:`Attack.__call__`."""
        results = []
        for attack in self.attacks:
            logger.debug("%r: running %r", self, attack)
            results.append(attack._run(model, x, y))
        return combine(results)


def combine(results: Sequence[AttackResult]) -> AttackResult:
    """Per image, the successful result with the smallest L2 norm.

    Args:
        results: M results on the same batch of B images.

    Returns:
        The combination: ``success`` where any result succeeded, ``l2`` and
        ``x_adv`` from the successful result with the smallest ``l2`` (the first
        of equals), and from the first result where none succeeded.
    """
    success = torch.stack([r.success for r in results])  # (M, B)
    l2 = torch.stack([r.l2 for r in results])  # (M, B)
    ranked = torch.where(success, l2, torch.inf)
    choice = torch.where(success.any(dim=0), ranked.argmin(dim=0), 0)  # (B,)
    image = torch.arange(len(choice), device=choice.device)
    x_adv = torch.stack([r.x_adv for r in results])[choice, image]  # (B, C, H, W)
    return AttackResult(x_adv=x_adv, success=success.any(dim=0), l2=l2[choice, image])
