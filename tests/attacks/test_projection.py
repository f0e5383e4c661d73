"""Projection onto the L2 ball intersected with [0, 1]^n, against a bisection reference."""

from __future__ import annotations

import pytest
import torch

from mlvgm.attacks._projection import clip_l2_box, project_l2_box


def _reference(v: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """The projection by bisection on t in z = clip(x + t (v - x)), float64."""
    d = v - x
    lo = torch.zeros(len(x), 1, dtype=x.dtype)
    hi = torch.ones(len(x), 1, dtype=x.dtype)

    def norm(t: torch.Tensor) -> torch.Tensor:
        return (x + t * d).clamp(0.0, 1.0).sub(x).norm(dim=1, keepdim=True)

    inside = norm(hi) <= eps
    for _ in range(80):
        mid = (lo + hi) / 2
        feasible = norm(mid) <= eps
        lo = torch.where(feasible, mid, lo)
        hi = torch.where(feasible, hi, mid)
    t = torch.where(inside, 1.0, lo)
    return (x + t * d).clamp(0.0, 1.0)


def _points(scale: float, n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    # Centres with saturated pixels, as in images, and points around them.
    x = torch.rand(300, n, generator=generator, dtype=torch.float64)
    x = torch.where(x < 0.3, 0.0, torch.where(x > 0.8, 1.0, x))
    v = x + scale * torch.randn(300, n, generator=generator, dtype=torch.float64)
    return v, x


@pytest.mark.parametrize("eps", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("scale", [0.05, 0.3, 2.0])
def test_projection_matches_bisection(eps: float, scale: float) -> None:
    v, x = _points(scale)
    torch.testing.assert_close(project_l2_box(v, x, eps, n_steps=6), _reference(v, x, eps))


def test_default_steps_come_close_to_the_projection() -> None:
    v, x = _points(0.3)
    error = (project_l2_box(v, x, 1.0) - _reference(v, x, 1.0)).norm(dim=1)
    assert error.max() < 1e-3


@pytest.mark.parametrize("n_steps", [0, 1, 2, 3])
def test_projection_is_feasible_after_any_number_of_steps(n_steps: int) -> None:
    v, x = _points(1.0)
    z = project_l2_box(v.float(), x.float(), 0.5, n_steps=n_steps)

    assert z.min() >= 0.0
    assert z.max() <= 1.0
    assert torch.all((z - x.float()).norm(dim=1) <= 0.5 + 1e-5)


def test_projection_keeps_feasible_points() -> None:
    v, x = _points(0.01)
    z = project_l2_box(v.clamp(0.0, 1.0), x, 10.0)
    torch.testing.assert_close(z, v.clamp(0.0, 1.0))


def test_projection_is_nearest_among_feasible_points() -> None:
    v, x = _points(1.0)
    z = project_l2_box(v, x, 0.5)
    # Random feasible points are never nearer to v than its projection.
    generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        w = x + torch.randn(x.shape, generator=generator, dtype=x.dtype)
        w = clip_l2_box(w, x, 0.5 * torch.rand(1, generator=generator).item())
        assert torch.all((v - z).norm(dim=1) <= (v - w).norm(dim=1) + 1e-9)


def test_clip_is_feasible() -> None:
    v, x = _points(2.0)
    z = clip_l2_box(v, x, 0.5)

    assert z.min() >= 0.0
    assert z.max() <= 1.0
    assert torch.all((z - x).norm(dim=1) <= 0.5 + 1e-12)
