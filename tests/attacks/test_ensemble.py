"""The minimal-norm ensemble: per image, never worse than any member."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlvgm.attacks import (
    APGD,
    FAB,
    Attack,
    AttackResult,
    CarliniWagnerL2,
    DeepFool,
    MinNormEnsemble,
)
from mlvgm.attacks.ensemble import combine
from mlvgm.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


def _members() -> list[Attack]:
    # Weak settings, so that members disagree on which images they fool.
    return [
        DeepFool(n_iter=2),
        FAB(n_iter=3),
        CarliniWagnerL2(steps=20, binary_search_steps=2, c_init=0.1, lr=0.1),
        APGD(0.5, n_iter=10),
    ]


def test_keeps_the_smallest_success_of_every_member(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:100], batch[1][:100]
    alone = [attack(model, x, y) for attack in _members()]
    together = MinNormEnsemble(_members())(model, x, y)

    successes = torch.stack([r.success for r in alone])  # (M, B)
    assert torch.equal(together.success, successes.any(dim=0))
    for result in alone:
        assert torch.all(together.l2[result.success] <= result.l2[result.success])
    # The members disagree, so the combination beats each of them somewhere.
    assert not torch.equal(successes[0], successes[1])
    for result in alone:
        assert (together.l2 < result.l2)[result.success].any() or (
            together.success & ~result.success
        ).any()


def test_outputs_are_images_and_l2_is_their_distance(model: nn.Module, batch: Batch) -> None:
    x, y = batch[0][:50], batch[1][:50]
    result = MinNormEnsemble(_members())(model, x, y)

    assert result.x_adv.shape == x.shape
    assert result.x_adv.min() >= 0.0
    assert result.x_adv.max() <= 1.0
    torch.testing.assert_close(result.l2, (result.x_adv - x).flatten(1).norm(dim=1))
    with torch.no_grad():
        fooled = model(result.x_adv).argmax(dim=1) != y
    assert torch.equal(result.success, fooled)


def test_combine_picks_per_image() -> None:
    x = torch.zeros(3, 1, 1, 1)
    first = AttackResult(
        x_adv=x + 0.1, success=torch.tensor([True, False, False]), l2=torch.tensor([0.1] * 3)
    )
    second = AttackResult(
        x_adv=x + 0.05, success=torch.tensor([True, True, False]), l2=torch.tensor([0.05] * 3)
    )
    result = combine([first, second])

    assert result.success.tolist() == [True, True, False]
    torch.testing.assert_close(result.l2, torch.tensor([0.05, 0.05, 0.1]))
    torch.testing.assert_close(result.x_adv.flatten(), torch.tensor([0.05, 0.05, 0.1]))


@pytest.mark.parametrize("attacks", [[], [DeepFool(), "fab"]])
def test_bad_members_raise_config_error(attacks: list[object]) -> None:
    with pytest.raises(ConfigError):
        MinNormEnsemble(attacks)  # type: ignore[arg-type]
