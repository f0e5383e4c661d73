"""FAB, the Fast Adaptive Boundary attack, under the L2 norm, batched over images.

Implements untargeted FAB-L2 from Croce & Hein (2020), "Minimally distorted
adversarial examples with a fast adaptive boundary attack" (ICML),
Algorithm 1, in the paper's notation. At the iterate ``x^(i)`` every other
class ``l`` gives the linearised boundary ``pi_l: f_l(x^(i)) + <w_l, z - x^(i)> = 0``
(``f_l = z_l - z_y``, ``w_l = grad f_l``); FAB picks the nearest,
``s = argmin_l |f_l| / ||w_l||_2``, and projects both the iterate and the
original image onto ``pi_s`` intersected with the box ``C = [0, 1]^n``:
``delta^(i) = proj(x^(i), pi_s, C) - x^(i)`` and
``delta_orig^(i) = proj(x_orig, pi_s, C) - x_orig``. The biased step is

    alpha = min(||delta^(i)|| / (||delta^(i)|| + ||delta_orig^(i)||), alpha_max),
    x^(i+1) = proj_C((1 - alpha) (x^(i) + eta delta^(i)) + alpha (x_orig + eta delta_orig^(i))),

with extrapolation ``eta > 1``; when ``x^(i+1)`` is misclassified it is
recorded if it is the smallest adversarial so far, and the backward step
``x^(i+1) = (1 - beta) x_orig + beta x^(i+1)`` pulls it towards the original.
The projection onto ``pi_s`` intersected with ``C`` is exact
(:func:`~mlvgm.attacks._projection.project_hyperplane_box`).

Choices the paper leaves open, and their effect:

- The first restart starts at ``x_orig``; each later one from a point drawn
  uniformly in the L2 ball of radius ``min(eps, ||x_out - x_orig|| / 2)``
  around it (``x_out`` the smallest adversarial so far), clipped to the box,
  where an image has neither ``eps`` nor an adversarial yet, the ball's radius
  is the distance from ``x_orig`` to its first linearised boundary. All
  restarts attack every image the clean pass classified correctly, so later
  ones can only shrink the perturbation.
- Every iteration costs one forward pass with ``K - 1`` backward passes (the
  linearisation) and one more forward pass (the check of ``x^(i+1)``), and
  no host synchronisation; many classes make it costly (all ``K - 1``
  boundaries are linearised, as in the paper).
- The point after a backward step is checked too, by the linearisation's
  forward pass at no extra cost, and kept if it is a smaller adversarial.
- Images misclassified as they are are returned unchanged (``l2 = 0``); images
  never fooled are returned as ``x`` (``l2 = 0``, ``success`` False).
"""

from __future__ import annotations

import logging
import math

import torch

from mlvgm.attacks._boundaries import TINY, linearise
from mlvgm.attacks._minimal import MinimalNormAttack, Smallest
from mlvgm.attacks._options import check_count, check_number, check_optional_eps, check_seed
from mlvgm.attacks._projection import project_hyperplane_box
from mlvgm.attacks.base import AttackResult, Model
from mlvgm.errors import ConfigError

logger = logging.getLogger(__name__)


class FAB(MinimalNormAttack):
    """FAB-L2: untargeted, white-box, minimal-norm.

    Against a randomised model, read the package's note on minimal adversarials
    (:mod:`mlvgm.attacks`): a fresh draw undoes about half of them.

    Args:
        eps: optional L2 bound: where given, an image only counts as fooled if the
            adversarial found lies within ``eps`` (it is shrunk into the ball), and
            it caps the random restarts' radius; ``None`` for an unbounded search.
        n_iter: iterations per restart.
        n_restarts: restarts; the first from the clean image, the others random.
        alpha_max: the largest bias ``alpha`` towards the original image, in [0, 1).
        eta: the extrapolation factor of the step, >= 1.
        beta: the backward step's factor, in (0, 1].
        seed: seeds the random restarts (a private generator, the global one is
            left alone); ``None`` draws them from the global generator.

    Raises:
        ConfigError: if ``eps`` is not ``None`` or positive and finite, ``n_iter``
            or ``n_restarts`` is not an integer >= 1, ``alpha_max``, ``eta`` or
            ``beta`` is out of range, or ``seed`` is not an integer or ``None``.

    Example:
        >>> attack = FAB(n_iter=100)
        >>> result = attack(model, x, y)  # doctest: +SKIP
        >>> median_l2 = result.l2[result.success].median()  # doctest: +SKIP
    """

    def __init__(
        self,
        eps: float | None = None,
        n_iter: int = 100,
        n_restarts: int = 1,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
        seed: int | None = 0,
    ) -> None:
        self.eps = check_optional_eps(eps)
        check_count(n_iter, "n_iter")
        check_count(n_restarts, "n_restarts")
        check_seed(seed)
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.alpha_max = check_number(alpha_max, "alpha_max", 0.0, 1.0)
        if self.alpha_max == 1.0:
            raise ConfigError("alpha_max must be below 1, got 1.0 (the step would not move)")
        self.eta = check_number(eta, "eta", 1.0)
        self.beta = check_number(beta, "beta", 0.0, 1.0, low_open=True)
        self.seed = seed

    def __repr__(self) -> str:
        return (
            f"FAB(eps={self.eps}, n_iter={self.n_iter}, n_restarts={self.n_restarts}, "
            f"alpha_max={self.alpha_max}, eta={self.eta}, beta={self.beta}, seed={self.seed})"
        )

    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Run the restarts; see :meth:`Attack.__call__`."""
        logits = self._clean_pass(model, x, y)
        n_classes = logits.shape[1]
        x_0 = x.flatten(1)  # (B, N)
        smallest = Smallest(x_0, fooled=logits.argmax(dim=1) != y)
        index = (~smallest.found).nonzero().squeeze(1)  # (A,)
        if index.numel() == 0:
            return self._finish(model, x, smallest, y)

        # Every class but the label, per image: (A, K - 1).
        j = torch.arange(n_classes - 1, device=y.device)  # (K - 1,)
        others = j + (j >= y[index, None]).long()  # (A, K - 1), skipping y
        generator = None
        if self.seed is not None:
            generator = torch.Generator(device=x.device).manual_seed(self.seed)

        first_distance = torch.zeros_like(x_0[index, 0])  # (A,) filled by the first restart
        for restart in range(self.n_restarts):
            x_orig = x_0[index]
            if restart == 0:
                x_start = x_orig
            else:
                radius = torch.minimum(
                    smallest.l2[index] / 2, torch.full_like(first_distance, self.eps or math.inf)
                )
                radius = torch.where(radius.isfinite(), radius, first_distance)
                x_start = _uniform_in_ball(x_orig, radius, generator)
            distance = self._attack_once(
                model, x.shape[1:], x_start, x_orig, y[index], others, index, smallest
            )
            if restart == 0:
                first_distance = distance
            logger.debug("%r: restart %d done", self, restart)
        return self._finish(model, x, smallest, y)

    def _attack_once(
        self,
        model: Model,
        image_shape: torch.Size,
        x_start: torch.Tensor,
        x_orig: torch.Tensor,
        y: torch.Tensor,
        others: torch.Tensor,
        index: torch.Tensor,
        smallest: Smallest,
    ) -> torch.Tensor:
        """One run of FAB's iterations, merged into ``smallest``.

        Args:
            model: the attacked model.
            image_shape: (C, H, W).
            x_start: (A, N) starting points ``x^(0)``.
            x_orig: (A, N) clean images.
            y: (A,) labels.
            others: (A, K - 1) the classes other than each label.
            index: (A,) the images' positions in the batch.
            smallest: the smallest adversarials so far, updated in place.

        Returns:
            (A,) ``||delta_orig^(0)||``, the distance from ``x_orig`` to the first
            linearised boundary.
        """
        x_i = x_start
        distance = torch.zeros_like(x_orig[:, 0])
        for i in range(self.n_iter):
            logits, f, w = linearise(model, x_i, y, others, image_shape)
            assert w is not None
            if i > 0:
                # The point after a backward step may fool the model too; its check is free.
                smallest.offer(index, x_i, logits.argmax(dim=1) != y)
            # The nearest linearised boundary pi_s: <w_s, z> = <w_s, x^(i)> - f_s.
            nearest = (f.abs() / w.norm(dim=2).clamp_min(TINY)).argmin(dim=1, keepdim=True)
            f_s = f.gather(1, nearest).squeeze(1)  # (A,)
            w_s = w.gather(1, nearest[:, :, None].expand(-1, 1, w.shape[2])).squeeze(1)  # (A, N)
            b = (w_s * x_i).sum(dim=1) - f_s  # (A,)
            delta = project_hyperplane_box(x_i, w_s, b) - x_i  # (A, N)
            delta_orig = project_hyperplane_box(x_orig, w_s, b) - x_orig  # (A, N)

            norm, norm_orig = delta.norm(dim=1), delta_orig.norm(dim=1)  # (A,)
            if i == 0:
                distance = norm_orig
            alpha = (norm / (norm + norm_orig).clamp_min(TINY)).clamp_max(self.alpha_max)
            alpha = alpha[:, None]  # (A, 1)
            x_new = torch.lerp(
                x_i.add(delta, alpha=self.eta), x_orig.add(delta_orig, alpha=self.eta), alpha
            ).clamp_(0.0, 1.0)

            # Record adversarial points, then pull them back towards the original.
            fooled = model(x_new.view(-1, *image_shape)).argmax(dim=1) != y  # (A,)
            smallest.offer(index, x_new, fooled)
            x_i = torch.where(fooled[:, None], torch.lerp(x_orig, x_new, self.beta), x_new)
        return distance


def _uniform_in_ball(
    x: torch.Tensor, radius: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Points drawn uniformly from L2 balls around ``x``, clipped to [0, 1].

    Args:
        x: (A, N) centres.
        radius: (A,) the balls' radii.
        generator: the random generator, or ``None`` for the global one.

    Returns:
        (A, N) the points.
    """
    a, n = x.shape
    direction = torch.randn(a, n, generator=generator, device=x.device, dtype=x.dtype)
    direction /= direction.norm(dim=1, keepdim=True).clamp_min(TINY)
    u = torch.rand(a, 1, generator=generator, device=x.device, dtype=x.dtype)
    return x.addcmul(direction, radius[:, None] * u ** (1.0 / n)).clamp_(0.0, 1.0)
