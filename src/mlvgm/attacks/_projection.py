"""Euclidean projection onto an L2 ball intersected with the unit box.

The feasible set of an L2 attack around a clean image ``x`` is
``S = {z : ||z - x||_2 <= eps} ∩ [0, 1]^n``. The KKT conditions of
``min ||z - v||^2 s.t. z in S`` give, per coordinate,
``z_i = clip(x_i + t d_i, 0, 1)`` with ``d = v - x`` and one ``t in (0, 1]``
per image (``t = 1 / (1 + lambda)``, ``lambda`` the ball's multiplier), the
largest ``t <= 1`` with ``g(t) = ||clip(x + t d) - x||^2 <= eps^2``.

``g`` is nondecreasing and piecewise quadratic: coordinate i saturates (stops
moving at the face of the box it moves towards, ``room_i`` away) once
``t |d_i| >= room_i``. Holding the saturated set U of the current ``t`` fixed,
``g_U(t') = sum_{i in U} room_i^2 + t'^2 sum_{i not in U} d_i^2`` bounds ``g``
from above for ``t' >= t``, so solving ``g_U(t') = eps^2`` gives a larger ``t'``
that is still feasible. Iterating from ``t = 0`` rises monotonically to the
exact ``t`` and stops there once U stops changing, which on image batches takes
three or four iterations. A fixed number of iterations keeps the batch free of
host synchronisation and every iterate inside S; no sort is needed, so the
cost is a few elementwise passes per iteration, batched over images.
"""

from __future__ import annotations

import torch

# Floor on denominators and norms.
_TINY = 1e-12


def project_l2_box(v: torch.Tensor, x: torch.Tensor, eps: float, n_steps: int = 5) -> torch.Tensor:
    """Project points onto the L2 ball of radius ``eps`` around ``x`` within [0, 1]^n.

    Args:
        v: (B, N) points to project.
        x: (B, N) ball centres, in [0, 1].
        eps: the ball's radius, positive.
        n_steps: fixed-point iterations on the saturated set (see the module
            docstring); the result is feasible after any number and exact once the
            set settles.

    Returns:
        (B, N) the point of ``{z : ||z - x|| <= eps} ∩ [0, 1]^N`` nearest to each
        row of ``v`` (up to the iterations' convergence).
    """
    d = v - x  # (B, N)
    d2 = d.square()
    room2 = torch.where(d > 0, 1.0 - x, x).square_()  # (B, N) squared room to the face
    weights = torch.stack((room2, d2), dim=2)  # (B, N, 2)
    total = d2.sum(dim=1, keepdim=True)  # (B, 1) = ||d||^2
    eps2 = eps * eps

    t2 = torch.zeros_like(total)  # (B, 1) t^2, from below
    for _ in range(n_steps):
        saturated = (d2 * t2 >= room2).to(d.dtype).unsqueeze(1)  # (B, 1, N)
        sums = torch.bmm(saturated, weights).squeeze(1)  # (B, 2): saturated room^2, d^2
        free = total - sums[:, 1:]  # (B, 1) sum of d_i^2 over the moving coordinates
        t2 = (eps2 - sums[:, :1]).clamp_min_(0.0).div_(free.clamp_min(_TINY)).clamp_max_(1.0)
    return x.addcmul(d, t2.sqrt_()).clamp_(0.0, 1.0)


def clip_l2_box(v: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Shrink points into the L2 ball around ``x``, then into [0, 1]^n.

    Not the Euclidean projection, but cheap and never leaves the feasible set
    (clipping to the box only brings a coordinate closer to ``x``, which is in
    the box); used as a final guard against rounding.

    Args:
        v: (B, N) points.
        x: (B, N) ball centres, in [0, 1].
        eps: the ball's radius, positive.

    Returns:
        (B, N) points with ``||z - x|| <= eps`` and entries in [0, 1].
    """
    d = v - x  # (B, N)
    norm = d.norm(dim=1, keepdim=True)  # (B, 1)
    scale = (eps / norm.clamp_min(_TINY)).clamp_max(1.0)
    return x.addcmul(d, scale).clamp_(0.0, 1.0)
