"""What the minimal-norm attacks (DeepFool, Carlini-Wagner, FAB) share.

Each searches, per image, the smallest L2 perturbation that changes the
model's prediction. Without a bound it reports whatever it found; with a bound
``eps`` the smallest adversarial found is shrunk radially into the ball of
radius ``eps`` (it stays in [0, 1]^n, which is convex and holds ``x``), so that
the image counts as fooled only if an adversarial within ``eps`` exists, on
the model's fresh judgement of the shrunk point.
"""

from __future__ import annotations

import math

import torch

from mlvgm.attacks._projection import clip_l2_box
from mlvgm.attacks.base import Attack, AttackResult, Model, check_logits
from mlvgm.errors import ConfigError


class Smallest:
    """The smallest adversarial point found so far for each of B images.

    Attributes:
        x_0: (B, N) flat clean images.
        x: (B, N) smallest adversarial point found, ``x_0`` where none was.
        l2: (B,) its distance to ``x_0``, inf where none was found.
    """

    def __init__(self, x_0: torch.Tensor, fooled: torch.Tensor) -> None:
        """Start from the clean images.

        Args:
            x_0: (B, N) flat clean images.
            fooled: (B,) bool, the images misclassified as they are (``l2 = 0``).
        """
        self.x_0 = x_0
        self.x = x_0.clone()
        self.l2 = torch.where(fooled, 0.0, math.inf).to(x_0.dtype)

    def offer(self, index: torch.Tensor, x_new: torch.Tensor, fooled: torch.Tensor) -> None:
        """Keep the candidates that fool the model closer to ``x_0`` than before.

        Args:
            index: (A,) distinct positions in the batch.
            x_new: (A, N) candidate points for those images.
            fooled: (A,) bool, the model misclassifies ``x_new``.
        """
        l2 = (x_new - self.x_0[index]).norm(dim=1)  # (A,)
        smaller = fooled & (l2 < self.l2[index])  # (A,)
        self.x[index] = torch.where(smaller[:, None], x_new, self.x[index])
        self.l2[index] = torch.where(smaller, l2, self.l2[index])

    @property
    def found(self) -> torch.Tensor:
        """(B,) bool, an adversarial point (or the clean image itself) fools the model."""
        return self.l2.isfinite()


class MinimalNormAttack(Attack):
    """Base class of the attacks that minimise the perturbation's L2 norm.

    Attributes:
        eps: the optional L2 bound (``None`` for none); see the module docstring.
    """

    eps: float | None

    def _clean_pass(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Check the model's logits on the clean images.

        Args:
            model: the attacked model.
            x: (B, C, H, W) clean images.
            y: (B,) labels.

        Returns:
            (B, K) the logits.

        Raises:
            InputError: if they are not (B, K) logits with K above every label.
            ConfigError: if the model has fewer than 2 classes.
        """
        logits = model(x)
        check_logits(logits, y)
        if logits.shape[1] < 2:
            name = type(self).__name__
            raise ConfigError(f"{name} needs at least 2 classes, the model has {logits.shape[1]}")
        return logits

    def _finish(
        self, model: Model, x: torch.Tensor, smallest: Smallest, y: torch.Tensor
    ) -> AttackResult:
        """Bound, reshape and judge the smallest adversarial points found.

        Args:
            model: the attacked model.
            x: (B, C, H, W) clean images.
            smallest: the search's results.
            y: (B,) labels.

        Returns:
            The result: ``x_adv`` the smallest adversarial found (shrunk into the
            ``eps`` ball where one is set), ``x`` itself where none was found.
        """
        x_out = smallest.x
        if self.eps is not None:
            x_out = clip_l2_box(x_out, smallest.x_0, self.eps)
        return self._result(model, x, x_out.view_as(x), y)
