"""Linear approximations of a classifier's decision boundaries around a point.

DeepFool and FAB approximate the boundary between the true class ``y`` and
each candidate class ``l`` by the hyperplane where the first-order Taylor
expansion of ``f_l = z_l - z_y`` vanishes: ``f_l(x) + <w_l, z - x> = 0`` with
``w_l = grad f_l(x)``. All candidates' gradients come from one forward pass
(one backward pass each, the graph kept between them), so for a randomised
model they belong to the same random draw as the logits.
"""

from __future__ import annotations

import torch

from mlvgm.attacks.base import Model

# Floor on norms in denominators.
TINY = 1e-12


def other_classes(logits: torch.Tensor, y: torch.Tensor, n_candidates: int) -> torch.Tensor:
    """The ``n_candidates`` highest-scoring classes other than the label.

    Args:
        logits: (B, K) logits.
        y: (B,) labels.
        n_candidates: how many classes to keep, at most K - 1.

    Returns:
        (B, C) class indices, C = ``n_candidates``, by decreasing logit.
    """
    masked = logits.scatter(1, y[:, None], -torch.inf)  # (B, K)
    return masked.topk(n_candidates, dim=1).indices


def linearise(
    model: Model,
    x_flat: torch.Tensor,
    y: torch.Tensor,
    candidates: torch.Tensor,
    image_shape: torch.Size,
    need_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The logit differences to each candidate class and their gradients.

    Args:
        model: maps (A, C, H, W) images to (A, K) logits.
        x_flat: (A, N) flat images.
        y: (A,) labels.
        candidates: (A, L) the classes ``l`` whose boundary with ``y`` to linearise.
        image_shape: (C, H, W).
        need_grad: when False, one forward pass only and no gradients.

    Returns:
        ``(logits, f, w)``: (A, K) logits, (A, L) ``f_l = z_l - z_y`` and (A, L, N)
        their gradients ``w_l`` (``None`` when ``need_grad`` is False), all detached.
    """
    x_in = x_flat.view(-1, *image_shape).detach().requires_grad_(need_grad)
    with torch.enable_grad():
        logits = model(x_in)
        f = logits.gather(1, candidates) - logits.gather(1, y[:, None])  # (A, L)
        if not need_grad:
            return logits.detach(), f.detach(), None
        n_candidates = candidates.shape[1]
        grads = []
        for j in range(n_candidates):
            # Images are independent, so the gradient of the sum is each image's own.
            (grad,) = torch.autograd.grad(f[:, j].sum(), x_in, retain_graph=j < n_candidates - 1)
            grads.append(grad.flatten(1))  # (A, N)
    return logits.detach(), f.detach(), torch.stack(grads, dim=1)  # (A, L, N)
