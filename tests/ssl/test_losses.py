"""Tests of the self-supervised losses against explicit references."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from mlvgm.errors import ConfigError, InputError
from mlvgm.ssl import InfoNCE, NTXent, byol_loss, ema_update, nt_xent, simsiam_loss

PairLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _nt_xent_reference(z_a: torch.Tensor, z_b: torch.Tensor, tau: float) -> float:
    """SimCLR's eq. 1 written as loops over the 2N anchors."""
    z = [*z_a, *z_b]
    n = z_a.shape[0]

    def sim(u: torch.Tensor, v: torch.Tensor) -> float:
        return float(u @ v / (u.norm() * v.norm()))

    total = 0.0
    for k in range(2 * n):
        j = k + n if k < n else k - n
        denominator = sum(math.exp(sim(z[k], z[m]) / tau) for m in range(2 * n) if m != k)
        total += -math.log(math.exp(sim(z[k], z[j]) / tau) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_matches_loop_reference(tau: float) -> None:
    g = torch.Generator().manual_seed(0)
    z_a = torch.randn(6, 5, generator=g, dtype=torch.float64)
    z_b = torch.randn(6, 5, generator=g, dtype=torch.float64)
    expected = _nt_xent_reference(z_a, z_b, tau)
    assert float(nt_xent(z_a, z_b, tau)) == pytest.approx(expected, abs=1e-6)
    assert float(InfoNCE(tau)(z_a, z_b)) == pytest.approx(expected, abs=1e-6)


def test_nt_xent_is_lower_for_aligned_pairs() -> None:
    g = torch.Generator().manual_seed(1)
    z_a = torch.randn(16, 8, generator=g)
    aligned = nt_xent(z_a, z_a + 0.01 * torch.randn(16, 8, generator=g))
    random = nt_xent(z_a, torch.randn(16, 8, generator=g))
    assert aligned < random


def test_nt_xent_gradcheck() -> None:
    g = torch.Generator().manual_seed(2)
    z_a = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    z_b = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.5), (z_a, z_b))


@pytest.mark.parametrize(
    ("z_a", "z_b"),
    [
        (torch.randn(4, 3), torch.randn(4, 2)),
        (torch.randn(4, 3, 1), torch.randn(4, 3, 1)),
        (torch.randn(1, 3), torch.randn(1, 3)),
    ],
)
def test_nt_xent_rejects_bad_shapes(z_a: torch.Tensor, z_b: torch.Tensor) -> None:
    with pytest.raises(InputError):
        nt_xent(z_a, z_b)


@pytest.mark.parametrize("tau", [0.0, -1.0, float("inf")])
def test_nt_xent_rejects_bad_temperature(tau: float) -> None:
    with pytest.raises(ConfigError):
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), tau)
    with pytest.raises(ConfigError):
        NTXent(tau)


def test_simsiam_is_minus_one_for_identical_inputs() -> None:
    z = torch.randn(5, 7)
    assert float(simsiam_loss(z, z, z, z)) == pytest.approx(-1.0, abs=1e-6)


def test_byol_is_zero_for_identical_inputs() -> None:
    z = torch.randn(5, 7)
    assert float(byol_loss(z, z, z, z)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("loss", [simsiam_loss, byol_loss])
def test_no_gradient_flows_into_stop_gradient_branch(loss: PairLoss) -> None:
    p_a, s_b, p_b, s_a = (torch.randn(4, 6, requires_grad=True) for _ in range(4))
    loss(p_a, s_b, p_b, s_a).backward()
    assert p_a.grad is not None and p_a.grad.abs().sum() > 0
    assert p_b.grad is not None and p_b.grad.abs().sum() > 0
    assert s_a.grad is None and s_b.grad is None


@pytest.mark.parametrize("loss", [simsiam_loss, byol_loss])
def test_pair_losses_reject_bad_shapes(loss: PairLoss) -> None:
    good = torch.randn(4, 6)
    with pytest.raises(InputError):
        loss(good, torch.randn(4, 5), good, good)
    with pytest.raises(InputError):
        loss(torch.randn(4, 6, 1), good, good, good)


def test_ema_update_math() -> None:
    target, online = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, momentum=0.9)
    for xi, xi_old, theta in zip(target.parameters(), before, online.parameters(), strict=True):
        torch.testing.assert_close(xi, 0.9 * xi_old + 0.1 * theta)


def test_ema_update_with_momentum_one_keeps_target() -> None:
    target, online = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, momentum=1.0)
    for xi, xi_old in zip(target.parameters(), before, strict=True):
        torch.testing.assert_close(xi, xi_old)


def test_ema_update_rejects_bad_input() -> None:
    with pytest.raises(ConfigError):
        ema_update(nn.Linear(3, 2), nn.Linear(3, 2), momentum=1.5)
    with pytest.raises(InputError):
        ema_update(nn.Linear(3, 2), nn.Linear(3, 4))
