"""The Carlini-Wagner L2 attack, batched over images.

Implements the L2 attack of Carlini & Wagner (2017), "Towards evaluating the
robustness of neural networks" (IEEE S&P), Sec. V-A, in the paper's notation:
the image is written ``x' = (tanh(w) + 1) / 2`` (change of variables 3, which
keeps it in the box) and Adam minimises, per image,

    ||x' - x||_2^2 + c * f(x'),   f(x') = max(Z(x')_y - max_{j != y} Z(x')_j, -kappa),

with ``Z`` the logits (objective 6, untargeted). A binary search on ``c`` runs
over ``binary_search_steps`` optimisations, each from ``w`` at the clean image
with fresh Adam moments: ``c`` starts at ``c_init``, is multiplied by 10 while
no upper bound is known and then bisected between the largest ``c`` that
failed and the smallest that succeeded; every image keeps its own ``c``. Each
optimisation stops early for an image when its objective has not fallen by
0.01 % over a tenth of the steps. Every iterate with ``f < 0`` beyond the
margin (``Z_y < max_{j != y} Z_j - kappa``) is a candidate, and the smallest
one over all steps and searches is returned.

Choices the paper leaves open, and their effect:

- Adam is written out (the default moments 0.9 and 0.999, eps 1e-8) so that
  images that stopped early freeze exactly; it is elementwise, so the batch
  gives each image the update it would get alone.
- Early stopping is judged per image and stopped images leave the batch (one
  host synchronisation per tenth of the steps); the original code judged the
  summed objective of the batch.
- The clean image is mapped to ``w = atanh((2x - 1)(1 - 1e-6))`` so pixels at 0
  or 1 stay finite; the optimisation starts about 1e-6 from ``x``.
- Images misclassified as they are are returned unchanged (``l2 = 0``); images
  never fooled are returned as ``x`` (``l2 = 0``, ``success`` False).
"""

from __future__ import annotations

import logging
import math

import torch

from mlvgm.attacks._minimal import MinimalNormAttack, Smallest
from mlvgm.attacks._options import check_count, check_number, check_optional_eps
from mlvgm.attacks.base import AttackResult, Model
from mlvgm.errors import ConfigError

logger = logging.getLogger(__name__)

# Adam's moment decay rates and denominator floor (Kingma & Ba, 2015, defaults).
BETA_1, BETA_2, ADAM_EPS = 0.9, 0.999, 1e-8
# An early-stopping window must lower the objective by this fraction.
MIN_IMPROVEMENT = 1e-4


class CarliniWagnerL2(MinimalNormAttack):
    """Carlini-Wagner L2: untargeted, white-box, minimal-norm, with a binary search on c.

    Against a randomised model, read the package's note on minimal adversarials
    (:mod:`mlvgm.attacks`): a fresh draw undoes about half of them.

    Args:
        eps: optional L2 bound: where given, an image only counts as fooled if the
            adversarial found lies within ``eps`` (it is shrunk into the ball);
            ``None`` for an unbounded search.
        steps: Adam steps per binary-search step (one forward and one backward
            pass each).
        binary_search_steps: optimisations, each with its own ``c`` per image.
        c_init: the first ``c``.
        lr: Adam's learning rate, in ``w`` space.
        kappa: the confidence margin, >= 0.
        early_stop: stop an image's optimisation when its objective stalls.

    Raises:
        ConfigError: if ``eps`` is not ``None`` or positive and finite, ``steps`` or
            ``binary_search_steps`` is not an integer >= 1, ``c_init`` or ``lr`` is
            not positive, ``kappa`` is negative, or ``early_stop`` is not a bool.

    Example:
        >>> attack = CarliniWagnerL2(steps=100, binary_search_steps=4, c_init=1.0)
        >>> result = attack(model, x, y)  # doctest: +SKIP
        >>> median_l2 = result.l2[result.success].median()  # doctest: +SKIP
    """

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 1000,
        binary_search_steps: int = 9,
        c_init: float = 1e-2,
        lr: float = 0.01,
        kappa: float = 0.0,
        early_stop: bool = True,
    ) -> None:
        self.eps = check_optional_eps(eps)
        check_count(steps, "steps")
        check_count(binary_search_steps, "binary_search_steps")
        if not isinstance(early_stop, bool):
            raise ConfigError(f"early_stop must be True or False, got {early_stop!r}")
        self.steps = steps
        self.binary_search_steps = binary_search_steps
        self.c_init = check_number(c_init, "c_init", 0.0, math.inf, low_open=True)
        self.lr = check_number(lr, "lr", 0.0, math.inf, low_open=True)
        self.kappa = check_number(kappa, "kappa", 0.0)
        self.early_stop = early_stop

    def __repr__(self) -> str:
        return (
            f"CarliniWagnerL2(eps={self.eps}, steps={self.steps}, "
            f"binary_search_steps={self.binary_search_steps}, c_init={self.c_init}, "
            f"lr={self.lr}, kappa={self.kappa}, early_stop={self.early_stop})"
        )

    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Run the binary search on c; see :meth:`Attack.__call__`."""
        logits = self._clean_pass(model, x, y)
        x_0 = x.flatten(1)  # (B, N)
        smallest = Smallest(x_0, fooled=logits.argmax(dim=1) != y)
        index = (~smallest.found).nonzero().squeeze(1)  # (A,)
        if index.numel() == 0:
            return self._finish(model, x, smallest, y)

        w_0 = torch.atanh((2.0 * x_0[index] - 1.0) * (1.0 - 1e-6))  # (A, N)
        c = torch.full_like(w_0[:, 0], self.c_init)  # (A,)
        c_low = torch.zeros_like(c)  # largest c that failed
        c_high = torch.full_like(c, math.inf)  # smallest c that succeeded
        for search in range(self.binary_search_steps):
            succeeded = self._optimise(model, x.shape[1:], w_0, y[index], c, index, smallest)
            c_high = torch.where(succeeded, torch.minimum(c_high, c), c_high)
            c_low = torch.where(succeeded, c_low, torch.maximum(c_low, c))
            c = torch.where(c_high.isfinite(), (c_low + c_high) / 2, c * 10)
            logger.debug("%r: binary-search step %d done", self, search)
        return self._finish(model, x, smallest, y)

    def _optimise(
        self,
        model: Model,
        image_shape: torch.Size,
        w_0: torch.Tensor,
        y: torch.Tensor,
        c: torch.Tensor,
        index: torch.Tensor,
        smallest: Smallest,
    ) -> torch.Tensor:
        """One optimisation of the C&W objective at fixed ``c``, from the clean images.

        Args:
            model: the attacked model.
            image_shape: (C, H, W).
            w_0: (A, N) the clean images in ``w`` space.
            y: (A,) labels.
            c: (A,) each image's constant.
            index: (A,) the images' positions in the batch.
            smallest: the smallest adversarials so far, updated in place.

        Returns:
            (A,) bool, an iterate fooled the model with the margin ``kappa``.
        """
        succeeded = torch.zeros_like(y, dtype=torch.bool)  # (A,)
        active = torch.arange(len(y), device=y.device)  # (S,) rows of the A images still running
        w, m, v = w_0.clone(), torch.zeros_like(w_0), torch.zeros_like(w_0)  # (S, N)
        y_s, c_s, x_0 = y, c, smallest.x_0[index]
        previous = torch.full_like(c, math.inf)  # (S,) objective at the last check
        check_every = max(self.steps // 10, 1)
        for t in range(1, self.steps + 1):
            objective, margin, x_adv, grad = self._objective(model, image_shape, w, x_0, y_s, c_s)
            fooled = margin < -self.kappa  # (S,)
            smallest.offer(index[active], x_adv, fooled)
            succeeded[active] |= fooled

            # Adam, with bias correction.
            m = torch.lerp(m, grad, 1.0 - BETA_1)
            v = torch.lerp(v, grad.square(), 1.0 - BETA_2)
            step = self.lr / (1.0 - BETA_1**t)
            denom = (v / (1.0 - BETA_2**t)).sqrt_().add_(ADAM_EPS)
            w = w.addcdiv(m, denom, value=-step)

            if self.early_stop and t % check_every == 0 and t < self.steps:
                stalled = objective > previous - MIN_IMPROVEMENT * previous.abs()  # (S,)
                previous = objective
                keep = (~stalled).nonzero().squeeze(1)  # one host synchronisation per check
                if keep.numel() == 0:
                    break
                if keep.numel() < len(active):
                    active, w, m, v = active[keep], w[keep], m[keep], v[keep]
                    y_s, c_s, x_0, previous = y_s[keep], c_s[keep], x_0[keep], previous[keep]
        return succeeded

    def _objective(
        self,
        model: Model,
        image_shape: torch.Size,
        w: torch.Tensor,
        x_0: torch.Tensor,
        y: torch.Tensor,
        c: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The C&W objective at ``w`` and its gradient.

        Args:
            model: the attacked model.
            image_shape: (C, H, W).
            w: (S, N) the variables.
            x_0: (S, N) clean images.
            y: (S,) labels.
            c: (S,) constants.

        Returns:
            ``(objective, margin, x_adv, grad)``: (S,) objectives, (S,) margins
            ``Z_y - max_{j != y} Z_j``, (S, N) images ``x'`` and (S, N) gradients
            with respect to ``w``, all detached.
        """
        w = w.detach().requires_grad_(True)
        with torch.enable_grad():
            x_adv = (torch.tanh(w) + 1.0) / 2.0  # (S, N)
            logits = model(x_adv.view(-1, *image_shape))  # (S, K)
            z_y = logits.gather(1, y[:, None]).squeeze(1)  # (S,)
            z_other = logits.scatter(1, y[:, None], -torch.inf).amax(dim=1)  # (S,)
            margin = z_y - z_other
            distance = (x_adv - x_0).square().sum(dim=1)  # (S,) ||x' - x||^2
            objective = distance + c * margin.clamp_min(-self.kappa)
            (grad,) = torch.autograd.grad(objective.sum(), w)
        return objective.detach(), margin.detach(), x_adv.detach().clamp_(0.0, 1.0), grad
