"""Single-step L2 FGSM on a small CNN trained on 8x8 digits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import FGSM, make_attack
from mlvgm.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


@pytest.mark.parametrize("eps", [0.3, 1.0, 3.0])
def test_perturbation_stays_within_bound_and_box(
    model: nn.Module, batch: Batch, eps: float
) -> None:
    x, y = batch
    result = FGSM(eps)(model, x, y)

    assert result.x_adv.shape == x.shape and result.x_adv.dtype == x.dtype
    assert result.x_adv.min() >= 0.0 and result.x_adv.max() <= 1.0
    l2 = (result.x_adv - x).flatten(1).norm(dim=1)
    assert torch.all(l2 <= eps + 1e-5)
    torch.testing.assert_close(result.l2, l2)


def test_step_has_length_eps_where_the_box_does_not_cut_it(model: nn.Module, batch: Batch) -> None:
    x = batch[0].clamp(0.25, 0.75)  # far enough from the box for a short step
    result = FGSM(0.1)(model, x, batch[1])

    torch.testing.assert_close(result.l2, torch.full_like(result.l2, 0.1))


def test_step_follows_the_normalised_loss_gradient(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:5].clamp(0.25, 0.75), batch[1][:5]
    x_var = x.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x_var), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x_var)
    want = x + 0.1 * g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

    torch.testing.assert_close(FGSM(0.1)(model, x, y).x_adv, want)


def test_raises_the_success_rate(model: nn.Module, batch: Batch) -> None:
    x, y = batch
    with torch.no_grad():
        clean_error = (model(x).argmax(1) != y).float().mean()
    result = FGSM(1.5)(model, x, y)

    assert result.success.float().mean() > clean_error + 0.2
    with torch.no_grad():
        assert torch.equal(result.success, model(result.x_adv).argmax(1) != y)


def test_zero_gradient_leaves_the_image_unchanged(batch: Batch) -> None:
    x, y = batch[0][:4], batch[1][:4]

    def constant(images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(images.shape[0], 10) + 0.0 * images.sum()

    result = FGSM(1.0)(constant, x, y)
    torch.testing.assert_close(result.x_adv, x)
    assert torch.all(result.l2 == 0)


def test_registered_as_fgsm_l2(model: nn.Module, batch: Batch) -> None:
    attack = make_attack("fgsm-l2", 0.5)
    assert isinstance(attack, FGSM) and attack.eps == 0.5
    assert attack(model, *batch).l2.max() <= 0.5 + 1e-5


@pytest.mark.parametrize("eps", [None, 0.0, -1.0, float("inf")])
def test_needs_a_positive_bound(eps: float | None) -> None:
    with pytest.raises(ConfigError, match="eps"):
        FGSM(eps)  # type: ignore[arg-type]


def test_model_is_left_as_it_was(model: nn.Module, batch: Batch) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    FGSM(1.0)(model, *batch)

    assert model.training
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    model.eval()
