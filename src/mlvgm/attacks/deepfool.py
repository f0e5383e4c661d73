"""DeepFool under the L2 norm, batched over images.

Implements DeepFool from Moosavi-Dezfooli, Fawzi & Frossard (2016),
"DeepFool: a simple and accurate method to fool deep neural networks" (CVPR),
Algorithm 2 (multi-class, L2), in the paper's notation: at the iterate
``x_i``, every candidate class ``k`` gives ``f'_k = f_k(x_i) - f_y(x_i)`` and
``w'_k = grad f_k(x_i) - grad f_y(x_i)``; the nearest linearised boundary is
``l = argmin_k |f'_k| / ||w'_k||_2``, the step to it
``r_i = |f'_l| / ||w'_l||_2^2 w'_l``, and ``r_tot = sum_i r_i``. The iterate is
``x_i = x + (1 + overshoot) r_tot``, and an image stops as soon as it is
misclassified there.

Choices the paper leaves open, and their effect:

- The candidates are the ``n_candidates`` classes other than ``y`` that score
  highest on the clean image (the paper's implementation keeps the top 10).
- Each iterate is clipped to [0, 1]^n. The linearisation ignores the box, so
  near saturated pixels a step can be partly clipped away and the attack needs
  more iterations (FAB, which projects onto the box, does not have this issue).
- ``1e-4`` is added to ``|f'_l|`` so that a point on a boundary still moves.
- Images fooled by the clean pass are returned unchanged (``l2 = 0``); images
  still correctly classified after ``n_iter`` steps are returned as ``x``
  (``l2 = 0``, ``success`` False).
- Fooled images leave the batch after every iteration (one host
  synchronisation per iteration), so later iterations cost only what the
  remaining images cost.
"""

from __future__ import annotations

import logging

import torch

from mlvgm.attacks._boundaries import TINY, linearise, other_classes
from mlvgm.attacks._minimal import MinimalNormAttack, Smallest
from mlvgm.attacks._options import check_count, check_number, check_optional_eps
from mlvgm.attacks.base import AttackResult, Model

logger = logging.getLogger(__name__)


class DeepFool(MinimalNormAttack):
    """DeepFool-L2: untargeted, white-box, minimal-norm.

    Against a randomised model, read the package's note on minimal adversarials
    (:mod:`mlvgm.attacks`): a fresh draw undoes about half of them.

    Args:
        eps: optional L2 bound: where given, an image only counts as fooled if the
            adversarial found lies within ``eps`` (it is shrunk into the ball);
            ``None`` for an unbounded search.
        n_iter: the most linearisation steps per image (one forward pass and
            ``n_candidates`` backward passes each).
        overshoot: the factor ``1 + overshoot`` applied to the accumulated step.
        n_candidates: how many classes other than the label to linearise (the
            highest-scoring ones at the clean image); ``None`` for all, and a
            number above ``K - 1`` means all.

    Raises:
        ConfigError: if ``eps`` is not ``None`` or positive and finite, ``n_iter`` or
            ``n_candidates`` is not an integer >= 1, or ``overshoot`` is negative.

    Example:
        >>> attack = DeepFool(n_iter=50, overshoot=0.02)
        >>> result = attack(model, x, y)  # doctest: +SKIP
        >>> median_l2 = result.l2[result.success].median()  # doctest: +SKIP
    """

    def __init__(
        self,
        eps: float | None = None,
        n_iter: int = 50,
        overshoot: float = 0.02,
        n_candidates: int | None = 10,
    ) -> None:
        self.eps = check_optional_eps(eps)
        check_count(n_iter, "n_iter")
        if n_candidates is not None:
            check_count(n_candidates, "n_candidates")
        self.n_iter = n_iter
        self.overshoot = check_number(overshoot, "overshoot", 0.0)
        self.n_candidates = n_candidates

    def __repr__(self) -> str:
        return (
            f"DeepFool(eps={self.eps}, n_iter={self.n_iter}, overshoot={self.overshoot}, "
            f"n_candidates={self.n_candidates})"
        )

    def _run(self, model: Model, x: torch.Tensor, y: torch.Tensor) -> AttackResult:
        """Run DeepFool on the batch; see :meth:`Attack.__call__`."""
        logits = self._clean_pass(model, x, y)
        n_classes = logits.shape[1]
        n_candidates = n_classes - 1
        if self.n_candidates is not None:
            n_candidates = min(self.n_candidates, n_classes - 1)
        x_0 = x.flatten(1)  # (B, N)
        smallest = Smallest(x_0, fooled=logits.argmax(dim=1) != y)

        index = (~smallest.found).nonzero().squeeze(1)  # (A,)
        if index.numel() == 0:
            return self._finish(model, x, smallest, y)
        candidates = other_classes(logits[index], y[index], n_candidates)  # (A, L)
        x_orig, y_a = x_0[index], y[index]
        r_tot = torch.zeros_like(x_orig)  # (A, N)
        x_i = x_orig
        for i in range(self.n_iter + 1):
            last = i == self.n_iter
            logits, f, w = linearise(model, x_i, y_a, candidates, x.shape[1:], need_grad=not last)
            fooled = logits.argmax(dim=1) != y_a  # (A,)
            smallest.offer(index, x_i, fooled)
            if last:
                break

            # Step to the nearest linearised boundary, from the images not yet fooled.
            assert w is not None
            w_norm = w.norm(dim=2).clamp_min(TINY)  # (A, L)
            nearest = (f.abs() / w_norm).argmin(dim=1, keepdim=True)  # (A, 1)
            f_l = f.gather(1, nearest)  # (A, 1)
            w_l = w.gather(1, nearest[:, :, None].expand(-1, 1, w.shape[2])).squeeze(1)
            r_i = w_l * ((f_l.abs() + 1e-4) / w_norm.gather(1, nearest).square())  # (A, N)
            r_tot = r_tot + r_i
            x_i = x_orig.add(r_tot, alpha=1.0 + self.overshoot).clamp_(0.0, 1.0)

            keep = (~fooled).nonzero().squeeze(1)  # one host synchronisation per step
            if keep.numel() == 0:
                break
            if keep.numel() < fooled.numel():
                index, candidates, x_orig, y_a = (
                    index[keep],
                    candidates[keep],
                    x_orig[keep],
                    y_a[keep],
                )
                r_tot, x_i = r_tot[keep], x_i[keep]
        logger.debug("%r: stopped after %d steps", self, i)
        return self._finish(model, x, smallest, y)
