"""The Fast Gradient Method under the L2 norm: one gradient step of length ``eps``.

Goodfellow, Shlens & Szegedy (2015), "Explaining and harnessing adversarial
examples" (ICLR), in its L2 form (the "fast gradient method" of Kurakin et al.):
with ``g = grad_x CE(f(x), y)``,

    x_adv = clip_[0, 1](x + eps * g / ||g||_2)

per image. The clip can only shorten the step, so ``||x_adv - x||_2 <= eps``.
One forward and one backward pass: a cheap, weak attack, used where many
adversarial images are needed fast (the alpha search's objective), never to
measure robustness.
"""

from __future__ import annotations

import logging

import torch
from torch.nn import functional as F

from mlvgm._checks import check_positive
from mlvgm.attacks.base import Attack, AttackResult, Model, check_logits

logger = logging.getLogger(__name__)


class FGSM(Attack):
    """Single-step L2 fast gradient attack, untargeted, white-box.

    Every image moves by exactly ``eps`` along its normalised cross-entropy
    gradient (less where the clip to [0, 1] cuts the step), fooled or not; no
    image is left out because the clean pass already misclassifies it. An image
    whose gradient is zero (saturated softmax, or a defence that masks gradients)
    is returned unchanged, and a log message counts such images.

    Args:
        eps: the L2 length of the step, positive.

    Raises:
        ConfigError: if ``eps`` is not a positive finite number (``None`` included).

    Example:
        >>> attack = FGSM(eps=1.5)
        >>> result = attack(model, x, y)  # doctest: +SKIP
    """

    def __init__(self, eps: float) -> None:
        check_positive(eps, "eps")
        self.eps = float(eps)

    def __repr__(self) -> str:
        return f"FGSM(eps={self.eps})"

    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """One step along the normalised gradient; see :meth:`Attack.__call__`."""
        with torch.enable_grad():
            x_var = x.clone().requires_grad_(True)
            logits = model(x_var)
            check_logits(logits, y)
            # summed, not averaged: each image's gradient is its own loss's gradient
            loss = F.cross_entropy(logits, y, reduction="sum")
            (g,) = torch.autograd.grad(loss, x_var)

        norm = g.flatten(1).norm(dim=1)  # (B,)
        flat = norm == 0
        if bool(flat.any()):
            logger.info("%r: %d of %d images have a zero gradient", self, int(flat.sum()), len(y))
        step = g / norm.clamp_min(1e-12).view(-1, *([1] * (x.ndim - 1)))  # (B, C, H, W)
        x_adv = (x + self.eps * step).clamp(0.0, 1.0)
        return self._result(model, x, x_adv, y)
