"""Projections onto an L2 ball or a hyperplane intersected with [0, 1]^n, against bisection."""

from __future__ import annotations

import pytest
import torch

from mlvgm.attacks._projection import clip_l2_box, project_hyperplane_box, project_l2_box


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


def _hyperplane_reference(p: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The projection by bisection on lambda in z = clip(p - lambda w), float64."""
    lo = torch.full((len(p), 1), -1e6, dtype=p.dtype)
    hi = -lo
    for _ in range(200):
        mid = (lo + hi) / 2
        above = (w * (p - mid * w).clamp(0.0, 1.0)).sum(dim=1, keepdim=True) > b[:, None]
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    return (p - (lo + hi) / 2 * w).clamp(0.0, 1.0)


def _hyperplanes(n: int, offset_scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    p, _ = _points(0.0, n)
    w = torch.randn(300, n, generator=generator, dtype=torch.float64)
    w[:, : n // 4] = 0.0  # coordinates the hyperplane does not constrain
    b = (w * p).sum(dim=1) + offset_scale * torch.randn(300, generator=generator, dtype=p.dtype)
    return p, w, b


@pytest.mark.parametrize("n", [8, 64, 784])
def test_hyperplane_projection_matches_bisection(n: int) -> None:
    p, w, b = _hyperplanes(n, 1.0)
    z = project_hyperplane_box(p, w, b)

    torch.testing.assert_close(z, _hyperplane_reference(p, w, b))
    # On the hyperplane where it meets the box, else on the nearest of <w, z>'s bounds.
    reach = b.clamp(w.clamp(max=0.0).sum(dim=1), w.clamp(min=0.0).sum(dim=1))
    torch.testing.assert_close((w * z).sum(dim=1), reach)
    assert (reach == b).float().mean() > 0.8
    assert z.min() >= 0.0
    assert z.max() <= 1.0
    torch.testing.assert_close(z[:, : n // 4], p[:, : n // 4])


def test_hyperplane_projection_is_nearest_on_the_hyperplane() -> None:
    p, w, b = _hyperplanes(16, 0.5)
    z = project_hyperplane_box(p, w, b)
    # Other box points on the hyperplane: move z within it along random directions.
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        u = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        u -= (u * w).sum(dim=1, keepdim=True) / w.square().sum(dim=1, keepdim=True) * w
        other = z + 0.05 * u
        inside = ((other >= 0) & (other <= 1)).all(dim=1)
        assert torch.all((z - p).norm(dim=1)[inside] <= (other - p).norm(dim=1)[inside] + 1e-9)


def test_hyperplane_missing_the_box_gives_the_nearest_corner() -> None:
    p = torch.tensor([[0.2, 0.5, 0.7], [0.2, 0.5, 0.7]], dtype=torch.float64)
    w = torch.tensor([[1.0, -2.0, 0.0], [1.0, -2.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([5.0, -5.0], dtype=torch.float64)  # <w, z> lies in [-2, 1] on the box
    z = project_hyperplane_box(p, w, b)

    expected = torch.tensor([[1.0, 0.0, 0.7], [0.0, 1.0, 0.7]], dtype=torch.float64)
    torch.testing.assert_close(z, expected)


def test_hyperplane_projection_keeps_float32_and_zero_normals() -> None:
    p, w, b = _hyperplanes(64, 1.0)
    w[0] = 0.0
    z = project_hyperplane_box(p.float(), w.float(), b.float())

    assert z.dtype == torch.float32
    torch.testing.assert_close(z[0], p[0].float())
    torch.testing.assert_close(z[1:], _hyperplane_reference(p, w, b)[1:].float())
