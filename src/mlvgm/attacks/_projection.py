"""Euclidean projection onto an L2 ball intersected with the unit box.

The feasible set of an L2 attack around a clean image ``x`` is
``S = {z : ||z - x||_2 <= eps} ∩ [0, 1]^n``. The KKT conditions of
``min ||z - v||^2 s.t. z in S`` give, per coordinate,
``z_i = clip(x_i + t d_i, 0, 1)`` with ``d = v - x`` and one ``t in [0, 1]``
per image (``t = 1 / (1 + lambda)``, ``lambda`` the ball's multiplier): the
largest ``t <= 1`` with ``g(t^2) = ||clip(x + t d) - x||^2 <= eps^2``.

In ``s = t^2``, ``g(s) = sum_i min(s d_i^2, room_i^2)`` (``room_i`` the distance
from ``x_i`` to the face of the box it moves towards) is nondecreasing,
concave and piecewise linear, with slope ``sum d_i^2`` over the coordinates
not yet clipped. Newton's method on ``g(s) = eps^2``, started below the root
at ``s = eps^2 / ||d||^2`` (as ``g(s) <= s ||d||^2``), never overshoots (a
tangent of a concave function lies above it): it rises monotonically and
reaches the root exactly once the set of clipped coordinates stops changing.
A fixed number of steps keeps the batch free of host synchronisation, and
every iterate is feasible, so stopping early only leaves the point slightly
short of the projection, inside S. On APGD's iterates over 8x8 digits three
steps are exact to 1e-6 of eps up to eps = 1 and within 2e-3 of eps at
eps = 3; four are exact there. The cost is a few elementwise passes per step.
"""

from __future__ import annotations

import torch

# Floor on denominators and norms.
_TINY = 1e-12


def project_l2_box(v: torch.Tensor, x: torch.Tensor, eps: float, n_steps: int = 3) -> torch.Tensor:
    """Project points onto the L2 ball of radius ``eps`` around ``x`` within [0, 1]^n.

    Args:
        v: (B, N) points to project.
        x: (B, N) ball centres, in [0, 1].
        eps: the ball's radius, positive.
        n_steps: Newton steps (see the module docstring); the result is feasible
            after any number and exact once the clipped set settles.

    Returns:
        (B, N) the point of ``{z : ||z - x|| <= eps} ∩ [0, 1]^N`` nearest to each
        row of ``v`` (up to the Newton steps' convergence).
    """
    d = v - x  # (B, N)
    d2 = d.square()
    eps2 = eps * eps

    # g(s) <= s ||d||^2, so this s = t^2 is feasible: the start from below.
    s = (eps2 / d2.sum(dim=1, keepdim=True).clamp_min_(_TINY)).clamp_max_(1.0)  # (B, 1)
    for _ in range(n_steps):
        u = x.addcmul(d, s.sqrt())  # (B, N) x + t d
        clipped = u.clamp(0.0, 1.0)
        slope = torch.where(clipped == u, d2, 0.0).sum(dim=1, keepdim=True)  # (B, 1)
        g = clipped.sub_(x).square_().sum(dim=1, keepdim=True)  # (B, 1)
        s = s.addcdiv_(eps2 - g, slope.clamp_min_(_TINY)).clamp_(0.0, 1.0)
    return x.addcmul(d, s.sqrt_()).clamp_(0.0, 1.0)


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
